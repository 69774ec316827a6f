import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { queuePrefix, runKeys } from '../redis/keys.ts';
import { runIdOfJob } from './feeder.ts';
import { orgKeysWithQueues, queueNameOf } from './org.ts';

/**
 * Removes the failed BullMQ jobs of pruned runs from their orgs' queues. BullMQ keeps an org's
 * last 10,000 failed jobs (`removeOnFail`) with their target keys (a login can be one) and
 * their error, so without this a pruned run would leave that much of itself behind. The failed
 * set's ids name their runs, so no job is read to find them. The jobs of a run that is gone
 * already go too, from every org queue there is: a prune cut short after its runs' delete left
 * them, and the next prune finds them whatever it deletes. A prune for one org (`onlyOrg`) visits
 * that org's queue only. Returns how many jobs went.
 */
export async function removeFailedJobsOf(connection: Redis, runs: { runId: string; orgKey: string }[], onlyOrg: string | null = null): Promise<number> {
  const byOrg = new Map<string, Set<string>>();
  for (const r of runs) byOrg.set(r.orgKey, (byOrg.get(r.orgKey) ?? new Set()).add(r.runId));
  // Every org queue BullMQ has written, not only those of the runs pruned now.
  for (const orgKey of onlyOrg ? [onlyOrg] : await orgKeysWithQueues(connection)) if (!byOrg.has(orgKey)) byOrg.set(orgKey, new Set());
  let removed = 0;
  for (const [orgKey, runIds] of byOrg) {
    const queue = new Queue(queueNameOf(orgKey), { connection, prefix: queuePrefix });
    try {
      const failed = (await queue.getRanges(['failed'], 0, -1)).map((id) => ({ id, runId: runIdOfJob(id) }));
      const others = [...new Set(failed.map((j) => j.runId).filter((r): r is string => r !== null && !runIds.has(r)))];
      const exists = await Promise.all(others.map((r) => connection.exists(runKeys(r).meta)));
      others.forEach((r, i) => exists[i] === 0 && runIds.add(r));
      const ids = failed.filter((j) => j.runId !== null && runIds.has(j.runId)).map((j) => j.id);
      for (const id of ids) removed += await queue.remove(id);
    } finally {
      await queue.close();
    }
  }
  return removed;
}
