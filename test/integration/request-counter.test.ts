import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runKeys } from '../../src/redis/keys.ts';
import { RequestCounter } from '../../src/runs/request-counter.ts';
import { RunStore } from '../../src/runs/run-store.ts';
import { connectTestRedis, uniqueRunId } from '../helpers/redis.ts';

/**
 * The counts a run's progress line sets against its budget: every request is counted, and
 * each bucket's apart with the run's budget there, so that a login's lookup (another bucket)
 * does not read as spending the grants bucket's budget.
 */
describe('RequestCounter', () => {
  let redis: Redis;
  let store: RunStore;
  const runIds: string[] = [];

  beforeAll(async () => {
    redis = await connectTestRedis();
    store = new RunStore(redis);
  });

  afterAll(async () => {
    for (const id of runIds) await redis.del(runKeys(id).counts, runKeys(id).perMinute);
    await redis.quit();
  });

  it('counts every request, and each bucket apart with the run budget there', async () => {
    const runId = uniqueRunId('counter');
    runIds.push(runId);
    const counter = new RequestCounter(store, 60_000);
    for (let i = 0; i < 10; i++) counter.add(runId, 200, { name: 'user-get', budget: 300 });
    for (let i = 0; i < 100; i++) counter.add(runId, i < 3 ? 429 : 204, { name: 'user-grants', budget: 6_000 });
    await counter.flush();
    const counts = await store.getCounts(runId);
    expect(counts).toMatchObject({ requests: 110, rateLimited: 3, buckets: { 'user-get': { requests: 10, budget: 300 }, 'user-grants': { requests: 100, budget: 6_000 } } });
    const minutes = await store.perMinute(runId);
    expect(minutes.at(-1)).toMatchObject({ requests: 110, rateLimited: 3, budget: 6_000 });
    // And per minute, each bucket apart: the report's chart draws the paced one against its budget.
    expect(minutes.at(-1)?.buckets).toEqual({ 'user-get': { requests: 10, budget: 300 }, 'user-grants': { requests: 100, budget: 6_000 } });
  });

  it("a minute's budget is the highest in force that minute: a pace lowered mid-minute shows no overspend", async () => {
    const runId = uniqueRunId('counter');
    runIds.push(runId);
    // Two workers' flushes within one minute, before and after a `pace` from 0.6 to 0.4.
    const minute = Math.floor(Date.now() / 60_000);
    await store.addRequestCounts([{ runId, minute, requests: 120, rateLimited: 0, budget: 7_200, buckets: [{ name: 'user-grants', requests: 120, budget: 7_200 }] }]);
    await store.addRequestCounts([{ runId, minute, requests: 80, rateLimited: 0, budget: 4_800, buckets: [{ name: 'user-grants', requests: 80, budget: 4_800 }] }]);
    const last = (await store.perMinute(runId)).at(-1);
    expect(last).toMatchObject({ requests: 200, budget: 7_200, buckets: { 'user-grants': { requests: 200, budget: 7_200 } } });
    // The run's current budget is the one now in force.
    expect((await store.getCounts(runId)).buckets['user-grants']).toEqual({ requests: 200, budget: 4_800 });
  });

  it('counts a bucket whose budget no response said, with no budget', async () => {
    const runId = uniqueRunId('counter');
    runIds.push(runId);
    const counter = new RequestCounter(store, 60_000);
    for (let i = 0; i < 5; i++) counter.add(runId, 204, { name: 'user-grants', budget: null });
    await counter.flush();
    expect(await store.getCounts(runId)).toMatchObject({ requests: 5, buckets: { 'user-grants': { requests: 5, budget: null } } });
  });
});
