import type { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ApiTokenAuth } from '../../src/okta/auth.ts';
import { WorkerHost } from '../../src/queue/worker-host.ts';
import { runKeys } from '../../src/redis/keys.ts';
import type { Simulator } from '../../src/sim/index.ts';
import { runCli } from '../helpers/cli.ts';
import { until, waitFinal } from '../helpers/fleet.ts';
import { connectTestRedis, redisUrl, uniqueRunId } from '../helpers/redis.ts';
import { envFor, startTestSim, writeCsv } from '../helpers/sim.ts';

/**
 * `grantsweep pace`: a run's rate share changed while it runs, taken up by every worker
 * without a restart (an incident run that starves another integration is slowed; a quiet
 * night lets it go faster).
 */
let sim: Simulator | undefined;
let redis: Redis;
beforeAll(async () => {
  redis = await connectTestRedis();
});
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});
afterAll(() => redis.disconnect());

const csvOf = (s: Simulator, count: number) => writeCsv(['userId', ...s.org.sampleUsers({ count, status: 'ACTIVE', minGrants: 1 }).map((u) => u.id)]);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** A small simulator and a run of `count` of its users, by `run` (completed) or `enqueue` (no worker: queued). */
async function smallRun(command: 'run' | 'enqueue', prefix: string, count: number) {
  const s = (sim = await startTestSim({ users: 20 }));
  const env = envFor(s);
  const runId = uniqueRunId(prefix);
  const r = await runCli([command, '--csv', csvOf(s, count), '--yes', '--run-id', runId], env);
  expect(r.code, r.stderr).toBe(0);
  return { env, runId };
}

/** A worker in this process that takes a whole run as one job, started. */
function oneJobWorker(s: Simulator, rateWindowMs: number): WorkerHost {
  const host = new WorkerHost(redis, {
    redisUrl: redisUrl(), orgUrl: s.url, auth: new ApiTokenAuth(s.token), concurrency: 8, maxInFlight: 20,
    requestTimeoutMs: 10_000, rateWindowMs, log: pino({ level: 'silent' }),
    feeder: { intervalMs: 50, spreadOver: 1, maxTargetsPerJob: 1_000 },
  });
  host.start();
  return host;
}

describe('pace', () => {
  it('a worker takes a raised share within a window or two, mid-job, with no 429, and the run completes', async () => {
    // 2-s windows of 120: at --rate-share 0.2 the run gets about 23 a window, at 0.6 about 68.
    const s = (sim = await startTestSim({ users: 600, rateLimits: { 'user-grants': { limit: 120 } }, windowSec: 2 }));
    const env = envFor(s, { GRANTSWEEP_RATE_WINDOW_MS: '2000' });
    const runId = uniqueRunId('pace');
    const e = await runCli(['enqueue', '--csv', csvOf(s, 460), '--yes', '--run-id', runId, '--rate-share', '0.2'], env);
    expect(e.code, e.stderr).toBe(0);
    // All of the run in one job: the share read when a job starts cannot carry the change,
    // only the worker's following of the run as its responses come.
    const host = oneJobWorker(s, 2_000);
    try {
      const windows = () => s.log.snapshot().windows['user-grants'] ?? [];
      await until('three windows at 0.2', () => windows().length >= 4, 30_000);

      const p = await runCli(['pace', runId, '--rate-share', '0.6'], env);
      expect(p.code, p.stderr).toBe(0);
      expect(p.stdout).toMatch(new RegExp(`run ${runId} \\(running\\): rate share 0.2 → 0.6, pacing even → even`));
      const changedAt = Date.now();
      expect(await waitFinal(redis, runId, 60_000)).toBe('completed');

      const all = windows();
      console.log(`[pace] 0.2 → 0.6 of 120 a window: ${JSON.stringify(all.map((w) => [w.count, w.rejected]))}`);
      // Full windows only: the first and the last are cut by the run's start and end; the
      // window of the change holds slots reserved at either share.
      const before = all.slice(1, -1).filter((w) => w.start + 2_000 <= changedAt);
      const after = all.slice(1, -1).filter((w) => w.start >= changedAt + 2_000);
      expect(before.length).toBeGreaterThanOrEqual(2);
      expect(after.length).toBeGreaterThanOrEqual(2);
      // The old share held before (never more than 0.2 of the bucket) and the new one after.
      for (const w of before) expect(w.count).toBeLessThanOrEqual(24);
      for (const w of after) expect(w.count).toBeLessThanOrEqual(72);
      // Loose on a loaded machine, far above what the old share gives (23).
      expect(mean(after.map((w) => w.count))).toBeGreaterThan(45);
      expect(all.reduce((n, w) => n + w.rejected, 0)).toBe(0);
      const status = JSON.parse((await runCli(['status', runId, '--json'], env)).stdout);
      expect(status).toMatchObject({ rateShare: 0.6, counts: { total: 460, revoked: 460, failed: 0 } });
    } finally {
      await host.close();
    }
  });

  it('even → window mid-run: the window of the change does not spend the share again on top of what even pacing sent in it', async () => {
    // 4-s windows of 200: at --rate-share 0.6 the run may send 118 a window (the budget keeps 1 % back).
    const s = (sim = await startTestSim({ users: 900, rateLimits: { 'user-grants': { limit: 200 } }, windowSec: 4 }));
    const env = envFor(s, { GRANTSWEEP_RATE_WINDOW_MS: '4000' });
    const runId = uniqueRunId('pace-window');
    const e = await runCli(['enqueue', '--csv', csvOf(s, 800), '--yes', '--run-id', runId, '--rate-share', '0.6'], env);
    expect(e.code, e.stderr).toBe(0);
    const host = oneJobWorker(s, 4_000);
    try {
      const windows = () => s.log.snapshot().windows['user-grants'] ?? [];
      // Halfway through a window of even pacing: the change comes when the window holds some 60 requests.
      await until('two windows of even pacing and half a third', () => windows().length >= 3 && (windows().at(-1)?.count ?? 0) >= 50, 60_000);
      expect((await runCli(['pace', runId, '--pacing', 'window'], env)).code).toBe(0);
      expect(await waitFinal(redis, runId, 90_000)).toBe('completed');
      const all = windows();
      console.log(`[pace] even → window at 0.6 of 200 a window: ${JSON.stringify(all.map((w) => [w.count, w.rejected]))}`);
      // Every window, the one of the change too, within the run's share.
      for (const w of all) expect(w.count).toBeLessThanOrEqual(120);
      expect(all.reduce((n, w) => n + w.rejected, 0)).toBe(0);
    } finally {
      await host.close();
    }
  }, 120_000);

  it('window → even mid-window: even pacing does not start the window of the change again', async () => {
    // 4-s windows of 200: at --rate-share 0.6 window pacing sends 118 as a window opens, then nothing until the next.
    // Answers take 1.5 s: a burst goes out as its window opens and its answers bring the change halfway through it.
    const s = (sim = await startTestSim({ users: 900, rateLimits: { 'user-grants': { limit: 200 } }, windowSec: 4, concurrencyLimit: 0, faults: { latencyMs: 1_500 } }));
    const env = envFor(s, { GRANTSWEEP_RATE_WINDOW_MS: '4000' });
    const runId = uniqueRunId('pace-even');
    const e = await runCli(['enqueue', '--csv', csvOf(s, 400), '--yes', '--run-id', runId, '--rate-share', '0.6', '--pacing', 'window'], env);
    expect(e.code, e.stderr).toBe(0);
    const host = new WorkerHost(redis, {
      redisUrl: redisUrl(), orgUrl: s.url, auth: new ApiTokenAuth(s.token), concurrency: 128, maxInFlight: 200,
      requestTimeoutMs: 10_000, rateWindowMs: 4_000, log: pino({ level: 'silent' }),
      feeder: { intervalMs: 50, spreadOver: 1, maxTargetsPerJob: 1_000 },
    });
    host.start();
    try {
      const windows = () => s.log.snapshot().windows['user-grants'] ?? [];
      // The second window's burst has begun: its answers bring the change, inside that window.
      await until("a second window's burst", () => windows().length >= 2 && (windows().at(-1)?.count ?? 0) >= 40, 60_000, 5);
      expect((await runCli(['pace', runId, '--pacing', 'even'], env)).code).toBe(0);
      expect(await waitFinal(redis, runId, 90_000)).toBe('completed');
      const all = windows();
      console.log(`[pace] window → even at 0.6 of 200 a window: ${JSON.stringify(all.map((w) => [w.count, w.rejected]))}`);
      // Every window, the one of the change too, within the run's share (not the burst's part, then even pacing's 118 on top).
      for (const w of all) expect(w.count).toBeLessThanOrEqual(120);
      expect(all.reduce((n, w) => n + w.rejected, 0)).toBe(0);
    } finally {
      await host.close();
    }
  }, 120_000);

  it('refuses what it cannot do, with exit 2, and changes nothing', async () => {
    const { env, runId } = await smallRun('run', 'pace-done', 3);
    for (const [args, msg] of [
      [[runId], /give --rate-share F/],
      [[runId, '--rate-share', '1.5'], /--rate-share: expected a number in \(0, 1\], got 1\.5/],
      [[runId, '--rate-share', '0'], /--rate-share: expected a number in \(0, 1\]/],
      [[runId, '--pacing', 'fast'], /--pacing: expected one of even, window, got "fast"/],
      [[runId, '--rate-share', '0.3'], new RegExp(`run ${runId} has completed: there is nothing left to pace`)],
      [['no-such-run', '--rate-share', '0.3'], /run no-such-run: no such run/],
    ] as const) {
      const p = await runCli(['pace', ...args], env);
      expect(p.code, `${args.join(' ')}: ${p.stderr}`).toBe(2);
      expect(p.stderr).toMatch(msg);
    }
    const rep = JSON.parse((await runCli(['status', runId, '--json'], env)).stdout);
    expect(rep).toMatchObject({ rateShare: 0.5, pacing: 'even' });
    expect(await redis.exists(runKeys('no-such-run').meta)).toBe(0);
  });

  it('a halted run keeps its new pace for the retry that resumes it', async () => {
    const { env, runId } = await smallRun('enqueue', 'pace-halted', 5);
    expect((await runCli(['cancel', runId], env)).code).toBe(0);
    const p = await runCli(['pace', runId, '--rate-share', '0.25', '--pacing', 'window', '--json'], env);
    expect(p.code, p.stderr).toBe(0);
    expect(JSON.parse(p.stdout)).toEqual({ runId, state: 'cancelled', before: { rateShare: 0.5, pacing: 'even' }, after: { rateShare: 0.25, pacing: 'window' } });
    const retry = await runCli(['retry', runId, '--wait'], env);
    expect(retry.code, retry.stderr).toBe(0);
    // All its pending targets are said to go, not only those put back at the head of its queue.
    expect(retry.stderr).toMatch(new RegExp(`${runId} resumed: 5 targets to go \\(\\d+ of them put back at the head of its queue\\)`));
    const report = JSON.parse((await runCli(['report', runId], env)).stdout);
    expect(report).toMatchObject({ state: 'completed', counts: { revoked: 5 } });
    expect(report).toMatchObject({ rateShare: 0.25, pacing: 'window' });
  });

  it('a new share counts the run\'s place in the queue afresh; a new pacing alone keeps it', async () => {
    const { env, runId } = await smallRun('enqueue', 'pace-base', 3);
    // Where the feeder would have placed it among the org's runs.
    await redis.hset(runKeys(runId).meta, 'queueBase', '7');
    expect((await runCli(['pace', runId, '--pacing', 'window'], env)).code).toBe(0);
    expect(await redis.hget(runKeys(runId).meta, 'queueBase')).toBe('7');
    expect((await runCli(['pace', runId, '--rate-share', '0.5'], env)).code).toBe(0); // the share it has
    expect(await redis.hget(runKeys(runId).meta, 'queueBase')).toBe('7');
    expect((await runCli(['pace', runId, '--rate-share', '0.3'], env)).code).toBe(0);
    expect(await redis.hget(runKeys(runId).meta, 'queueBase')).toBe('');
    expect((await runCli(['cancel', runId], env)).code).toBe(0);
  });
});
