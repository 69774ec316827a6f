import type { Redis } from 'ioredis';
import { UsageError } from '../errors.ts';
import type { Pacing } from '../../config/schema.ts';
import { orgKeys } from '../redis/keys.ts';
import type { RunMeta, RunState } from '../runs/run-meta.ts';
import { noSuchRun, type RunStore } from '../runs/run-store.ts';
import { controlBudget } from './budget.ts';

/**
 * What `grantsweep retry` / `cancel` and the dashboard's buttons do to a run, without
 * the CLI around it: one implementation, so a button cannot drift from the command.
 * Both throw UsageError for an unknown run (the CLI exits 2, the dashboard answers 404).
 */


export interface RetryResult {
  meta: RunMeta;
  /** Targets put back on the run. */
  requeued: number;
  /** The run had been halted or cancelled, and runs again (its pending targets are fed again too). */
  resumed: boolean;
  /**
   * Targets the run has to go after the retry: the requeued, and those of a resumed run never fed
   * yet (fed in their turn, not put back). What an operator reads as "left".
   */
  pending: number;
}

/**
 * What a retry did, for a person: a resumed run's pending targets are all still to go, not
 * only those put back at the head of its queue (3,593 requeued read as "3,593 left" of 15,221).
 */
export function retrySaid(runId: string, r: Pick<RetryResult, 'requeued' | 'resumed' | 'pending'>): string {
  return r.resumed
    ? `${runId} resumed: ${r.pending} targets to go (${r.requeued} of them put back at the head of its queue)`
    : `${r.requeued} targets of ${runId} requeued`;
}

/**
 * Puts the failed targets of a run back (and, for a halted or cancelled run, the ones it
 * left pending) and offers the run to the org's workers again. Processing is theirs.
 */
export async function retryFailed(redis: Redis, store: RunStore, runId: string): Promise<RetryResult> {
  // The state and the org's stopped mark change together, under the run's control lock: a
  // `cancel` that comes meanwhile goes before or after, never between (it would report the run
  // cancelled while the retry took its mark away).
  const { meta, resumed } = await store.withControlLock(runId, async () => {
    const meta = await store.requireMeta(runId);
    // Its source was not stored whole: feeding what was stored would revoke part of it.
    if (!meta.loaded) {
      const why = meta.state === 'queued' ? 'it is still loading, or the command that started it was stopped while loading' : meta.stateReason ?? meta.state;
      throw new UsageError(`run ${runId} was never completely loaded (${why}): nothing of it was revoked, and a retry would revoke only part of its source. Start it again as a new run`);
    }
    // The state first: a run marked stopped in the org while its state says running sends nothing.
    const resumed = await store.resume(runId);
    if (resumed) {
      await controlBudget(redis, meta.orgKey).clearStopMark(runId);
      // Offered to the feeders at once, before the long requeue: a retry killed during it leaves a
      // run that runs (what was fed and is unheld is swept as orphans), not one marked running that
      // no feeder reads. (A kill between these three quick steps needs the retry run again.)
      await redis.sadd(orgKeys(meta.orgKey).active, runId);
    }
    return { meta, resumed };
  });
  // Outside the lock (a million targets take a while): a stop from now on wins, as the
  // requeue leaves a halted or cancelled run stopped.
  const requeued = await store.requeue(runId, resumed);
  // A completed run put back to running by the requeue: offered now (a feeder would have dropped it as final before).
  await redis.sadd(orgKeys(meta.orgKey).active, runId);
  return { meta, requeued, resumed, pending: (await store.getCounts(runId)).pending };
}

export interface CancelResult {
  /** The state after the call; `completed` when the run had already completed (nothing to cancel). */
  state: RunState | null;
  alreadyCompleted: boolean;
}

/** Once this returns, no process makes a new Okta request for the run. */
export async function cancelRun(redis: Redis, store: RunStore, runId: string, reason: string): Promise<CancelResult> {
  return store.withControlLock(runId, async () => {
    const meta = await store.requireMeta(runId);
    if (meta.state === 'completed') return { state: 'completed', alreadyCompleted: true };
    // The budget refuses the run's requests first; then the run is marked.
    await controlBudget(redis, meta.orgKey).markStopped(runId, 'cancelled');
    const { state } = await store.stopRun(runId, 'cancelled', reason);
    return { state, alreadyCompleted: false };
  });
}

export interface PaceResult {
  state: RunState;
  before: { rateShare: number; pacing: Pacing };
  after: { rateShare: number; pacing: Pacing };
}

/**
 * Changes a run's rate share or pacing while it runs (an incident run that starves another
 * integration, or one that may go faster at night). Every worker takes it up within about a
 * second of its next response (WorkerHost refreshes the run's metadata as it goes); slots
 * already reserved keep their time. A halted or cancelled run keeps it for its `retry`. A
 * completed run has nothing left to pace: UsageError, as for an unknown run.
 */
export async function paceRun(store: RunStore, runId: string, change: { rateShare?: number; pacing?: Pacing }): Promise<PaceResult> {
  const r = await store.setPace(runId, change);
  if (!r) throw noSuchRun(runId);
  if (r.state === 'completed') throw new UsageError(`run ${runId} has completed: there is nothing left to pace`);
  const before = { rateShare: r.rateShare, pacing: r.pacing };
  return { state: r.state, before, after: { rateShare: change.rateShare ?? before.rateShare, pacing: change.pacing ?? before.pacing } };
}

