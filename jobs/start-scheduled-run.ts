import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import { launchRun, type LaunchDeps } from '../src/queue/launch-run.ts';
import { orgKeyOf } from '../src/queue/org.ts';
import { scheduledRunId, type ScheduleData } from '../src/queue/schedules.ts';
import { orgKeys } from '../src/runs/keys.ts';
import { fillSince, oktaTime, usesSince } from '../src/sources/since.ts';
import type { SourceDescription, SourceItem } from '../src/sources/target.ts';
import { checkGrantRows, invalidRowsError, validateCsvFile } from '../src/sources/validate-csv.ts';

export { START_SCHEDULED_RUN } from '../src/queue/schedules.ts';

export interface StartScheduledRunDeps {
  launch: LaunchDeps;
  /** The worker's GRANTSWEEP_RATE_SHARE, for schedules added without --rate-share. */
  defaultRateShare: number;
  /** How far before the last completed run `{{since}}` reaches back (GRANTSWEEP_SCHEDULE_OVERLAP_MS). */
  sinceOverlapMs: number;
  log: Logger;
}

export interface StartScheduledRunResult {
  runId: string;
  /** False when the run already existed: a redelivery of a job that had started it. */
  started: boolean;
  targets: number;
}

/** The time the scheduler meant the job for (not when a worker picked it up). */
export function scheduledTime(job: Pick<Job, 'opts' | 'id' | 'timestamp' | 'delay'>): number {
  if (job.opts.prevMillis) return job.opts.prevMillis;
  const fromId = Number(/:(\d+)$/.exec(job.id ?? '')?.[1]);
  return Number.isFinite(fromId) && fromId > 0 ? fromId : job.timestamp + (job.delay ?? 0);
}

/** A schedule's latest runs kept for `{{since}}`; earlier ones than these are not looked at. */
const KEPT_RUNS = 100;

/**
 * The source of a schedule's run at `at`, with `{{since}}` filled in: the scheduled time of
 * the schedule's last run that completed (a halted or cancelled one is asked for again),
 * less the overlap; for its first, when the schedule was added. The run is remembered for
 * the next one.
 */
async function sourceAt(deps: StartScheduledRunDeps, d: ScheduleData, runId: string, at: number, log: Logger): Promise<SourceDescription> {
  if (!usesSince(d.source)) return d.source;
  const { redis, store, orgUrl } = deps.launch;
  const key = orgKeys(orgKeyOf(orgUrl)).scheduleRuns(d.schedule);
  const earlier = await redis.zrevrangebyscore(key, `(${at}`, '-inf', 'WITHSCORES', 'LIMIT', 0, KEPT_RUNS);
  let from = d.addedAt ?? at;
  let after: string | null = null;
  for (let i = 0; i < earlier.length; i += 2) {
    if ((await store.getMeta(earlier[i]!))?.state === 'completed') {
      from = Number(earlier[i + 1]);
      after = earlier[i]!;
      break;
    }
  }
  await redis.zadd(key, at, runId);
  await redis.zremrangebyrank(key, 0, -KEPT_RUNS - 1);
  const since = from - deps.sinceOverlapMs;
  log.info({ since: oktaTime(since), after }, after ? `asks for what changed since ${oktaTime(since)} (run ${after} completed)` : `asks for what changed since ${oktaTime(since)} (the schedule's first completed run)`);
  return fillSince(d.source, since);
}

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
    const runId = scheduledRunId(d.schedule, scheduledTime(job));
    const log = deps.log.child({ runId, schedule: d.schedule });
    const existing = await deps.launch.store.getMeta(runId);
    if (existing) {
      // A redelivery. If the worker that started the run died while storing its targets,
      // the run was never offered to the workers (nothing was revoked): say so, rather
      // than leave it queued for ever. The schedule's next time starts afresh.
      if (!existing.loaded && existing.state === 'queued') {
        await deps.launch.store.stopRun(runId, 'halted', 'loading was interrupted (the worker that started this scheduled run stopped); nothing was revoked');
        log.warn('scheduled run found half-loaded after a worker stopped: halted');
      } else {
        log.info('scheduled run already started (a redelivered job)');
      }
      return { runId, started: false, targets: 0 };
    }
    const source = await sourceAt(deps, d, runId, scheduledTime(job), log);
    let items: AsyncIterable<SourceItem> | undefined;
    let csvDigest: string | undefined;
    if (d.source.kind === 'csv') {
      try {
        const v = await validateCsvFile(d.source.value);
        csvDigest = v.sha256;
        if (v.invalidTotal > 0 && !d.skipInvalid) items = failing(invalidRowsError(d.source.value, v).message);
        // The file may have changed since `schedule add` checked it: grant rows still cannot take --client/--scope.
        else checkGrantRows(d.source.value, v, d.target);
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
