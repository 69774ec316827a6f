import { relative } from 'node:path';
import { UsageError } from '../errors.ts';
import { launchRun, scopesFor, type LaunchDeps } from '../queue/launch-run.ts';
import type { EnqueueResult } from '../queue/producer.ts';
import { checkSourceRun } from '../sources/run-source.ts';
import { checkRowTargets, invalidRowsError, validateCsvFile } from '../sources/validate-csv.ts';
import { authFrom, openContext, type CliContext } from './context.ts';
import { giveUpOnOutage, onSignals, RUN_OUTAGE_MS } from './stopping.ts';
import { err } from './io.ts';
import type { CliIO } from './io.ts';
import { checkPlaceholders } from '../sources/since.ts';
import { checkRunId, newRunId, parseSource, parseTarget, type RunFlags } from './run-options.ts';

export interface StartedRun {
  ctx: CliContext;
  result: EnqueueResult;
  scopes: string[];
}

/**
 * Everything `run` and `enqueue` share: check the flags and the whole input before
 * anything is opened or enqueued, confirm on a terminal, then store the run.
 */
export async function startRun(io: CliIO, flags: RunFlags, extra: { schedule?: string } = {}): Promise<StartedRun> {
  const source = parseSource(flags);
  checkPlaceholders(source, false);
  let target = parseTarget(flags);
  let tokens = !!flags.tokens;
  const runId = flags.runId !== undefined ? checkRunId(flags.runId) : newRunId(extra.schedule ?? 'run');

  let csvTargets: number | null = null;
  let csvDigest: string | undefined;
  if (source.kind === 'csv') {
    const v = await validateCsvFile(source.value);
    if (v.invalid.length > 0 && !flags.skipInvalid) throw invalidRowsError(source.value, v);
    checkRowTargets(source.value, v, target);
    csvTargets = v.targets;
    csvDigest = v.sha256;
  }

  const ctx = await openContext(io, { ...flags, runId }, { okta: true, credentials: true });
  try {
    const { config } = ctx;
    let fromRun: number | null = null;
    if (source.kind === 'run') {
      const earlier = await checkSourceRun(ctx.store, source.value, config.orgUrl!, source.results ?? []);
      // What the earlier run revoked, the new one revokes: its client or scope, and its tokens.
      target = earlier.meta.target;
      tokens ||= earlier.meta.tokens;
      if (tokens && target.scopeId !== null) throw new UsageError(`--tokens: run ${source.value} revoked grants of scope ${target.scopeId}; refresh tokens are revoked per client`);
      fromRun = earlier.targets;
    }
    if (!flags.dryRun && !flags.yes && io.stdinIsTTY && io.stderr.isTTY) {
      const what = target.clientId ? `client ${target.clientId}'s grants` : target.scopeId ? `scope ${target.scopeId} grants` : 'all grants';
      const who =
        csvTargets !== null ? `${csvTargets} targets from ${relative(process.cwd(), source.value)}`
        : fromRun !== null ? `${fromRun} targets of run ${source.value} (${source.results!.join(', ')})`
        : `the users of --${source.kind} ${source.value}`;
      if (!(await io.confirm(`Revoke ${what} of ${who} in ${config.orgUrl}? [y/N] `))) {
        throw new UsageError('not confirmed: nothing was enqueued');
      }
    }
    const scopes = scopesFor(source);
    // Ctrl-C while the targets are stored stops the loading: the run is kept, halted, with nothing revoked.
    const interrupted = new AbortController();
    const off = onSignals(
      () => {
        err(io, 'stopping: the loading stops; the run is kept, halted, and nothing of it is revoked (again to stop at once)\n');
        interrupted.abort('Ctrl-C or SIGTERM');
      },
      () => {},
    );
    const outage = giveUpOnOutage(ctx, null, RUN_OUTAGE_MS, (why) =>
      `${why} while storing the targets of run ${runId}: nothing of it was revoked, and it will not start (\`grantsweep status ${runId}\` once Redis is back)`,
    );
    const launched = launchRun(launchDepsFrom(ctx), {
      runId,
      source,
      target,
      dryRun: !!flags.dryRun,
      snapshot: !!flags.snapshot,
      tokens,
      reason: flags.reason ?? null,
      rateShare: config.rateShare,
      schedule: extra.schedule ?? null,
      csvDigest,
    }, undefined, interrupted.signal);
    // A launch cut short by the give-up rejects too: nothing may be left unhandled.
    launched.catch(() => {});
    const result = await Promise.race([launched, outage.gaveUp]).finally(() => {
      off();
      outage.off();
    });
    if (result.duplicates > 0) err(io, `${result.duplicates} duplicate rows were merged into one target each\n`);
    if (result.invalid > 0) err(io, `${result.invalid} invalid rows are reported as invalid (--skip-invalid)\n`);
    // Nothing revoked is right, but a query that matched no one is most often a mistyped one: say so.
    if (result.targets === 0 && ['search', 'filter', 'group', 'app'].includes(source.kind)) {
      const hint = source.kind === 'search' || source.kind === 'filter' ? " (Okta compares values exactly: status eq \"ACTIVE\", not \"active\")" : '';
      err(io, `warning: --${source.kind} ${JSON.stringify(source.value)} matched no users: nothing to revoke${hint}\n`);
    }
    return { ctx, result, scopes };
  } catch (e) {
    await ctx.resources.releaseAll();
    throw e;
  }
}

/** What launchRun needs, from a command's context (credentials required when it was opened). */
export function launchDepsFrom(ctx: CliContext): LaunchDeps {
  const { config } = ctx;
  return {
    redis: ctx.redis,
    store: ctx.store,
    log: ctx.log,
    orgUrl: config.orgUrl!,
    auth: (scopes) => authFrom(config, scopes),
    requestTimeoutMs: config.requestTimeoutMs,
    proxy: config.proxy,
    maxInFlight: config.maxInFlight,
    rateWindowMs: config.rateWindowMs,
    attempts: config.attempts,
    maxRateLimitDeferrals: config.maxRateLimitDeferrals,
    pacing: config.pacing,
  };
}
