import { QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { orgKeyOf, queueNameOf } from '../../src/queue/org.ts';
import { queuePrefix } from '../../src/redis/keys.ts';
import type { Simulator } from '../../src/sim/index.ts';
import { runCli, spawnCli } from '../helpers/cli.ts';
import { checkExactlyOnce, sleep, spawnWorkers, stopAll, until, waitFinal, waitWorkers } from '../helpers/fleet.ts';
import { connectTestRedis, redisUrl, uniqueRunId } from '../helpers/redis.ts';
import { envFor, startTestSim, writeCsv } from '../helpers/sim.ts';

/**
 * Shutdown: SIGTERM lets a worker finish what it has in flight and exit 0; a second
 * signal makes it exit at once, and the targets it held are taken over by the others;
 * `cancel` stops every worker's requests for the run.
 */

const LOCK_MS = 3_000;
const DELETE_ALL = 'DELETE /api/v1/users/{userId}/grants';
let redis: Redis;
beforeAll(async () => {
  redis = await connectTestRedis();
});
afterAll(() => redis?.disconnect());

async function withSim<T>(opts: Parameters<typeof startTestSim>[0], fn: (sim: Simulator) => Promise<T>): Promise<T> {
  const sim = await startTestSim(opts);
  try {
    return await fn(sim);
  } finally {
    await sim.close();
  }
}

const deletesOf = (sim: Simulator) => sim.log.snapshot().byEndpoint[DELETE_ALL] ?? 0;

/**
 * BullMQ's `stalled` events on the org's queue: a job whose worker went without giving it
 * back (its lock expired) and that another worker took over. A worker that stops gracefully
 * leaves none; one stopped at once leaves the jobs it held. What the stop did, not how long it took.
 */
async function watchStalled(sim: Simulator): Promise<{ count: () => number; close: () => Promise<void> }> {
  const events = new QueueEvents(queueNameOf(orgKeyOf(sim.url)), { connection: new Redis(redisUrl(), { maxRetriesPerRequest: null }), prefix: queuePrefix });
  let n = 0;
  events.on('stalled', () => void n++);
  await events.waitUntilReady();
  return { count: () => n, close: () => events.close() };
}

describe('reliability: stopping workers', () => {
  it('SIGTERM: the worker finishes its requests in flight (none is redone), gives its jobs back and exits 0', () =>
    withSim({ users: 300, faults: { latencyMs: 300 } }, async (sim) => {
      const env = envFor(sim, { GRANTSWEEP_LOCK_DURATION_MS: String(LOCK_MS) });
      const sample = sim.org.sampleUsers({ count: 60, status: 'ACTIVE', minGrants: 1 });
      const [a, b] = spawnWorkers(2, env, ['--concurrency', '4']);
      const stalled = await watchStalled(sim);
      try {
        await waitWorkers(redis, sim.url, 2);
        const runId = uniqueRunId('sigterm');
        expect((await runCli(['enqueue', '--csv', writeCsv(['userId', ...sample.map((u) => u.id)]), '--yes', '--run-id', runId], env)).code).toBe(0);
        await until('8 DELETEs', () => deletesOf(sim) >= 8, 30_000, 10);
        const signalled = Date.now();
        a!.child.kill('SIGTERM');
        const exit = await a!.done;
        const tookMs = Date.now() - signalled;
        expect(exit.code, exit.stderr).toBe(0);
        expect(exit.stderr).toMatch(/stopping: finishing the requests in flight/);
        expect(await waitFinal(redis, runId)).toBe('completed');
        await checkExactlyOnce(redis, runId, env, { targets: 60, users: sample.map((u) => u.id), sim });
        // Nothing the stopped worker had in flight was left for another to redo, and no job of
        // it had to wait out its lock (3 s) to be taken over: it gave them back as it stopped.
        expect(deletesOf(sim)).toBe(60);
        expect(stalled.count()).toBe(0);
        console.log(`[reliability] SIGTERM: ${JSON.stringify({ exit: exit.code, exitMs: tookMs, lockMs: LOCK_MS, deletes: deletesOf(sim) })}`);
      } finally {
        await stopAll([a!, b!]);
        await stalled.close();
      }
    }), 90_000);

  it('a second signal exits at once; the targets it held are taken over by another worker', () =>
    withSim({ users: 300, faults: { latencyMs: 2_000 } }, async (sim) => {
      // One attempt a target: a request cut by the stop must not be taken for its last try and recorded failed.
      const env = envFor(sim, { GRANTSWEEP_LOCK_DURATION_MS: String(LOCK_MS), GRANTSWEEP_ATTEMPTS: '1' });
      const sample = sim.org.sampleUsers({ count: 16, status: 'ACTIVE', minGrants: 1 });
      // Worker A alone first, so that it surely holds targets when it is stopped.
      const [a] = spawnWorkers(1, env, ['--concurrency', '4']);
      let b: ReturnType<typeof spawnWorkers>[number] | undefined;
      try {
        await waitWorkers(redis, sim.url, 1);
        const runId = uniqueRunId('sigterm2');
        expect((await runCli(['enqueue', '--csv', writeCsv(['userId', ...sample.map((u) => u.id)]), '--yes', '--run-id', runId], env)).code).toBe(0);
        // Answers take 2 s, and the simulator revokes when a DELETE arrives: a user whose grants are gone
        // and whose answer has not come is a DELETE on the wire. A is signalled twice while it has some
        // (the first signal sends nothing more: what waits for a slot is withdrawn).
        const arrived = () => sample.filter((u) => sim.org.grantsOf(u.id)!.length === 0).length;
        await until('DELETEs on the wire', () => deletesOf(sim) >= 1 && arrived() - deletesOf(sim) >= 2, 30_000, 10);
        a!.child.kill('SIGTERM');
        await until('A to start stopping', () => /stopping: finishing/.test(a!.output().stderr), 10_000, 5);
        const signalled = Date.now();
        a!.child.kill('SIGTERM');
        const exit = await a!.done;
        const tookMs = Date.now() - signalled;
        expect(exit.stderr).toMatch(/stopping now: targets in flight return to the queue/);
        expect(exit.code).toBe(0);
        const left = JSON.parse((await runCli(['status', runId, '--json'], env)).stdout) as { counts: { pending: number } };
        expect(left.counts.pending).toBeGreaterThan(0);
        // B, started after A is gone, finishes what A held and what was left.
        b = spawnWorkers(1, env, ['--concurrency', '4'])[0];
        expect(await waitFinal(redis, runId)).toBe('completed');
        // A did not wait for the answers to what it had in flight (2 s each): those targets, revoked by Okta
        // but unrecorded, were done again by B. A graceful stop redoes none (the test above: exactly one DELETE each).
        expect(deletesOf(sim)).toBeGreaterThan(16);
        const rep = await checkExactlyOnce(redis, runId, env, { targets: 16, users: sample.map((u) => u.id), sim });
        expect(rep.counts.revoked).toBe(16);
        console.log(`[reliability] second signal: ${JSON.stringify({ exit: exit.code, exitMs: tookMs, pendingAtExit: left.counts.pending, deletes: deletesOf(sim), redone: deletesOf(sim) - 16 })}`);
      } finally {
        await stopAll(b ? [a!, b] : [a!]);
      }
    }), 90_000);

  it('Ctrl-C on `run` while it revokes: what was in flight finishes and is in the summary, exit 1, the run left to the workers', () =>
    withSim({ users: 200, faults: { latencyMs: 300 } }, async (sim) => {
      const env = envFor(sim);
      const sample = sim.org.sampleUsers({ count: 60, status: 'ACTIVE', minGrants: 1 });
      const runId = uniqueRunId('ctrlc-run');
      const run = spawnCli(['run', '--csv', writeCsv(['userId', ...sample.map((u) => u.id)]), '--yes', '--run-id', runId, '--concurrency', '4'], env);
      await until('8 DELETEs', () => deletesOf(sim) >= 8, 30_000, 10);
      run.child.kill('SIGINT');
      const out = await run.done;
      expect(out.code, out.stderr).toBe(1);
      expect(out.stderr).toMatch(/stopping: finishing the requests in flight \(again to stop at once\)\. The run is left to the workers/);
      const status = JSON.parse((await runCli(['status', runId, '--json'], env)).stdout) as { state: string; counts: { pending: number } };
      expect(status.state).toBe('running');
      expect(status.counts.pending).toBeGreaterThan(0);
      // The summary that goes into a ticket counts the answers that came after the signal (before, it was read before them).
      expect(Number(/(\d+)\/60 done/.exec(out.stdout)?.[1])).toBe(60 - status.counts.pending);
      // Every DELETE that reached Okta has its result: nothing sent after the signal went unrecorded.
      expect(deletesOf(sim)).toBe(60 - status.counts.pending);
    }), 60_000);

  it('cancel: after `cancel` returns, no worker takes another slot for the run (at most what was in flight arrives)', () =>
    withSim({ users: 600, faults: { latencyMs: 40 }, recordRequests: 10_000 }, async (sim) => {
      const env = envFor(sim);
      const sample = sim.org.sampleUsers({ count: 300, status: 'ACTIVE', minGrants: 1 });
      const workers = spawnWorkers(3, env, ['--concurrency', '4']);
      try {
        await waitWorkers(redis, sim.url, 3);
        const runId = uniqueRunId('cancel');
        expect((await runCli(['enqueue', '--csv', writeCsv(['userId', ...sample.map((u) => u.id)]), '--yes', '--run-id', runId], env)).code).toBe(0);
        await until('30 requests', () => sim.log.snapshot().total >= 30, 30_000, 10);
        const c = await runCli(['cancel', runId], env);
        const cancelledAt = Date.now();
        expect(c.code, c.stderr).toBe(0);
        expect(c.stdout).toMatch(/cancelled/);
        // Time for anything still coming to arrive (at 40 ms an answer, the run's 300 targets would all go in it).
        await sleep(1_500);
        const requests = sim.log.requests();
        const after = requests.filter((e) => e.at > cancelledAt);
        // What may still arrive is what held a slot when the cancel came: each worker has at most
        // twice its --concurrency of targets in progress. Not a time limit: a count.
        expect(after.length).toBeLessThanOrEqual(3 * 4 * 2);
        const rep = await checkCancelled(runId, env);
        expect(rep.pending).toBeGreaterThan(0);
        // Every request that did go out was for a target now final or still pending: none was lost.
        expect(rep.pending + rep.revoked).toBe(300);
        console.log(`[reliability] cancel: ${JSON.stringify({ requestsBefore: requests.length - after.length, arrivedAfterCancel: after.length, pending: rep.pending, revoked: rep.revoked })}`);
      } finally {
        const codes = await stopAll(workers);
        expect(codes.map((x) => x.code)).toEqual([0, 0, 0]);
      }
    }), 90_000);
});

async function checkCancelled(runId: string, env: NodeJS.ProcessEnv) {
  const s = await runCli(['status', runId, '--json'], env);
  expect(s.code).toBe(0);
  const j = JSON.parse(s.stdout) as { state: string; counts: Record<string, number> };
  expect(j.state).toBe('cancelled');
  return { pending: j.counts.pending!, revoked: j.counts.revoked! };
}
