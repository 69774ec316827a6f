import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HEARTBEAT_MS, OutageWatch, STALL_MS } from '../../src/redis/outage.ts';
import { ensureEmbeddedRedis, stopEmbeddedRedis, type EmbeddedRedis } from '../../src/redis/embedded.ts';
import type { Simulator } from '../../src/sim/index.ts';
import { runCli, spawnCli } from '../helpers/cli.ts';
import { checkExactlyOnce, sleep, spawnWorkers, stopAll, until, waitFinal, waitWorkers, type Spawned } from '../helpers/fleet.ts';
import { uniqueRunId } from '../helpers/redis.ts';
import { envFor, startTestSim, writeCsv } from '../helpers/sim.ts';

/**
 * Redis crash: this file runs its own redis-server (append-only, on a loopback port),
 * kills it in the middle of a run and starts it again on the same AOF. The `run`
 * process (producer and worker) and two more workers must reconnect and finish.
 */

const TARGETS = 150;
const DELETE_ALL = 'DELETE /api/v1/users/{userId}/grants';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

let dir: string;
let port: number;
let server: EmbeddedRedis;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gs-redis-crash-'));
  port = await freePort();
  server = await ensureEmbeddedRedis({ dir, port });
});
afterAll(async () => {
  await stopEmbeddedRedis(dir).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

async function crash(how: 'SIGKILL' | 'SHUTDOWN NOSAVE'): Promise<void> {
  if (how === 'SIGKILL') {
    process.kill(server.pid!, 'SIGKILL');
  } else {
    const r = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0 });
    await r.connect();
    await r.call('SHUTDOWN', 'NOSAVE').catch(() => {});
    r.disconnect();
  }
  await until('redis-server to be gone', () => {
    try {
      process.kill(server.pid!, 0);
      return false;
    } catch {
      return true;
    }
  }, 10_000);
}

/**
 * A run and a worker at GRANTSWEEP_REDIS_OUTAGE_MS=2000 lose Redis after 10 DELETEs (`cut`)
 * for longer than that: both give up on their own, without a signal, exit 3 and say why
 * (`warning`, then the give-up line). Then Redis is back (`restore`) and a worker without a
 * limit completes the run, each target exactly once. `cut` returns how long the processes
 * have to give up (a pause ends by itself).
 */
async function outlastedOutage(o: { label: string; prefix: string; warning: RegExp; cut: (redisUrl: string) => Promise<number>; restore: () => Promise<void> }) {
  const sim: Simulator = await startTestSim({ users: 400, faults: { latencyMs: 20 } });
  const redisUrl = `redis://127.0.0.1:${port}`;
  const env = envFor(sim, { REDIS_URL: redisUrl, GRANTSWEEP_LOCK_DURATION_MS: '2000', GRANTSWEEP_MAX_IN_FLIGHT: '20' });
  const limited = { ...env, GRANTSWEEP_REDIS_OUTAGE_MS: '2000' };
  const sample = sim.org.sampleUsers({ count: TARGETS, status: 'ACTIVE', minGrants: 1 });
  const runId = uniqueRunId(o.prefix);
  const deletesBefore = sim.log.snapshot().byEndpoint[DELETE_ALL] ?? 0;
  const deletes = () => (sim.log.snapshot().byEndpoint[DELETE_ALL] ?? 0) - deletesBefore;

  const run = spawnCli(['run', '--csv', writeCsv(['userId', ...sample.map((u) => u.id)]), '--yes', '--run-id', runId, '--concurrency', '3'], limited);
  const limitedWorker = spawnWorkers(1, limited, ['--concurrency', '3'])[0]!;
  let later: Spawned[] = [];
  try {
    const probe = new Redis(redisUrl);
    await waitWorkers(probe, sim.url, 2).finally(() => probe.disconnect());
    await until('10 DELETEs', () => deletes() >= 10, 60_000, 5);
    const deadline = Date.now() + (await o.cut(redisUrl));
    for (const [name, p] of [['run', run], ['worker', limitedWorker]] as const) {
      const out = await Promise.race([p.done, sleep(deadline - Date.now()).then(() => null)]);
      expect(out, `${name} did not give up while Redis was out`).not.toBeNull();
      expect(out!.code, `${name}: ${out!.stderr}`).toBe(3);
      expect(out!.stderr).toMatch(o.warning);
      expect(out!.stderr).toMatch(/Redis has been unreachable for 2 s \(GRANTSWEEP_REDIS_OUTAGE_MS\): gave up/);
      expect(out!.stderr).not.toMatch(/unexpected error/);
    }
    const atExit = deletes();
    expect(atExit).toBeLessThan(TARGETS);

    await o.restore();
    later = spawnWorkers(1, env, ['--concurrency', '3']);
    const redis = new Redis(redisUrl);
    try {
      expect(await waitFinal(redis, runId, 90_000)).toBe('completed');
      const rep = await checkExactlyOnce(redis, runId, env, { targets: TARGETS, users: sample.map((u) => u.id), sim });
      expect(rep.counts.revoked).toBe(TARGETS);
      console.log(`[reliability] ${o.label}: ${JSON.stringify({ targets: TARGETS, deletesBeforeGivingUp: atExit, deletes: deletes() })}`);
    } finally {
      redis.disconnect();
    }
  } finally {
    for (const p of [run, limitedWorker]) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    const codes = await stopAll(later);
    await sim.close();
    expect(codes.map((c) => c.code), codes.map((c) => c.stderr).join('\n')).toEqual(later.map(() => 0));
  }
}

describe('reliability: Redis dies mid-run and comes back on its AOF', () => {
  for (const [i, how] of (['SIGKILL', 'SHUTDOWN NOSAVE'] as const).entries()) {
    it(`${how}: the producer and the workers reconnect and the run completes, each target exactly once`, async () => {
      // A simulator of its own: its own org, hence its own queue, for each crash.
      const sim: Simulator = await startTestSim({ users: 400, faults: { latencyMs: 20 } });
      const redisUrl = `redis://127.0.0.1:${port}`;
      const env = envFor(sim, { REDIS_URL: redisUrl, GRANTSWEEP_LOCK_DURATION_MS: '2000', GRANTSWEEP_MAX_IN_FLIGHT: '20' });
      const sample = sim.org.sampleUsers({ count: TARGETS, status: 'ACTIVE', minGrants: 1, });
      expect(sample).toHaveLength(TARGETS);
      const runId = uniqueRunId(`rcrash${i}`);
      const deletesBefore = sim.log.snapshot().byEndpoint[DELETE_ALL] ?? 0;
      const deletes = () => (sim.log.snapshot().byEndpoint[DELETE_ALL] ?? 0) - deletesBefore;

      const run = spawnCli(['run', '--csv', writeCsv(['userId', ...sample.map((u) => u.id)]), '--yes', '--run-id', runId, '--concurrency', '3'], env);
      let workers: Spawned[] = [];
      try {
        workers = spawnWorkers(2, env, ['--concurrency', '3']);
        const probe = new Redis(redisUrl);
        await waitWorkers(probe, sim.url, 3).finally(() => probe.disconnect());
        const k = 20 + i * 30;
        await until(`${k} DELETEs`, () => deletes() >= k, 60_000, 5);
        await crash(how);
        const atCrash = deletes();
        // Down for a while: every process retries its connection meanwhile.
        await sleep(1_500);
        const during = deletes();
        server = await ensureEmbeddedRedis({ dir, port });
        expect(server.startedNow).toBe(true);

        const out = await Promise.race([run.done, sleep(90_000).then(() => null)]);
        expect(out, 'the run process hung').not.toBeNull();
        expect(out!.code, `${out!.stdout}\n${out!.stderr}`).toBe(0);
        expect(out!.stdout).toMatch(new RegExp(`run ${runId}: completed`));
        // The run process said what happened, and that it waited.
        expect(out!.stderr).toMatch(/Redis connection lost: waiting for it to come back/);
        expect(out!.stderr).toMatch(/Redis connection is back/);

        const redis = new Redis(redisUrl);
        try {
          const rep = await checkExactlyOnce(redis, runId, env, { targets: TARGETS, users: sample.map((u) => u.id), sim });
          expect(rep.counts.revoked).toBe(TARGETS);
          expect(rep.state).toBe('completed');
          console.log(`[reliability] redis ${how}: ${JSON.stringify({ targets: TARGETS, deletesAtCrash: atCrash, deletesWhileDown: during - atCrash, deletes: deletes(), redone: deletes() - TARGETS, maxAttempts: Math.max(...rep.results.map((r) => r.attempts)) })}`);
        } finally {
          redis.disconnect();
        }
      } finally {
        if (run.child.exitCode === null) run.child.kill('SIGKILL');
        const codes = await stopAll(workers);
        await sim.close();
        expect(codes.map((c) => c.code), codes.map((c) => c.stderr).join('\n')).toEqual(workers.map(() => 0));
      }
    }, 180_000);
  }

  it('Redis does not come back within GRANTSWEEP_REDIS_OUTAGE_MS: run and worker exit 3, nothing is lost, a worker finishes the run later', async () => {
    await outlastedOutage({
      label: 'redis gone',
      prefix: 'rgone',
      warning: /Redis connection lost: waiting for it to come back/,
      cut: async () => {
        await crash('SIGKILL');
        return 30_000;
      },
      // Back on its AOF.
      restore: async () => {
        server = await ensureEmbeddedRedis({ dir, port });
      },
    });
  }, 180_000);

  it('OutageWatch: a Redis that stops answering on an open connection is an outage from its unanswered PING, and its answer ends it', async () => {
    const lines: { level: number; msg: string }[] = [];
    const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
    const watched = new Redis(`redis://127.0.0.1:${port}`);
    const control = new Redis(`redis://127.0.0.1:${port}`);
    const watch = new OutageWatch(watched, log);
    let gaveUpAt: number | null = null;
    try {
      await Promise.all([watched.ping(), control.ping()]);
      watch.giveUpAfter(STALL_MS + HEARTBEAT_MS * 3, () => (gaveUpAt = Date.now()));
      await control.call('CLIENT', 'PAUSE', String(STALL_MS + HEARTBEAT_MS * 2), 'ALL');
      await until('the silence to be noticed', () => lines.some((l) => /not answering/.test(l.msg)), STALL_MS + HEARTBEAT_MS * 3, 50);
      // Not before STALL_MS of silence: the watch's own count of it, in the line it wrote.
      const silentFor = Number(/no reply for (\d+) s/.exec(lines.find((l) => /not answering/.test(l.msg))!.msg)?.[1]);
      expect(silentFor).toBeGreaterThanOrEqual(STALL_MS / 1000);
      await until('the answer to end it', () => lines.some((l) => l.msg === 'Redis is answering again'), 30_000, 50);
      // It ended before the limit: no give-up, now or later.
      await sleep(HEARTBEAT_MS * 2);
      expect(gaveUpAt).toBeNull();
      expect(lines.map((l) => l.msg)).toEqual([expect.stringMatching(/^Redis is not answering \(the connection is open; no reply for \d+ s\): waiting for it$/), 'Redis is answering again']);
      expect(lines.every((l) => l.level === 40)).toBe(true);
    } finally {
      watch.stop();
      watched.disconnect();
      control.disconnect();
    }
  }, 60_000);

  it('Redis keeps the connection open and stops answering (CLIENT PAUSE ALL): run and worker warn, give up after GRANTSWEEP_REDIS_OUTAGE_MS, exit 3; a worker finishes the run once Redis answers', async () => {
    // Every client's commands wait, on connections that stay open: no error, no reconnect.
    // For PAUSE ms: ioredis' CLIENT UNPAUSE would itself wait for the pause's end.
    const PAUSE = 25_000;
    let pausedAt = 0;
    await outlastedOutage({
      label: 'redis silent',
      prefix: 'rsilent',
      warning: /Redis is not answering \(the connection is open; no reply for \d+ s\): waiting for it/,
      cut: async (redisUrl) => {
        const control = new Redis(redisUrl);
        pausedAt = Date.now();
        await control.call('CLIENT', 'PAUSE', String(PAUSE), 'ALL').finally(() => control.disconnect());
        return PAUSE - (Date.now() - pausedAt);
      },
      restore: () => sleep(PAUSE - (Date.now() - pausedAt)),
    });
  }, 180_000);

  it('Redis gone while enqueue stores the targets: it gives up after GRANTSWEEP_REDIS_OUTAGE_MS, exit 3, and the run never starts', async () => {
    // A directory query of 5,000 users, 150 ms a page of 200: a few seconds of loading.
    const sim: Simulator = await startTestSim({ users: 5_000, grantsPerUser: 1, faults: { latencyMs: 150 } });
    const redisUrl = `redis://127.0.0.1:${port}`;
    const env = envFor(sim, { REDIS_URL: redisUrl, GRANTSWEEP_REDIS_OUTAGE_MS: '1500' });
    const runId = uniqueRunId('rgone-load');
    const listings = () => sim.log.snapshot().byEndpoint['GET /api/v1/users'] ?? 0;
    const enqueue = spawnCli(['enqueue', '--search', 'status eq "ACTIVE"', '--yes', '--run-id', runId], env);
    try {
      await until('three pages listed', () => listings() >= 3, 30_000);
      await crash('SIGKILL');
      const out = await Promise.race([enqueue.done, sleep(30_000).then(() => null)]);
      expect(out, 'enqueue did not give up').not.toBeNull();
      expect(out!.code, out!.stderr).toBe(3);
      expect(out!.stdout).toBe('');
      expect(out!.stderr).toMatch(new RegExp(`Redis has been unreachable for 1.5 s \\(GRANTSWEEP_REDIS_OUTAGE_MS\\): gave up while storing the targets of run ${runId}: nothing of it was revoked, and it will not start`));
      expect(out!.stderr).not.toMatch(/unexpected error/);

      server = await ensureEmbeddedRedis({ dir, port });
      const status = await runCli(['status', runId, '--json'], env);
      expect(status.code, status.stderr).toBe(0);
      expect(JSON.parse(status.stdout)).toMatchObject({ state: 'queued', loaded: false });
      expect(Object.keys(sim.log.snapshot().byEndpoint).filter((k) => k.startsWith('DELETE '))).toEqual([]);
    } finally {
      if (enqueue.child.exitCode === null) enqueue.child.kill('SIGKILL');
      await sim.close();
    }
  }, 120_000);
});
