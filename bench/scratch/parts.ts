import { Queue, Worker } from 'bullmq';
import pLimit from 'p-limit';
import { SharedBudget } from '../../src/queue/budget.ts';
import { createRedis } from '../../src/redis/connection.ts';
import { RunStore } from '../../src/runs/run-store.ts';
import { newRecord } from '../../src/runs/record.ts';
import { Harness, startRedis, cpuSeconds } from '../lib/harness.ts';
const h = Harness.start('scratch', 300_000);
const r = await startRedis(h);
const N = 10000;
const redis = createRedis({ url: r.url }); await redis.connect();
async function measure(name: string, fn: () => Promise<void>) {
  const c0 = process.cpuUsage(); const rc0 = cpuSeconds(r.pid)!; const t0 = performance.now();
  await fn();
  const ms = performance.now() - t0; const c = process.cpuUsage(c0); const rc = cpuSeconds(r.pid)! - rc0;
  console.log(`${name.padEnd(40)} ${(N / (ms / 1000)).toFixed(0).padStart(6)}/s  node cpu ${((c.user + c.system) / 1e3 / N).toFixed(3)} ms/op  redis ${(rc * 1000 / N).toFixed(3)} ms/op`);
}
const lim = pLimit(8);
const all = (f: (i: number) => Promise<unknown>) => Promise.all(Array.from({ length: N }, (_, i) => lim(() => f(i)))).then(() => {});
// budget
const budget = new SharedBudget(redis, { orgKey: 'x', maxInFlight: 16, leaseMs: 15000, windowMs: 60000 });
const meta = { status: 204, rate: { limit: 1000000, remaining: 999999, reset: null, concurrency: false, requestId: null }, durationMs: 1 } as any;
(await budget.acquire({ method: 'DELETE', path: '/x', bucket: 'user-grants', runId: 'r' })).release(meta);
await new Promise(r => setTimeout(r, 200));
await measure('budget acquire+release', () => all(async () => { const l = await budget.acquire({ method: 'DELETE', path: '/x', bucket: 'user-grants', runId: 'r' }); l.release(meta); }));
// store
const store = new RunStore(redis);
await store.createRun({ runId: 'r1', orgUrl: 'http://127.0.0.1:1', orgKey: 'x', source: { kind: 'csv', value: 'x' }, target: { clientId: null, scopeId: null }, dryRun: false, snapshot: false, reason: null, rateShare: 0.5, attempts: 5, maxRateLimitDeferrals: 50, schedule: null, state: 'queued', stateReason: null, createdAt: Date.now(), finishedAt: null, loaded: false, fed: 0 } as any);
const items = Array.from({ length: N }, (_, i) => ({ key: `k${i}`.padEnd(16, 'x'), record: newRecord({ userId: '00u' + String(i).padStart(17, '0'), login: null, clientId: null, scopeId: null, grantId: null, line: i + 2 }) }));
for (let i = 0; i < N; i += 1000) await store.addTargets('r1', items.slice(i, i + 1000));
await measure('store getRecord+recordResult', () => all(async (i) => { const rec = (await store.getRecord('r1', items[i]!.key))!; await store.recordResult('r1', items[i]!.key, { ...rec, status: 'revoked', httpStatus: 204, attempts: 1, finishedAt: Date.now() }); }));
// bullmq no-op
const conn = createRedis({ url: r.url, role: 'worker' });
const q = new Queue('bench', { connection: conn, prefix: '{gsq}' });
for (let i = 0; i < N; i += 1000) await q.addBulk(Array.from({ length: 1000 }, (_, j) => ({ name: 'revoke-target', data: { runId: 'r1', key: `k${i + j}` }, opts: { jobId: `r1.k${i + j}`, attempts: 5, backoff: { type: 'okta' } } })));
let done = 0; let resolve!: () => void; const finished = new Promise<void>((r) => (resolve = r));
const w = new Worker('bench', async () => { if (++done === N) resolve(); }, { connection: conn, prefix: '{gsq}', concurrency: 8, autorun: false, limiter: { max: 1_000_000, duration: 1000 }, removeOnComplete: { count: 0 }, removeOnFail: { count: 10000 } });
await measure('bullmq job (no-op processor, limiter)', async () => { void w.run(); await finished; });
await w.close();
const q2 = new Queue('bench2', { connection: conn, prefix: '{gsq}' });
for (let i = 0; i < N; i += 1000) await q2.addBulk(Array.from({ length: 1000 }, (_, j) => ({ name: 'revoke-target', data: { runId: 'r1', key: `k${i + j}` }, opts: { jobId: `r1.k${i + j}`, attempts: 5, backoff: { type: 'okta' } } })));
done = 0; const finished2 = new Promise<void>((r) => (resolve = r));
const w2 = new Worker('bench2', async () => { if (++done === N) resolve(); }, { connection: conn, prefix: '{gsq}', concurrency: 8, autorun: false, removeOnComplete: { count: 0 }, removeOnFail: { count: 10000 } });
await measure('bullmq job (no-op processor, no limiter)', async () => { void w2.run(); await finished2; });
await w2.close();
const q3 = new Queue('bench3', { connection: conn, prefix: '{gsq}' });
await measure('bullmq addBulk (per job)', async () => { for (let i = 0; i < N; i += 1000) await q3.addBulk(Array.from({ length: 1000 }, (_, j) => ({ name: 'revoke-target', data: { runId: 'r1', key: `k${i + j}` }, opts: { jobId: `r1.k${i + j}`, attempts: 5, backoff: { type: 'okta' } } }))); });
await q.close(); await q2.close(); await q3.close(); conn.disconnect(); redis.disconnect();
await h.close();
