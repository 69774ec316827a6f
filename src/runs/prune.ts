import { orgKeys } from './keys.ts';
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
  // Deleted runs leave the index: the next page starts where the kept ones end.
  for (let offset = 0; ; ) {
    const ids = await store.runIdsCreatedBefore(cutoff, offset, PAGE);
    for (const runId of ids) {
      const meta = await store.getMeta(runId);
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
      await store.redis.hdel(org.stopped, runId);
      await store.redis.srem(org.active, runId);
      pruned.push({ runId, state: gone.state, orgKey: meta.orgKey, finishedAt, targets: gone.total });
    }
    if (ids.length < PAGE) break;
  }
  return { cutoff, pruned, kept, otherOrgs };
}
