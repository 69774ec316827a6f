import { existsSync, statSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { EXIT, UsageError, type ExitCode } from '../../errors.ts';
import { orgKeyOf } from '../../queue/org.ts';
import { forgetScheduleSkips, scheduleHistory, type ScheduleHistory } from '../../queue/schedule-overlap.ts';
import { DEFAULT_OVERLAP, describeFlags, OVERLAPS, SCHEDULE_NAME, Schedules, type Overlap, type ScheduleData } from '../../queue/schedules.ts';
import { checkPlaceholders } from '../../sources/since.ts';
import { checkRowTargets, invalidRowsError, validateCsvFile } from '../../sources/validate-csv.ts';
import { openContext, type CliContext } from '../context.ts';
import { out, type CliIO } from '../io.ts';
import { parseSource, parseTarget, type RunFlags } from '../run-options.ts';

export interface ScheduleAddFlags extends RunFlags {
  cron?: string;
  tz?: string;
  overlap?: string;
  /** Hidden: every N ms instead of a cron pattern (tests). */
  every?: string;
}

function checkName(name: string): string {
  if (!SCHEDULE_NAME.test(name)) {
    throw new UsageError(`schedule name: expected [A-Za-z0-9_.-]{1,40} (it starts each run id), got ${JSON.stringify(name.slice(0, 60))}`);
  }
  return name;
}

async function withSchedules<T>(io: CliIO, flags: Record<string, unknown>, fn: (s: Schedules, ctx: CliContext) => Promise<T>): Promise<T> {
  const ctx = await openContext(io, flags, { okta: true });
  try {
    const schedules = ctx.resources.add('schedules', new Schedules(ctx.redis, orgKeyOf(ctx.config.orgUrl!)), (s) => s.close());
    return await fn(schedules, ctx);
  } finally {
    await ctx.resources.releaseAll();
  }
}

const when = (ms: number | null) => (ms ? new Date(ms).toISOString() : '-');

/**
 * `grantsweep schedule add NAME --cron EXPR [--tz ZONE] <source> [target] [options]`: the
 * org's workers start a run of these flags at each time of the pattern. Adding an existing
 * name replaces it.
 */
export async function scheduleAddCommand(io: CliIO, name: string, flags: ScheduleAddFlags): Promise<ExitCode> {
  checkName(name);
  const { cron: cronFlag, tz, every, overlap, ...runFlags } = flags;
  if (overlap !== undefined && !(OVERLAPS as readonly string[]).includes(overlap)) {
    throw new UsageError(`--overlap: expected ${OVERLAPS.join(' or ')}, got ${JSON.stringify(overlap)}`);
  }
  // A pattern pasted with a line break is the pattern: the break would be stored and shown.
  const cron = cronFlag?.trim();
  for (const f of ['runId', 'concurrency'] as const) {
    if (runFlags[f] !== undefined) {
      throw new UsageError(f === 'runId'
        ? '--run-id: a scheduled run is named after its schedule and time (NAME-YYYYMMDDTHHMMSSZ)'
        : '--concurrency: set it on the workers (grantsweep worker --concurrency N)');
    }
  }
  if (cron !== undefined && every !== undefined) throw new UsageError('--cron and --every: give one of them');
  if (cron === undefined && every === undefined) throw new UsageError('--cron EXPR is required (e.g. --cron "0 2 * * *" for 02:00 every day)');
  let everyMs: number | null = null;
  if (every !== undefined) {
    everyMs = Number(every);
    if (!Number.isInteger(everyMs) || everyMs < 1_000) throw new UsageError(`--every: expected milliseconds >= 1000, got ${JSON.stringify(every)}`);
    if (tz !== undefined) throw new UsageError('--tz applies to --cron only');
  }
  if (cron !== undefined && cron.trim().split(/\s+/).length < 5) {
    throw new UsageError(`--cron: expected 5 fields (minute hour day month weekday) or 6 (with seconds first), got ${JSON.stringify(cron)}`);
  }
  if (tz !== undefined) {
    try {
      new Intl.DateTimeFormat('en', { timeZone: tz });
    } catch {
      throw new UsageError(`--tz: not an IANA time zone: ${JSON.stringify(tz)} (e.g. Europe/Berlin, America/New_York, UTC)`);
    }
  }
  const source = parseSource(runFlags);
  checkPlaceholders(source, true);
  const target = parseTarget(runFlags);
  // Every run of a schedule would take the same earlier run's targets: one `run --from-run` is that.
  if (source.kind === 'run') throw new UsageError('--from-run: a schedule needs a source that changes (a CSV file or a directory query); run it once instead');
  if (source.kind === 'csv') {
    // The run starts later, in a worker whose working directory is not this one.
    if (!isAbsolute(source.value)) throw new UsageError(`--csv: a schedule needs an absolute path (the worker reads it later), got ${JSON.stringify(source.value)}`);
    if (!existsSync(source.value) || !statSync(source.value).isFile()) throw new UsageError(`--csv: no such file: ${source.value}`);
    const v = await validateCsvFile(source.value);
    if (v.invalid.length > 0 && !runFlags.skipInvalid) throw invalidRowsError(source.value, v);
    checkRowTargets(source.value, v, target);
  }
  return withSchedules(io, { rateShare: runFlags.rateShare, pacing: runFlags.pacing }, async (schedules, ctx) => {
    const data: ScheduleData = {
      schedule: name,
      source,
      target,
      dryRun: !!runFlags.dryRun,
      snapshot: !!runFlags.snapshot,
      tokens: !!runFlags.tokens,
      reason: runFlags.reason ?? null,
      rateShare: runFlags.rateShare !== undefined ? ctx.config.rateShare : null,
      pacing: runFlags.pacing !== undefined ? ctx.config.pacing : null,
      skipInvalid: !!runFlags.skipInvalid,
      addedAt: Date.now(),
      overlap: (overlap as Overlap | undefined) ?? DEFAULT_OVERLAP,
    };
    const pattern = cron !== undefined ? `--cron "${cron}" --tz ${tz ?? 'UTC'}` : `every ${everyMs} ms`;
    if (!data.dryRun && !runFlags.yes && io.stdinIsTTY && io.stderr.isTTY) {
      if (!(await io.confirm(`Schedule "${name}" (${pattern}) to revoke for ${describeFlags(data)} in ${ctx.config.orgUrl}? [y/N] `))) {
        throw new UsageError('not confirmed: nothing was scheduled');
      }
    }
    let result;
    try {
      // Without --tz a pattern means UTC, not the local zone of whichever worker reads it.
      result = await schedules.upsert(name, everyMs !== null ? { every: everyMs } : { cron: cron!, tz: tz ?? 'UTC' }, data);
    } catch (e) {
      if (e instanceof UsageError) throw e;
      throw new UsageError(`--cron ${JSON.stringify(cron)}: ${(e as Error).message}`);
    }
    ctx.log.info({ schedule: name, cron, tz, every: everyMs ?? undefined }, result.replaced ? 'schedule replaced' : 'schedule added');
    await out(io, `schedule ${name} ${result.replaced ? 'replaced' : 'added'}: ${pattern}, next run ${when(result.next)}: ${describeFlags(data)}\n`);
    return EXIT.ok;
  });
}

/** What the schedule's last time did: its run and the run's state, and the times skipped after it. */
function lastText(h: ScheduleHistory): string {
  const parts: string[] = [];
  if (h.last) parts.push(`${h.last.runId} ${h.last.state}${h.last.failed ? ` (${h.last.failed} failed)` : ''}`);
  if (h.skipped && (!h.last || h.skipped.lastAt > h.last.at)) {
    parts.push(`skipped ${when(h.skipped.lastAt)} (${h.skipped.while} still going; ${h.skipped.count} in all)`);
  }
  return parts.length ? parts.join('; ') : '-';
}

/** `grantsweep schedule list`: the org's schedules, with their next time, flags and last run. */
export async function scheduleListCommand(io: CliIO, flags: { json?: boolean }): Promise<ExitCode> {
  return withSchedules(io, {}, async (schedules, ctx) => {
    const list = await schedules.list();
    const orgKey = orgKeyOf(ctx.config.orgUrl!);
    const history = await Promise.all(list.map((s) => scheduleHistory(ctx.redis, ctx.store, orgKey, s.name)));
    if (flags.json) {
      const rows = list.map((s, i) => {
        const h = history[i]!;
        return {
          name: s.name, cron: s.cron, every: s.every, tz: s.tz, next: s.next ? new Date(s.next).toISOString() : null, run: s.data,
          last: h.last ? { runId: h.last.runId, at: new Date(h.last.at).toISOString(), state: h.last.state, ...(h.last.failed !== undefined ? { failed: h.last.failed } : {}) } : null,
          skipped: h.skipped ? { count: h.skipped.count, lastAt: new Date(h.skipped.lastAt).toISOString(), while: h.skipped.while } : null,
        };
      });
      await out(io, `${JSON.stringify(rows, null, 2)}\n`);
      return EXIT.ok;
    }
    if (list.length === 0) {
      await out(io, 'no schedules (add one: grantsweep schedule add NAME --cron EXPR <source> ...)\n');
      return EXIT.ok;
    }
    const rows = list.map((s, i) => [
      s.name,
      s.cron ?? `every ${s.every} ms`,
      s.tz ?? 'UTC',
      when(s.next),
      lastText(history[i]!),
      s.data ? describeFlags(s.data) : '?',
    ]);
    const head = ['NAME', 'SCHEDULE', 'TZ', 'NEXT', 'LAST', 'RUN'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
    await out(io, `${[head, ...rows].map(line).join('\n')}\n`);
    return EXIT.ok;
  });
}

/** `grantsweep schedule remove NAME`: no run starts from it after this returns. Runs it started are kept. */
export async function scheduleRemoveCommand(io: CliIO, name: string): Promise<ExitCode> {
  checkName(name);
  return withSchedules(io, {}, async (schedules, ctx) => {
    if (!(await schedules.remove(name))) throw new UsageError(`schedule ${name}: no such schedule (see \`grantsweep schedule list\`)`);
    await forgetScheduleSkips(ctx.redis, orgKeyOf(ctx.config.orgUrl!), name);
    ctx.log.info({ schedule: name }, 'schedule removed');
    await out(io, `schedule ${name} removed\n`);
    return EXIT.ok;
  });
}
