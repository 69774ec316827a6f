import { orgKeys } from '../redis/keys.ts';
import { FINAL_RUN_STATES, type RunMeta, type RunState } from './run-meta.ts';
import type { RunStore } from './run-store.ts';

export interface PrunedRun {
  runId: string;
  state: RunState;
  /** Its org's key: the queue that may still hold its failed jobs. */
  orgKey: string;
  /** When it finished (ms); its creation for a run that never recorded one. */
  finishedAt: number;
  targets: number;
}

export interface PruneResult {
  cutoff: number;
  pruned: PrunedRun[];
  /** Runs created before the cutoff and left: not final (queued, loading, running), or finished after it. */
  kept: number;
  /** Runs of other orgs, left because the prune was for one org. */
  otherOrgs: number;
}

const PAGE = 200;

/** Final, and finished before the cutoff: the runs a prune takes. */
const prunable = (m: RunMeta, cutoff: number) => FINAL_RUN_STATES.includes(m.state) && (m.finishedAt ?? m.createdAt) < cutoff;

/**
 * Deletes the runs that became final before `cutoff` (ms): their targets, results and
 * counters, their entry in the runs index and in their org's stopped runs. A run is
 * created before it finishes, so only the index's runs created before the cutoff are read.
 * A run that is not final is never touched, whatever its age: a `queued` run still
 * loading may be hours old, and a worker may be on its way to it. With `orgKey`, the runs of
 * other orgs are left as they are.
 */
export async function pruneRuns(store: RunStore, opts: { cutoff: number; dryRun: boolean; orgKey?: string | null }): Promise<PruneResult> {
  const { cutoff } = opts;
  const pruned: PrunedRun[] = [];
  let kept = 0;
  let otherOrgs = 0;
  const seenOrgs = new Set<string>();
  // Deleted runs leave the index: the next page starts where the kept ones end.
  for (let offset = 0; ; ) {
    const ids = await store.runIdsCreatedBefore(cutoff, offset, PAGE);
    for (const runId of ids) {
      const meta = await store.getMeta(runId);
      if (meta) seenOrgs.add(meta.orgKey);
      if (!meta) {
        if (!opts.dryRun) await store.forgetIndexEntry(runId);
        else offset++;
        continue;
      }
      if (opts.orgKey && meta.orgKey !== opts.orgKey) {
        otherOrgs++;
        offset++;
        continue;
      }
      if (!prunable(meta, cutoff)) {
        kept++;
        offset++;
        continue;
      }
      const finishedAt = meta.finishedAt ?? meta.createdAt;
      if (opts.dryRun) {
        pruned.push({ runId, state: meta.state, orgKey: meta.orgKey, finishedAt, targets: (await store.getCounts(runId)).total });
        offset++;
        continue;
      }
      const gone = await store.deleteRun(runId, cutoff);
      if (!gone) {
        kept++; // made active again (retry) since it was read
        offset++;
        continue;
      }
      const org = orgKeys(meta.orgKey);
      // A stopped run's mark stays, as a tombstone: a worker may still hold one of its targets
      // in a wait (a 429's reset, a backoff, a frozen process), and the mark is all that stops
      // it from sending the request once the wait ends. The tombstone goes after a week.
      if ((await store.redis.hexists(org.stopped, runId)) === 1) await store.redis.hset(org.stopped, runId, tombstone(Date.now()));
      await store.redis.srem(org.active, runId);
      pruned.push({ runId, state: gone.state, orgKey: meta.orgKey, finishedAt, targets: gone.total });
    }
    if (ids.length < PAGE) break;
  }
  if (!opts.dryRun) await forgetOldTombstones(store, opts.orgKey ? [opts.orgKey] : [...seenOrgs]);
  return { cutoff, pruned, kept, otherOrgs };
}

/** How long a pruned run's stop mark outlives it. */
export const TOMBSTONE_MS = 7 * 24 * 3_600_000;
const TOMBSTONE = 'the run was deleted by runs prune at ';
export const tombstone = (at: number) => `${TOMBSTONE}${new Date(at).toISOString()}`;
/** When a stop mark says its run was pruned; null for any other mark. */
export const tombstoneAt = (reason: string | null): number | null => (reason?.startsWith(TOMBSTONE) ? Date.parse(reason.slice(TOMBSTONE.length)) : null);

/** Deletes the tombstones older than TOMBSTONE_MS in the orgs this prune covered (its org, or every org of the runs it read). */
async function forgetOldTombstones(store: RunStore, orgs: string[]): Promise<void> {
  for (const org of orgs) {
    const key = orgKeys(org).stopped;
    const marks = await store.redis.hgetall(key);
    const old = Object.entries(marks)
      .filter(([, reason]) => (tombstoneAt(reason) ?? Infinity) < Date.now() - TOMBSTONE_MS)
      .map(([runId]) => runId);
    if (old.length > 0) await store.redis.hdel(key, ...old);
  }
}
