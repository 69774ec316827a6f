import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import { launchRun, type LaunchDeps } from '../src/queue/launch-run.ts';
import { orgKeyOf } from '../src/queue/org.ts';
import { haltInterruptedLoading, KEPT_SCHEDULE_RUNS, registerScheduledRun } from '../src/queue/schedule-overlap.ts';
import { DEFAULT_OVERLAP, scheduledRunId, scheduledTime, type ScheduleData } from '../src/queue/schedules.ts';
import { orgKeys } from '../src/redis/keys.ts';
import { fillSince, oktaTime, sameScheduledQuery, usesSince } from '../src/sources/since.ts';
import type { RunMeta } from '../src/runs/run-meta.ts';
import type { SourceDescription, SourceItem } from '../src/sources/target.ts';
import { checkRowTargets, invalidRowsError, validateCsvFile } from '../src/sources/validate-csv.ts';

export { START_SCHEDULED_RUN, scheduledTime } from '../src/queue/schedules.ts';

export interface StartScheduledRunDeps {
  launch: LaunchDeps;
  /** The worker's GRANTSWEEP_RATE_SHARE, for schedules added without --rate-share. */
  defaultRateShare: number;
  /** How far before the last completed run `{{since}}` reaches back (GRANTSWEEP_SCHEDULE_OVERLAP_MS). */
  sinceOverlapMs: number;
  /** The runs a worker is loading now (Schedules.startingRunIds). */
  startingRunIds: () => Promise<Set<string>>;
  log: Logger;
}

export interface StartScheduledRunResult {
  runId: string;
  /** False when the run already existed (a redelivery of a job that had started it) or the time was skipped. */
  started: boolean;
  targets: number;
  /** The schedule's earlier run still going, for which this time was skipped (--overlap skip). */
  skippedWhile?: string;
}

/**
 * The source of a schedule's run at `at`, with `{{since}}` filled in: the scheduled time of
 * the schedule's last run that completed with no failed target (a halted or cancelled one is
 * asked for again, and so is one with failures: its users come back to be tried again, where
 * moving on would leave them to a `retry` nobody was prompted to run), less the overlap; for
 * its first, when the schedule was added. Only runs of what the schedule asks now count: one
 * replaced (`schedule add` under its name) with another query, target or dry-run flag starts
 * from when it was replaced.
 */
async function sourceAt(deps: StartScheduledRunDeps, d: ScheduleData, at: number, log: Logger): Promise<SourceDescription> {
  if (!usesSince(d.source)) return d.source;
  const { redis, store, orgUrl } = deps.launch;
  const key = orgKeys(orgKeyOf(orgUrl)).scheduleRuns(d.schedule);
  const earlier = await redis.zrevrangebyscore(key, `(${at}`, '-inf', 'WITHSCORES', 'LIMIT', 0, KEPT_SCHEDULE_RUNS);
  let from = d.addedAt ?? at;
  let after: string | null = null;
  for (let i = 0; i < earlier.length; i += 2) {
    const meta = await store.getMeta(earlier[i]!);
    if (meta?.state === 'completed' && asksTheSame(d, meta) && (await store.getCounts(earlier[i]!)).failed === 0) {
      from = Number(earlier[i + 1]);
      after = earlier[i]!;
      break;
    }
  }
  const since = from - deps.sinceOverlapMs;
  log.info({ since: oktaTime(since), after }, after ? `asks for what changed since ${oktaTime(since)} (run ${after} completed)` : `asks for what changed since ${oktaTime(since)} (no earlier run of the schedule completed without failures)`);
  return fillSince(d.source, since);
}

/** Whether an earlier run of the schedule did what it does now: its query (the time aside), target and dry-run flag. */
const asksTheSame = (d: ScheduleData, meta: RunMeta): boolean =>
  sameScheduledQuery(d.source, meta.source) && meta.dryRun === d.dryRun && meta.target.clientId === d.target.clientId && meta.target.scopeId === d.target.scopeId;

/** A source that fails at once: the run is stored halted with the reason (see launchRun). */
async function* failing(message: string): AsyncGenerator<SourceItem> {
  throw new Error(message);
}

/**
 * A schedule's job: starts an ordinary run of the schedule's flags, whose id carries
 * the schedule's name and time (`nightly-20261127T020000Z`); the org's workers then
 * process it like any other. The id makes the start idempotent: a redelivered job
 * finds its run and does nothing. A CSV that is gone or has invalid rows (without
 * --skip-invalid) still gives a run, halted, with the reason: where the operator looks.
 */
export function createStartScheduledRunProcessor(deps: StartScheduledRunDeps) {
  return async function startScheduledRun(job: Job<ScheduleData>): Promise<StartScheduledRunResult> {
    const d = job.data;
    const at = scheduledTime(job);
    const runId = scheduledRunId(d.schedule, at);
    const log = deps.log.child({ runId, schedule: d.schedule });
    const { redis, store, orgUrl } = deps.launch;
    const existing = await store.getMeta(runId);
    if (existing) {
      // A redelivery. If the worker that started the run died while storing its targets,
      // the run was never offered to the workers (nothing was revoked): say so, rather
      // than leave it queued for ever. The schedule's next time starts afresh.
      if (!existing.loaded && existing.state === 'queued') {
        await haltInterruptedLoading(store, runId, log);
      } else {
        log.info('scheduled run already started (a redelivered job)');
      }
      return { runId, started: false, targets: 0 };
    }
    const overlap = { redis, store, orgKey: orgKeyOf(orgUrl), startingRunIds: deps.startingRunIds, log };
    const going = await registerScheduledRun(overlap, d.schedule, runId, at, d.overlap ?? DEFAULT_OVERLAP);
    if (going) {
      // Two runs of one schedule would revoke the same targets twice, at twice the schedule's share.
      log.warn({ while: going }, `skipped: the schedule's run ${going} is still going, or came later (schedule add --overlap allow starts runs regardless)`);
      return { runId, started: false, targets: 0, skippedWhile: going };
    }
    const source = await sourceAt(deps, d, at, log);
    let items: AsyncIterable<SourceItem> | undefined;
    let csvDigest: string | undefined;
    if (d.source.kind === 'csv') {
      try {
        const v = await validateCsvFile(d.source.value);
        csvDigest = v.sha256;
        if (v.invalidTotal > 0 && !d.skipInvalid) items = failing(invalidRowsError(d.source.value, v).message);
        // The file may have changed since `schedule add` checked it: grant rows still cannot take --client/--scope.
        else checkRowTargets(d.source.value, v, d.target);
      } catch (err) {
        items = failing((err as Error).message);
      }
    }
    try {
      const result = await launchRun(deps.launch, {
        runId,
        source,
        target: d.target,
        dryRun: d.dryRun,
        snapshot: d.snapshot,
        tokens: d.tokens === true,
        reason: d.reason,
        rateShare: d.rateShare ?? deps.defaultRateShare,
        pacing: d.pacing ?? null,
        csvDigest,
        schedule: d.schedule,
      }, items);
      return { runId, started: true, targets: result.targets };
    } catch (err) {
      log.error({ err: (err as Error).message }, 'scheduled run could not start');
      throw err;
    }
  };
}
