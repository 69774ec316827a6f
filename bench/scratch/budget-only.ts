import { Redis } from 'ioredis';
import pLimit from 'p-limit';
import { SharedBudget } from '../../src/queue/budget.ts';
import { ProcessGate } from '../../src/queue/process-gate.ts';
import { Harness, startRedis } from '../lib/harness.ts';
const h = Harness.start('scratch', 120_000);
const r = await startRedis(h);
const redis = new Redis(r.url);
const budget = new SharedBudget(redis, { orgKey: 'x', maxInFlight: 16, leaseMs: 15000, windowMs: 60000 });
const gate = process.argv[2] === 'gate' ? new ProcessGate(budget, 8) : budget;
const meta = (n: number) => ({ status: 200, rate: { limit: 1000000, remaining: 999999, reset: null, concurrency: false, requestId: null }, durationMs: 1 } as any);
// learn
const l0 = await budget.acquire({ method: 'DELETE', path: '/x', bucket: 'user-grants', runId: 'r' }); l0.release(meta(0));
await new Promise(r => setTimeout(r, 100));
const N = 8000; const limit = pLimit(8);
const t0 = performance.now();
const lat: number[] = [];
await Promise.all(Array.from({ length: N }, (_, i) => limit(async () => {
  const a = performance.now();
  const lease = await gate.acquire({ method: 'DELETE', path: '/x', bucket: 'user-grants', runId: 'r' });
  lat.push(performance.now() - a);
  lease.release(meta(i));
})));
const ms = performance.now() - t0;
lat.sort((a, b) => a - b);
console.log(`${Math.round(N / (ms / 1000))}/s; acquire p50 ${lat[N/2|0].toFixed(2)} p99 ${lat[N*0.99|0].toFixed(2)} max ${lat[N-1].toFixed(1)} ms`);
redis.disconnect();
await h.close();
