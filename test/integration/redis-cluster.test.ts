import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoverQueueNames } from '../../src/dashboard/queues.ts';
import { createRedis } from '../../src/redis/connection.ts';
import { queuePrefix } from '../../src/redis/keys.ts';
import { RunStore } from '../../src/runs/run-store.ts';
import type { Simulator } from '../../src/sim/index.ts';
import { runCli } from '../helpers/cli.ts';
import { startTestCluster, type TestCluster } from '../helpers/cluster.ts';
import { uniqueRunId } from '../helpers/redis.ts';
import { envFor, startTestSim, writeCsv } from '../helpers/sim.ts';

// A real three-master Redis Cluster (redis-server --cluster-enabled, redis-cli --cluster create).
let cluster: TestCluster;
let sim: Simulator;
beforeAll(async () => {
  cluster = await startTestCluster();
  sim = await startTestSim({ users: 200, grantsPerUser: 2, seed: 44 });
}, 60_000);
afterAll(async () => {
  await sim?.close();
  await cluster?.close();
});

describe('on a Redis Cluster', () => {
  it('a run completes with one result per target: its keys are cluster-safe (no CROSSSLOT)', async () => {
    const users = sim.org.sampleUsers({ count: 60 });
    const runId = uniqueRunId('cluster');
    const env = envFor(sim, { REDIS_URL: cluster.url });
    const r = await runCli(['run', '--csv', writeCsv(['userId', ...users.map((u) => u.id)]), '--yes', '--run-id', runId], env);
    expect(r.stderr).not.toMatch(/CROSSSLOT|error/i);
    expect(r.code).toBe(0);
    for (const u of users) expect(sim.org.grantsOf(u.id)).toEqual([]);
    const status = JSON.parse((await runCli(['status', runId, '--json'], env)).stdout);
    expect(status.counts).toMatchObject({ total: 60, pending: 0, failed: 0, revoked: 60 });

    // And it is pruned: the run's keys in one script, its index and org entries apart.
    const pruned = await runCli(['runs', 'prune', '--older-than', '0s', '--yes', '--json'], env);
    expect(pruned.stderr).not.toMatch(/CROSSSLOT|error/i);
    expect(pruned.code).toBe(0);
    expect(JSON.parse(pruned.stdout).pruned).toEqual([expect.objectContaining({ runId, state: 'completed', targets: 60 })]);
    const keys = (await Promise.all(cluster.nodes.map((n) => n.keys(`gs:{r:${runId}}:*`)))).flat();
    expect(keys).toEqual([]);
    expect((await runCli(['status', runId], env)).code).toBe(2);
  });

  it('the dashboard finds every org queue, on whichever master its keys live', async () => {
    const redis = createRedis({ url: cluster.url });
    await redis.connect();
    try {
      const orgs = ['org-c1a55e', 'org-c1a55f', 'org-c1a560'];
      for (const q of orgs) await redis.hset(`${queuePrefix}:${q}:meta`, 'opts.maxLenEvents', '10000');
      // The keys sit on one master (the queue prefix is a hash tag), not on every one: a SCAN
      // through the cluster client walks a single node, picked at random.
      const holders = await Promise.all(cluster.nodes.map(async (n) => (await n.keys(`${queuePrefix}:org-c1a5*:meta`)).length));
      expect(holders.filter((n) => n > 0)).toHaveLength(1);
      const store = new RunStore(redis);
      for (let i = 0; i < 6; i++) expect(await discoverQueueNames(redis, store)).toEqual(expect.arrayContaining(orgs));
    } finally {
      redis.disconnect();
    }
  });
});
