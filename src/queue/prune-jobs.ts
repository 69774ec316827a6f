import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { queuePrefix } from '../runs/keys.ts';
import { queueNameOf } from './org.ts';

const PAGE = 500;

/**
 * Removes the failed BullMQ jobs of pruned runs from their orgs' queues. BullMQ keeps an org's
 * last 10,000 failed jobs (`removeOnFail`) with their target keys (a login can be one) and
 * their error, so without this a pruned run would leave that much of itself behind. Returns
 * how many jobs went.
 */
export async function removeFailedJobsOf(connection: Redis, runs: { runId: string; orgKey: string }[]): Promise<number> {
  const byOrg = new Map<string, Set<string>>();
  for (const r of runs) byOrg.set(r.orgKey, (byOrg.get(r.orgKey) ?? new Set()).add(r.runId));
  let removed = 0;
  for (const [orgKey, runIds] of byOrg) {
    const queue = new Queue(queueNameOf(orgKey), { connection, prefix: queuePrefix });
    try {
      // Ids first, removals after: a removal would shift the pages being read.
      const ids: string[] = [];
      for (let start = 0; ; start += PAGE) {
        const jobs = await queue.getFailed(start, start + PAGE - 1);
        for (const job of jobs) if (job?.id && runIds.has((job.data as { runId?: string } | undefined)?.runId ?? '')) ids.push(job.id);
        if (jobs.length < PAGE) break;
      }
      for (const id of ids) removed += await queue.remove(id);
    } finally {
      await queue.close();
    }
  }
  return removed;
}
