import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { orgKeys } from '../redis/keys.ts';
import { shownState, type RunState } from '../runs/run-meta.ts';
import type { RunStore } from '../runs/run-store.ts';
import { withLock } from '../redis/lock.ts';
import type { Overlap } from './schedules.ts';

/** A schedule's latest runs kept (its `{{since}}` and its overlap check look no further back). */
export const KEPT_SCHEDULE_RUNS = 100;

/** Why a run found loading, whose start job no worker holds, is halted. */
export const INTERRUPTED_LOADING = 'loading was interrupted (the worker that started this scheduled run stopped); nothing was revoked';

export interface OverlapDeps {
  redis: Redis;
  store: RunStore;
  orgKey: string;
  /** The runs a worker is loading now (Schedules.startingRunIds). */
  startingRunIds: () => Promise<Set<string>>;
  log: Logger;
}

/**
 * The schedule's other run that holds this time back, or null: a later time's run (this
 * job came late, a redelivery after the later one started: the later run covers it), or an
 * earlier one still going (queued, loading or running). A run left loading by a worker that
 * died is halted here, as its own redelivery would: otherwise it would hold the schedule back
 * for ever.
 */
async function runHoldingBack(deps: OverlapDeps, schedule: string, at: number): Promise<string | null> {
  const key = orgKeys(deps.orgKey).scheduleRuns(schedule);
  const later = await deps.redis.zrangebyscore(key, `(${at}`, '+inf', 'LIMIT', 0, 1);
  if (later.length > 0) return later[0]!;
  // Its own entry (scored `at`: a redelivery) is neither later nor earlier.
  const earlier = await deps.redis.zrevrangebyscore(key, `(${at}`, '-inf', 'LIMIT', 0, KEPT_SCHEDULE_RUNS);
  let starting: Set<string> | null = null;
  const isStarting = async (id: string) => (starting ??= await deps.startingRunIds()).has(id);
  for (const id of earlier) {
    const meta = await deps.store.getMeta(id);
    // Registered but not stored yet: its worker is between the two, or died there (then nothing of it exists).
    if (!meta) {
      if (await isStarting(id)) return id;
      continue;
    }
    const state = shownState(meta);
    if (state === 'running' || state === 'queued') return id;
    if (state === 'loading') {
      if (await isStarting(id)) return id;
      await haltInterruptedLoading(deps.store, id, deps.log);
    }
  }
  return null;
}

/** A scheduled run whose loading worker stopped: never offered to the workers, nothing revoked. Halted with the reason. */
export async function haltInterruptedLoading(store: RunStore, runId: string, log: Logger): Promise<void> {
  await store.stopRun(runId, 'halted', INTERRUPTED_LOADING);
  log.warn({ runId }, 'scheduled run found half-loaded after a worker stopped: halted');
}

/**
 * Registers the schedule's run at `at` among its runs, unless (`overlap` skip) another holds
 * it back (runHoldingBack): then returns that one's id and registers nothing. Under the
 * schedule's lock, so that two workers starting two times of one schedule cannot both
 * find the other absent. The lock lives 30 s: the check reads at most 100 runs.
 */
export async function registerScheduledRun(deps: OverlapDeps, schedule: string, runId: string, at: number, overlap: Overlap): Promise<string | null> {
  const keys = orgKeys(deps.orgKey);
  const busy = () => new Error(`schedule ${schedule}: another worker holds its start lock; try again`);
  return withLock(deps.redis, keys.scheduleLock(schedule), { ttlMs: 30_000, waitMs: 45_000, busy }, async () => {
    const going = overlap === 'skip' ? await runHoldingBack(deps, schedule, at) : null;
    if (going) {
      await deps.redis.multi()
        .hincrby(keys.scheduleSkips(schedule), 'count', 1)
        .hset(keys.scheduleSkips(schedule), 'lastAt', String(at), 'while', going)
        .exec();
      return going;
    }
    await deps.redis.multi()
      .zadd(keys.scheduleRuns(schedule), at, runId)
      .zremrangebyrank(keys.scheduleRuns(schedule), 0, -KEPT_SCHEDULE_RUNS - 1)
      .exec();
    return null;
  });
}

/** What `schedule list` says a schedule last did. */
export interface ScheduleHistory {
  /** `failed`: its failed targets, once it completed (a schedule's `{{since}}` does not move past them). */
  last: { runId: string; at: number; state: RunState | 'loading' | 'pruned'; failed?: number } | null;
  /** Times skipped since the schedule was added, the last one's time, and the run it waited on. */
  skipped: { count: number; lastAt: number; while: string } | null;
}

export async function scheduleHistory(redis: Redis, store: RunStore, orgKey: string, schedule: string): Promise<ScheduleHistory> {
  const keys = orgKeys(orgKey);
  const [newest, skips] = await Promise.all([
    redis.zrevrange(keys.scheduleRuns(schedule), 0, 0, 'WITHSCORES'),
    redis.hgetall(keys.scheduleSkips(schedule)),
  ]);
  let last: ScheduleHistory['last'] = null;
  if (newest.length === 2) {
    const meta = await store.getMeta(newest[0]!);
    last = { runId: newest[0]!, at: Number(newest[1]), state: meta ? shownState(meta) : 'pruned' };
    if (meta?.state === 'completed') last.failed = (await store.getCounts(newest[0]!)).failed;
  }
  const skipped = skips.count ? { count: Number(skips.count), lastAt: Number(skips.lastAt), while: skips.while ?? '' } : null;
  return { last, skipped };
}

/** Forgets a removed schedule's skips (its runs' list stays: a schedule added again under the name reads its `{{since}}` from them). */
export async function forgetScheduleSkips(redis: Redis, orgKey: string, schedule: string): Promise<void> {
  await redis.del(orgKeys(orgKey).scheduleSkips(schedule));
}
