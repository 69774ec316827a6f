/**
 * Where figure 3's time goes: each piece a worker runs per target, alone, at concurrency 8
 * in this process, 10,000 times: its rate, this process's CPU per operation and Redis's
 * CPU per operation. Not a figure of the issue: the breakdown behind figure 3 in
 * BENCHMARKS.md.
 *
 *   node --import tsx bench/overhead-parts.ts [--ops 10000]
 */
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { Queue, Worker } from 'bullmq';
import pLimit from 'p-limit';
import pino from 'pino';
import { REDACT_PATHS } from '../src/log.ts';
import { ApiTokenAuth } from '../src/okta/auth.ts';
import { OktaClient } from '../src/okta/client.ts';
import { SharedBudget } from '../src/queue/budget.ts';
import { createRedis } from '../src/redis/connection.ts';
import { queuePrefix } from '../src/redis/keys.ts';
import { newRecord } from '../src/runs/record.ts';
import type { RunMeta } from '../src/runs/run-meta.ts';
import { RunStore } from '../src/runs/run-store.ts';
import { flagValue, Harness, report, round, startRedis, startSim, userIds } from './lib/harness.ts';

const N = Number(flagValue('--ops') ?? 10_000);
const C = 8;
const h = Harness.start('overhead-parts', 10 * 60_000);
try {
  const r = await startRedis(h);
  const sim = await startSim(h, ['--users', String(N), '--seed', '1', '--no-rate-limit', '--concurrency-limit', '0']);
  const redis = createRedis({ url: r.url });
  await redis.connect();
  const rows: { part: string; perSec: number; nodeCpuMs: number; redisCpuMs: number }[] = [];
  const measure = async (part: string, fn: () => Promise<void>) => {
    const c0 = process.cpuUsage();
    const r0 = r.cpu();
    const t0 = performance.now();
    await fn();
    const ms = performance.now() - t0;
    const c = process.cpuUsage(c0);
    rows.push({ part, perSec: round(N / (ms / 1000), 0), nodeCpuMs: round((c.user + c.system) / 1e3 / N, 3), redisCpuMs: round(((r.cpu() - r0) * 1000) / N, 3) });
  };
  const limit = pLimit(C);
  const all = (f: (i: number) => Promise<unknown>) => Promise.all(Array.from({ length: N }, (_, i) => limit(() => f(i)))).then(() => {});

  // The Okta client alone (the baseline's whole work).
  const ids = userIds(N, { seed: 1 });
  const client = new OktaClient({ orgUrl: sim.url, auth: new ApiTokenAuth(sim.token), connections: C });
  await measure('Okta client: DELETE /users/{id}/grants', () => all((i) => client.revokeUserGrants(ids[i]!)));
  await client.close();

  // The shared budget: acquire + release, the bucket's limit already learned.
  const budget = new SharedBudget(redis, { orgKey: 'parts', maxInFlight: 2 * C, leaseMs: 15_000, windowMs: 60_000 });
  const meta = { status: 204, rate: { limit: 1_000_000, remaining: 999_999, resetAt: null, date: null, requestId: null, concurrency: false, resetDuplicated: false }, durationMs: 1 };
  const desc = { method: 'DELETE' as const, path: '/api/v1/users/x/grants', bucket: 'user-grants' as const, runId: 'parts' };
  (await budget.acquire(desc)).release(meta);
  await new Promise((res) => setTimeout(res, 200));
  await measure('shared budget: acquire + release (2 scripts)', () => all(async () => (await budget.acquire(desc)).release(meta)));

  // The run store: read the record, record the result (what the processor does).
  const store = new RunStore(redis);
  const runMeta = {
    runId: 'parts', orgUrl: sim.url, orgKey: 'parts', source: { kind: 'csv', value: 'x' }, target: { clientId: null, scopeId: null },
    dryRun: false, snapshot: false, reason: null, rateShare: 0.5, attempts: 5, maxRateLimitDeferrals: 50, schedule: null,
    state: 'queued', stateReason: null, createdAt: Date.now(), finishedAt: null, loaded: false, fed: 0,
  } as RunMeta;
  await store.createRun(runMeta);
  const keys = ids.map((_, i) => `k${String(i).padStart(15, '0')}`);
  for (let i = 0; i < N; i += 1000) {
    await store.addTargets('parts', keys.slice(i, i + 1000).map((key, j) => ({ key, record: newRecord({ userId: ids[i + j]!, login: null, clientId: null, scopeId: null, grantId: null, line: i + j + 2 }) })));
  }
  await measure('run store: getRecord + recordResult', () =>
    all(async (i) => {
      const rec = (await store.getRecord('parts', keys[i]!))!;
      await store.recordResult('parts', keys[i]!, { ...rec, status: 'revoked', httpStatus: 204, attempts: 1, finishedAt: Date.now() });
    }),
  );

  // BullMQ: a job through a worker with the host's options and an empty processor.
  const connection = createRedis({ url: r.url, role: 'worker' });
  const queue = new Queue('parts', { connection, prefix: queuePrefix });
  const jobs = (from: number) => Array.from({ length: 1000 }, (_, j) => ({ name: 'revoke-targets', data: { runId: 'parts', keys: [keys[from + j]!] }, opts: { jobId: `parts.${keys[from + j]}`, attempts: 5, backoff: { type: 'okta' } } }));
  await measure('BullMQ: addBulk (feeder), per job', async () => {
    for (let i = 0; i < N; i += 1000) await queue.addBulk(jobs(i));
  });
  let done = 0;
  let finished!: () => void;
  const allDone = new Promise<void>((res) => (finished = res));
  const worker = new Worker('parts', async () => void (++done === N && finished()), {
    connection, prefix: queuePrefix, concurrency: C, autorun: false,
    limiter: { max: 1_000_000, duration: 1_000 }, removeOnComplete: { count: 0 }, removeOnFail: { count: 10_000 },
  });
  await measure('BullMQ: a job through a worker (empty processor)', async () => {
    void worker.run();
    await allDone;
  });
  await worker.close();
  await queue.close();
  connection.disconnect();

  // The processor's log line per target (pino, redaction, async file destination).
  const dest = pino.destination({ dest: join(h.tmp, 'log.jsonl'), sync: false });
  const logger = pino({ level: 'info', redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { pid: process.pid } }, dest);
  await measure('log line per target (pino, info)', async () => {
    for (let i = 0; i < N; i++) {
      logger.info({ runId: 'parts', target: keys[i], userId: ids[i], login: null, clientId: null, scopeId: null, grantId: null, status: 'revoked', grantsRevoked: null, httpStatus: 204, errorCode: null, requestId: 'abc', attempts: 1 }, 'target revoked');
      if (i % 100 === 0) await new Promise((res) => setImmediate(res));
    }
    await new Promise<void>((res) => dest.flush(() => res()));
  });
  createWriteStream(join(h.tmp, 'x')).destroy();
  redis.disconnect();

  const engine = rows.filter((x) => !x.part.startsWith('Okta client'));
  const sum = round(engine.reduce((a, x) => a + x.nodeCpuMs, 0), 3);
  const redisSum = round(engine.reduce((a, x) => a + x.redisCpuMs, 0), 3);
  report(
    'overhead-parts',
    `overhead-parts: per target, the engine's pieces cost ${sum} ms of worker CPU and ${redisSum} ms of Redis CPU; the Okta client alone ${rows[0]!.nodeCpuMs} ms`,
    { ops: N, concurrency: C, rows },
  );
  for (const x of rows) process.stderr.write(`  ${x.part.padEnd(48)} ${String(x.perSec).padStart(6)}/s  worker ${x.nodeCpuMs} ms  redis ${x.redisCpuMs} ms\n`);
} finally {
  await h.close();
}
