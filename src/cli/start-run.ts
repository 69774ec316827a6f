import { relative } from 'node:path';
import { UsageError } from '../errors.ts';
import { OktaClient } from '../okta/client.ts';
import { SharedBudget } from '../queue/budget.ts';
import { orgKeyOf } from '../queue/org.ts';
import { enqueueRun, type EnqueueResult } from '../queue/producer.ts';
import { readCsvTargets } from '../sources/csv-source.ts';
import { readDirectoryTargets, requiredScopes } from '../sources/directory-source.ts';
import { invalidRowsError, validateCsvFile } from '../sources/validate-csv.ts';
import type { SourceItem } from '../sources/target.ts';
import { authFrom, openContext, type CliContext } from './context.ts';
import { err } from './io.ts';
import type { CliIO } from './io.ts';
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
  const target = parseTarget(flags);
  const runId = flags.runId !== undefined ? checkRunId(flags.runId) : newRunId(extra.schedule ?? 'run');

  let csvTargets: number | null = null;
  if (source.kind === 'csv') {
    const v = await validateCsvFile(source.value);
    if (v.invalid.length > 0 && !flags.skipInvalid) throw invalidRowsError(source.value, v);
    csvTargets = v.targets;
  }

  const ctx = await openContext(io, { ...flags, runId }, { okta: true, credentials: true });
  try {
    const { config } = ctx;
    if (!flags.dryRun && !flags.yes && io.stdinIsTTY && io.stderr.isTTY) {
      const what = target.clientId ? `client ${target.clientId}'s grants` : target.scopeId ? `scope ${target.scopeId} grants` : 'all grants';
      const who = csvTargets !== null ? `${csvTargets} targets from ${relative(process.cwd(), source.value)}` : `the users of --${source.kind} ${source.value}`;
      if (!(await io.confirm(`Revoke ${what} of ${who} in ${config.orgUrl}? [y/N] `))) {
        throw new UsageError('not confirmed: nothing was enqueued');
      }
    }
    const scopes = ['okta.users.read', 'okta.users.manage', ...requiredScopes(source).filter((s) => s !== 'okta.users.read')];
    let items: AsyncIterable<SourceItem>;
    let lister: OktaClient | null = null;
    if (source.kind === 'csv') {
      items = readCsvTargets(source.value);
    } else {
      const budget = new SharedBudget(ctx.redis, {
        orgKey: orgKeyOf(config.orgUrl!),
        maxInFlight: config.maxInFlight,
        leaseMs: config.requestTimeoutMs + 5_000,
        windowMs: config.rateWindowMs,
      });
      budget.setShare(runId, config.rateShare);
      lister = new OktaClient({
        orgUrl: config.orgUrl!,
        auth: authFrom(config, scopes),
        timeoutMs: config.requestTimeoutMs,
        gate: budget,
        readAttempts: config.attempts + config.maxRateLimitDeferrals,
      });
      items = readDirectoryTargets(lister, source, { runId });
    }
    try {
      const result = await enqueueRun(ctx.redis, ctx.store, {
        runId,
        orgUrl: config.orgUrl!,
        source,
        target,
        dryRun: !!flags.dryRun,
        snapshot: !!flags.snapshot,
        reason: flags.reason ?? null,
        rateShare: config.rateShare,
        attempts: config.attempts,
        maxRateLimitDeferrals: config.maxRateLimitDeferrals,
        schedule: extra.schedule ?? null,
      }, items);
      if (result.duplicates > 0) err(io, `${result.duplicates} duplicate rows were merged into one target each\n`);
      if (result.invalid > 0) err(io, `${result.invalid} invalid rows are reported as invalid (--skip-invalid)\n`);
      ctx.log.info({ runId, targets: result.targets, source: source.kind, dryRun: !!flags.dryRun }, 'run enqueued');
      return { ctx, result, scopes };
    } finally {
      await lister?.close();
    }
  } catch (e) {
    await ctx.resources.releaseAll();
    throw e;
  }
}
