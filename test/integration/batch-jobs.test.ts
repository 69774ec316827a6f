import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RevokeTargetsData } from '../../jobs/revoke-targets/index.ts';
import { ApiTokenAuth } from '../../src/okta/auth.ts';
import { Feeder, runIdOfJob, targetsPerJob } from '../../src/queue/feeder.ts';
import { orgKeyOf, queueNameOf } from '../../src/queue/org.ts';
import { WorkerHost } from '../../src/queue/worker-host.ts';
import { orgKeys, queuePrefix, runKeys } from '../../src/redis/keys.ts';
import { toRedis } from '../../src/runs/record.ts';
import { RunStore } from '../../src/runs/run-store.ts';
import type { Simulator } from '../../src/sim/index.ts';
import { runCli } from '../helpers/cli.ts';
import { until, waitFinal } from '../helpers/fleet.ts';
import { connectTestRedis, redisUrl, uniqueRunId } from '../helpers/redis.ts';
import { envFor, startTestSim, writeCsv } from '../helpers/sim.ts';

/**
 * A worker's job is a batch of one run's targets. These check what batching must not
 * change: every target fed exactly once, a half-done batch redone without its finished
 * targets, a graceful stop that leaves the unstarted targets for another worker.
 */
let sim: Simulator;
let redis: Redis;
let store: RunStore;
let queue: Queue<RevokeTargetsData>;
const log = pino({ level: 'silent' });

beforeAll(async () => {
  sim = await startTestSim({ users: 400, recordRequests: 10_000 });
  redis = await connectTestRedis();
  store = new RunStore(redis);
  queue = new Queue(queueNameOf(orgKeyOf(sim.url)), { connection: redis, prefix: queuePrefix });
});
afterAll(async () => {
  await queue.close();
  await redis.quit();
  await sim.close();
});

function host(concurrency = 4, spreadOver?: number, orphanGraceMs?: number, feeder: { lowWater?: number; batch?: number } = {}) {
  return new WorkerHost(redis, {
    redisUrl: redisUrl(),
    orgUrl: sim.url,
    auth: new ApiTokenAuth(sim.token),
    concurrency,
    maxInFlight: 50,
    requestTimeoutMs: 10_000,
    log,
    feeder: { intervalMs: 50, spreadOver, orphanGraceMs, ...feeder },
  });
}

/** Starts a worker host, waits for the run to end, stops it; the run's final state. */
async function runToEnd(h: WorkerHost, runId: string): Promise<string> {
  h.start();
  try {
    return await waitFinal(redis, runId, 60_000);
  } finally {
    await h.close();
  }
}

async function enqueue(ids: string[], runId: string, env: NodeJS.ProcessEnv = {}) {
  const csv = writeCsv(['userId', ...ids]);
  const r = await runCli(['enqueue', '--csv', csv, '--yes', '--run-id', runId], envFor(sim, env));
  expect(r.code, r.stderr).toBe(0);
}

/** DELETE …/users/{id}/grants requests the simulator received, per user. */
function deletesPerUser(): Map<string, number> {
  const per = new Map<string, number>();
  for (const r of sim.log.requests()) {
    const m = /^\/api\/v1\/users\/([^/]+)\/grants$/.exec(r.path);
    if (r.method === 'DELETE' && m) per.set(m[1]!, (per.get(m[1]!) ?? 0) + 1);
  }
  return per;
}

describe('targets per job', () => {
  it('spreads a small run over one target per job and caps a large one', () => {
    expect(targetsPerJob(1, 50)).toBe(1);
    expect(targetsPerJob(64, 50)).toBe(1);
    expect(targetsPerJob(65, 50)).toBe(2);
    expect(targetsPerJob(1_000, 50)).toBe(16);
    expect(targetsPerJob(1_000_000, 50)).toBe(50);
    expect(targetsPerJob(0, 50)).toBe(1);
  });
});

describe('job ids', () => {
  it('name their run exactly, a run id with dots included', () => {
    expect(runIdOfJob('incident-1.40')).toBe('incident-1');
    expect(runIdOfJob('incident-1.r7')).toBe('incident-1');
    expect(runIdOfJob('incident-1.5.40')).toBe('incident-1.5');
    expect(runIdOfJob('not-a-feeder-id')).toBeNull();
  });
});

describe('batch jobs', () => {
  it('the feeder puts every target of a run in exactly one job, in input order, and moves its position', async () => {
    const ids = sim.org.sampleUsers({ count: 300 }).map((u) => u.id);
    const runId = uniqueRunId('feed');
    await enqueue(ids, runId);
    const feeder = new Feeder(redis, store, queue, log, { orgKey: orgKeyOf(sim.url), lowWater: 1_000, batch: 1_000 });
    await feeder.tick();
    const jobs = (await queue.getJobs(['waiting', 'prioritized'], 0, -1)).filter((j) => j.data.runId === runId);
    const fed = jobs.sort((a, b) => Number(a.id!.split('.').pop()) - Number(b.id!.split('.').pop())).flatMap((j) => j.data.keys);
    const order = await redis.lrange(runKeys(runId).order, 0, -1);
    expect(fed).toEqual(order);
    expect(new Set(fed).size).toBe(300);
    expect(jobs.length).toBe(Math.ceil(300 / targetsPerJob(300, 50)));
    expect(Math.max(...jobs.map((j) => j.data.keys.length))).toBe(targetsPerJob(300, 50));
    expect((await store.getMeta(runId))?.fed).toBe(300);
    // A second pass finds nothing left to feed: no job is added twice.
    await feeder.tick();
    expect((await queue.getJobs(['waiting', 'prioritized'], 0, -1)).filter((j) => j.data.runId === runId)).toHaveLength(jobs.length);
    await Promise.all(jobs.map((j) => j.remove()));
    await store.stopRun(runId, 'cancelled', 'test over');
  });

  it('tops up every active run in the same pass, whatever the other runs hold in the queue', async () => {
    const ids = sim.org.sampleUsers({ count: 200, offset: 100 }).map((u) => u.id);
    const runs = [uniqueRunId('topA'), uniqueRunId('topB')];
    await enqueue(ids.slice(0, 100), runs[0]!);
    await enqueue(ids.slice(100), runs[1]!);
    // Each run may have one job's worth queued, and a pass adds two jobs: a low water for the
    // queue as a whole would let only the run fed first in.
    const feeder = new Feeder(redis, store, queue, log, { orgKey: orgKeyOf(sim.url), lowWater: 1, batch: 2 });
    try {
      await feeder.tick();
      for (const runId of runs) expect((await store.getMeta(runId))?.fed, runId).toBeGreaterThan(0);
      const fedOnce = await Promise.all(runs.map(async (r) => (await store.getMeta(r))!.fed));
      // Nothing was processed: a second pass adds nothing to either.
      await feeder.tick();
      expect(await Promise.all(runs.map(async (r) => (await store.getMeta(r))!.fed))).toEqual(fedOnce);
    } finally {
      const jobs = (await queue.getJobs(['waiting', 'prioritized'], 0, -1)).filter((j) => runs.includes(j.data.runId));
      await Promise.all(jobs.map((j) => j.remove()));
      for (const r of runs) await store.stopRun(r, 'cancelled', 'test over');
    }
  });

  it('a batch delivered again skips the targets its first delivery finished: one request per target', async () => {
    sim.log.reset();
    const ids = sim.org.sampleUsers({ count: 40, minGrants: 1 }).map((u) => u.id);
    const runId = uniqueRunId('redeliver');
    await enqueue(ids, runId);
    // What a worker that died half-way leaves: some results recorded, the batch still queued.
    const keys = await redis.lrange(runKeys(runId).order, 0, -1);
    const done = keys.slice(0, 15);
    const recs = await store.getRecords(runId, done);
    await Promise.all(done.map((k, i) => store.recordResult(runId, k, { ...recs[i]!, status: 'revoked', attempts: 1, finishedAt: Date.now() })));
    const doneIds = new Set(recs.map((r) => r!.userId));

    expect(await runToEnd(host(), runId)).toBe('completed');
    const per = deletesPerUser();
    for (const id of ids) expect(per.get(id) ?? 0, id).toBe(doneIds.has(id) ? 0 : 1);
    const counts = await store.getCounts(runId);
    expect(counts).toMatchObject({ total: 40, revoked: 40, pending: 0 });
  });

  it('pending targets whose jobs are gone (their results lost by Redis) are fed again, once, and the run completes', async () => {
    sim.log.reset();
    const ids = sim.org.sampleUsers({ count: 30, minGrants: 1, offset: 100 }).map((u) => u.id);
    const runId = uniqueRunId('orphans');
    await enqueue(ids, runId);
    // Every target fed, ten results recorded, the jobs gone: what a Redis Cluster failover
    // to a replica that had missed the last results leaves behind.
    await new Feeder(redis, store, queue, log, { orgKey: orgKeyOf(sim.url), lowWater: 1_000, batch: 1_000 }).tick();
    expect((await store.getMeta(runId))?.fed).toBe(30);
    await Promise.all((await queue.getJobs(['waiting', 'prioritized'], 0, -1)).filter((j) => j.data.runId === runId).map((j) => j.remove()));
    const keys = await redis.lrange(runKeys(runId).order, 0, -1);
    const recs = await store.getRecords(runId, keys.slice(0, 10));
    await Promise.all(keys.slice(0, 10).map((k, i) => store.recordResult(runId, k, { ...recs[i]!, status: 'revoked', attempts: 1, finishedAt: Date.now() })));
    const doneIds = new Set(recs.map((r) => r!.userId));
    // Another run's job waits in the queue meanwhile (in backoff): the sweep looks for this run's jobs only.
    // The low water is below the 20 orphans: the sweep must not wait for it.
    const other = await queue.add('revoke-targets', { runId: uniqueRunId('other'), keys: [] }, { delay: 600_000 });

    try {
      expect(await runToEnd(host(4, undefined, 300, { lowWater: 1 }), runId)).toBe('completed');
    } finally {
      await other.remove();
    }
    const per = deletesPerUser();
    for (const id of ids) expect(per.get(id) ?? 0, id).toBe(doneIds.has(id) ? 0 : 1);
    expect(await store.getCounts(runId)).toMatchObject({ total: 30, revoked: 30, pending: 0 });
  });

  it('a graceful stop in the middle of batches leaves their unstarted targets to the next worker, and none is done twice', async () => {
    sim.log.reset();
    // Slow answers, so that the stop finds batches half done.
    sim.configure({ faults: { latencyMs: 40 } });
    try {
      const ids = sim.org.sampleUsers({ count: 260 }).map((u) => u.id);
      const runId = uniqueRunId('drain');
      await enqueue(ids, runId);
      // Batches of 50: four jobs of the first worker hold 200 targets when it is told to stop.
      const first = host(4, 5);
      first.start();
      await until('some results', async () => (await store.getCounts(runId)).pending < 240, 30_000);
      // close() drains at once (nothing new starts), before its first await.
      const closing = first.close();
      const before = await store.getCounts(runId);
      await closing;
      const after = await store.getCounts(runId);
      // Only what was in progress (at most 2 × --concurrency targets) finished after the stop.
      expect(before.pending - after.pending).toBeLessThanOrEqual(8);
      expect(after.pending).toBeGreaterThan(0);
      // The stopped worker's batches are back in the queue, not lost in `active`.
      const stranded = await queue.getActive();
      expect(stranded.filter((j) => j.data.runId === runId)).toHaveLength(0);

      expect(await runToEnd(host(8), runId)).toBe('completed');
      const per = deletesPerUser();
      for (const id of ids) expect(per.get(id), id).toBe(1);
      expect(await store.getCounts(runId)).toMatchObject({ total: 260, pending: 0, failed: 0 });
    } finally {
      sim.configure({ faults: { latencyMs: 0 } });
    }
  });

  it('slow start: the targets queued behind the first one go together once it succeeds, not in single file', async () => {
    sim.log.reset();
    // Answers take half a second: the first success comes while all the worker's targets in progress wait behind it.
    sim.configure({ faults: { latencyMs: 500 } });
    try {
      const ids = sim.org.sampleUsers({ count: 64, minGrants: 1, offset: 320 }).map((u) => u.id);
      const runId = uniqueRunId('slow-start');
      await enqueue(ids, runId);
      const h = host(16);
      h.start();
      try {
        expect(await waitFinal(redis, runId, 60_000)).toBe('completed');
        // Every answer comes 500 ms after its request arrives: the requests that arrived before the second answer
        // went out once the first had succeeded. Before: one at a time for the 32 queued behind the first (3 by then).
        const arrivals = sim.log.requests().filter((e) => e.method === 'DELETE').map((e) => e.at).sort((a, b) => a - b);
        expect(arrivals).toHaveLength(64);
        expect(arrivals.filter((at) => at < arrivals[1]! + 500).length).toBeGreaterThanOrEqual(8);
      } finally {
        await h.close();
      }
      expect(await store.getCounts(runId)).toMatchObject({ total: 64, revoked: 64 });
    } finally {
      sim.configure({ faults: { latencyMs: 0 } });
    }
  });

  it('a graceful stop withdraws the requests still waiting for their paced slot: none is sent after it, none is lost', async () => {
    sim.log.reset();
    const ids = sim.org.sampleUsers({ count: 8, minGrants: 1, offset: 300 }).map((u) => u.id);
    const runId = uniqueRunId('paced-stop');
    // 0.00002 of the unlimited simulator's 1,000,000 a minute: a slot every 3 s or so, so the targets in progress wait for theirs.
    await enqueue(ids, runId, { GRANTSWEEP_RATE_SHARE: '0.00002' });
    const sent = () => [...deletesPerUser().values()].reduce((a, b) => a + b, 0);
    const first = host(4);
    first.start();
    await until('the first DELETE', async () => sent() >= 1, 30_000);
    const atStop = sent();
    await first.close();
    // Only a request already on the wire may land after the stop; before, each waiting target sent its DELETE at its slot.
    expect(sent() - atStop).toBeLessThanOrEqual(1);
    const counts = await store.getCounts(runId);
    expect(counts.pending).toBeGreaterThanOrEqual(ids.length - sent());
    // The withdrawn ones are the next worker's, each sent once.
    expect((await runCli(['pace', runId, '--rate-share', '0.5'], envFor(sim))).code).toBe(0);
    expect(await runToEnd(host(4), runId)).toBe('completed');
    const per = deletesPerUser();
    for (const id of ids) expect(per.get(id), id).toBe(1);
    expect(await store.getCounts(runId)).toMatchObject({ total: ids.length, revoked: ids.length, pending: 0 });
  });

  it('the tries a target spent before a graceful stop count after it: --attempts requests in all', async () => {
    sim.log.reset();
    // Every answer a 500 or a 503: each try fails and is retried after a backoff.
    sim.configure({ faults: { errorRate: 1 } });
    try {
      const id = sim.org.sampleUsers({ count: 1 })[0]!.id;
      const runId = uniqueRunId('tries');
      await enqueue([id], runId, { GRANTSWEEP_ATTEMPTS: '3' });
      const [key] = await redis.lrange(runKeys(runId).order, 0, -1);
      const first = host(2);
      first.start();
      await until('the first try', async () => (deletesPerUser().get(id) ?? 0) >= 1, 30_000);
      // Stopped in the backoff after its first try: the target stays pending, its try kept.
      await first.close();
      expect(deletesPerUser().get(id)).toBe(1);
      expect((await store.getRecords(runId, [key!]))[0]).toMatchObject({ status: 'pending', attempts: 1, roundAttempts: 1 });

      expect(await runToEnd(host(2), runId)).toBe('completed');
      // The next worker has two tries left, not three.
      expect(deletesPerUser().get(id)).toBe(3);
      expect((await store.getRecords(runId, [key!]))[0]).toMatchObject({ status: 'failed', attempts: 3, roundAttempts: 0 });
      expect(await store.getCounts(runId)).toMatchObject({ total: 1, failed: 1, pending: 0 });
    } finally {
      sim.configure({ faults: { errorRate: 0 } });
    }
  });

  it('a target whose job fails for good outside Okta still gets its one result, with the tries Okta saw', async () => {
    sim.log.reset();
    const ids = sim.org.sampleUsers({ count: 6, minGrants: 1, offset: 380 }).map((u) => u.id);
    const runId = uniqueRunId('jobfail');
    await enqueue(ids, runId, { GRANTSWEEP_ATTEMPTS: '2' });
    const keys = await redis.lrange(runKeys(runId).order, 0, -1);
    // A record no producer writes (neither a user id nor a login): the processor throws on it
    // at every delivery, so BullMQ fails its job for good after its two attempts.
    const [rec] = await store.getRecords(runId, [keys[2]!]);
    await redis.hset(runKeys(runId).targets, keys[2]!, toRedis({ ...rec!, userId: null, login: null }));
    // And one that is not a record at all: it used to fail its job, then the orphan sweep fed it again, for ever.
    await redis.hset(runKeys(runId).targets, keys[4]!, '{"not a record');
    expect(await runToEnd(host(), runId)).toBe('completed');
    const recs = await store.getRecords(runId, keys);
    // No request reached Okta for them: their attempts say so (they counted the job's deliveries before).
    for (const i of [2, 4]) {
      expect(recs[i]).toMatchObject({ status: 'failed', errorCode: 'WORKER', attempts: 0 });
      expect(recs[i]!.errorSummary).toMatch(/^its job failed outside Okta \(2 failed deliveries, 0 stalled\)/);
    }
    expect(await store.getCounts(runId)).toMatchObject({ total: 6, revoked: 4, failed: 2, pending: 0 });
    const others = recs.filter((_, i) => i !== 2 && i !== 4);
    expect(others.map((r) => [r!.status, r!.attempts])).toEqual(others.map(() => ['revoked', 1]));
    const per = deletesPerUser();
    expect(ids.filter((_, i) => i !== 2 && i !== 4).map((id) => per.get(id))).toEqual([1, 1, 1, 1]);
  });

  it('retry makes a failed record pending again in the layout toRedis writes, its attempts kept', async () => {
    const ids = sim.org.sampleUsers({ count: 2 }).map((u) => u.id);
    const runId = uniqueRunId('requeue');
    await enqueue(ids, runId);
    const keys = await redis.lrange(runKeys(runId).order, 0, -1);
    const [rec] = await store.getRecords(runId, [keys[0]!]);
    const failed = { ...rec!, status: 'failed' as const, attempts: 3, httpStatus: 503, errorCode: 'E0000009', errorSummary: 'Internal error', errorId: 'oaeX', finishedAt: Date.now(), grants: [{ id: 'g1', clientId: 'c1', scopeId: 'okta.users.read', created: '2026-01-01T00:00:00.000Z' }], resolvedUserId: ids[0]! };
    expect(await store.recordResult(runId, keys[0]!, failed)).toBe(1);
    expect(await store.requeue(runId, false)).toBe(1);
    const again = { ...failed, status: 'pending' as const, httpStatus: null, errorCode: null, errorSummary: null, errorId: null, finishedAt: null, grants: null };
    expect(await redis.hget(runKeys(runId).targets, keys[0]!)).toBe(toRedis(again));
    expect(await store.getCounts(runId)).toMatchObject({ total: 2, pending: 2, failed: 0 });
  });

  it.each([
    ['all its 300 targets queued (60 jobs)', {}, true],
    ['still being fed, two jobs at a time', { lowWater: 2, batch: 2 }, false],
  ] as const)('a small run enqueued behind a large one, %s, takes turns with it instead of waiting for its backlog', async (_what, feeding, allFed) => {
    sim.configure({ faults: { latencyMs: 20 } });
    const h = host(4, undefined, undefined, feeding);
    try {
      const big = uniqueRunId('big');
      const small = uniqueRunId('small');
      const ids = sim.org.sampleUsers({ count: 305, offset: allFed ? 0 : 50 }).map((u) => u.id);
      await enqueue(ids.slice(0, 300), big);
      h.start();
      await until('the big run started', async () => (await store.getCounts(big)).pending < 295, 30_000);
      const fed = (await store.getMeta(big))!.fed;
      if (allFed) expect(fed).toBe(300);
      else expect(fed).toBeLessThan(300);
      await enqueue(ids.slice(300), small);
      expect(await waitFinal(redis, small, 30_000)).toBe('completed');
      // Behind the whole backlog, the small run would end with the big one's last jobs.
      expect((await store.getCounts(big)).pending).toBeGreaterThan(150);
      expect(await waitFinal(redis, big, 60_000)).toBe('completed');
      expect(await store.getCounts(big)).toMatchObject({ total: 300, revoked: 300, pending: 0 });
      expect(await store.getCounts(small)).toMatchObject({ total: 5, revoked: 5, pending: 0 });
    } finally {
      await h.close();
      sim.configure({ faults: { latencyMs: 0 } });
    }
  });

  it('a small run takes turns inside a worker whose jobs of a large run hold 200 targets, instead of waiting behind them', async () => {
    sim.configure({ faults: { latencyMs: 20 } });
    // Jobs of 50 (spread over 6): the worker's four jobs bring 200 of the large run's targets into the process.
    const h = host(4, 6);
    try {
      const big = uniqueRunId('big50');
      const small = uniqueRunId('small50');
      const ids = sim.org.sampleUsers({ count: 305, offset: 20 }).map((u) => u.id);
      await enqueue(ids.slice(0, 300), big);
      h.start();
      await until('the big run started', async () => (await store.getCounts(big)).pending < 295, 30_000);
      const bigBefore = (await store.getCounts(big)).pending;
      await enqueue(ids.slice(300), small);
      expect(await waitFinal(redis, small, 30_000)).toBe('completed');
      const meanwhile = bigBefore - (await store.getCounts(big)).pending;
      console.log(`[turns] jobs of 50: the big run finished ${meanwhile} targets while the small run's 5 went`);
      // Its job is fetched after about two of the big run's (it goes in behind the head of the queue);
      // then the two runs share the targets in progress: about 150. In one line, its targets waited
      // behind every one the worker's four jobs had brought in as well: about 245.
      expect(meanwhile).toBeLessThan(200);
      expect(await waitFinal(redis, big, 60_000)).toBe('completed');
      expect(await store.getCounts(small)).toMatchObject({ total: 5, revoked: 5, pending: 0 });
    } finally {
      await h.close();
      sim.configure({ faults: { latencyMs: 0 } });
    }
  });

  it('records the results that finish in one turn in one call, each once', async () => {
    const ids = sim.org.sampleUsers({ count: 6 }).map((u) => u.id);
    const runId = uniqueRunId('results');
    await enqueue(ids, runId);
    const keys = await redis.lrange(runKeys(runId).order, 0, -1);
    const recs = await store.getRecords(runId, keys);
    const done = (i: number) => ({ ...recs[i]!, status: 'revoked' as const, attempts: 1, finishedAt: Date.now() });
    // Same turn: six targets, one of them twice, and a key the run does not have.
    const results = await Promise.all([
      ...keys.map((k, i) => store.recordResult(runId, k, done(i))),
      store.recordResult(runId, keys[0]!, { ...done(0), status: 'failed' }),
      store.recordResult(runId, 'no-such-target', done(0)),
    ]);
    expect(results).toEqual([1, 1, 1, 1, 1, 1, 0, -1]);
    expect(await store.getCounts(runId)).toMatchObject({ total: 6, revoked: 6, failed: 0, pending: 0 });
    expect((await store.getMeta(runId))?.state).toBe('completed');
    expect((await store.getRecords(runId, [keys[0]!]))[0]?.status).toBe('revoked');
  });

  it('a long-lived worker drops what it keeps of a run once the run is final, and goes on with the next', async () => {
    const ids = sim.org.sampleUsers({ count: 10, offset: 390 }).map((u) => u.id);
    const h = host(2);
    h.start();
    try {
      for (const [i, part] of [ids.slice(0, 5), ids.slice(5)].entries()) {
        const runId = uniqueRunId(`forget${i}`);
        await enqueue(part, runId, { GRANTSWEEP_RATE_SHARE: '0.3' });
        expect(await waitFinal(redis, runId, 30_000)).toBe('completed');
        expect((await store.getCounts(runId)).pending).toBe(0);
        // Its cached metadata, its share in the budget and its slow start's state: none outlives it.
        await until(`the worker to drop run ${runId}`, () => !h.runsHeld().includes(runId), 5_000);
      }
    } finally {
      await h.close();
    }
  });

  it('keeps what it holds of a run while a job of the run is in progress here, even when the run is missing from the active set', async () => {
    // The race this closes: a run made active again after the feeder read the set, whose job this process already took.
    const ids = sim.org.sampleUsers({ count: 16, offset: 380 }).map((u) => u.id);
    const runId = uniqueRunId('busy');
    const active = orgKeys(orgKeyOf(sim.url)).active;
    await enqueue(ids, runId, { GRANTSWEEP_RATE_SHARE: '0.3' });
    // One job of all 16 targets (spread over 1), so a job of the run is in progress throughout.
    const h = host(1, 1);
    const dropped: string[] = [];
    const dropShare = h.budget.dropShare.bind(h.budget);
    h.budget.dropShare = (id: string) => {
      dropped.push(id);
      dropShare(id);
    };
    sim.configure({ faults: { latencyMs: 100 } });
    h.start();
    try {
      await until('the run under way', async () => (await store.getCounts(runId)).pending < 16, 30_000);
      await redis.srem(active, runId);
      // A dozen feeder passes (50 ms apart) with the run missing from the set while its job goes on.
      await new Promise((r) => setTimeout(r, 600));
      expect((await store.getCounts(runId)).pending, 'the job still in progress').toBeGreaterThan(0);
      expect(dropped).not.toContain(runId);
      expect(h.runsHeld()).toContain(runId);
      await redis.sadd(active, runId);
      sim.configure({ faults: { latencyMs: 0 } });
      expect(await waitFinal(redis, runId, 30_000)).toBe('completed');
      // Once final and no job of it here, it goes as before.
      await until(`the worker to drop run ${runId}`, () => !h.runsHeld().includes(runId), 5_000);
      expect(dropped).toContain(runId);
    } finally {
      sim.configure({ faults: { latencyMs: 0 } });
      await h.close();
    }
  });
});
