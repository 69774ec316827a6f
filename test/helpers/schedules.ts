import type { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll } from 'vitest';
import { createStartScheduledRunProcessor } from '../../jobs/start-scheduled-run.ts';
import { ApiTokenAuth } from '../../src/okta/auth.ts';
import { orgKeyOf } from '../../src/queue/org.ts';
import { Schedules } from '../../src/queue/schedules.ts';
import { RunStore } from '../../src/runs/run-store.ts';
import type { SimOptions, Simulator } from '../../src/sim/index.ts';
import { connectTestRedis } from './redis.ts';
import { envFor, startTestSim } from './sim.ts';

/**
 * For a test file of scheduled starts: the suite's Redis, the run store, the org's schedules
 * queue and (with `sim`) a simulator, opened before its tests and closed after them; `start`
 * is the worker's start-scheduled-run processor for that org, to hand jobs to at chosen times.
 * Without `sim` the org is an address nothing answers at: for starts that send nothing.
 */
export function scheduleFixture(opts: { sim?: SimOptions; sinceOverlapMs?: number }) {
  const f = {} as { sim: Simulator | null; orgUrl: string; env: NodeJS.ProcessEnv; redis: Redis; store: RunStore; schedules: Schedules };
  beforeAll(async () => {
    f.sim = opts.sim ? await startTestSim(opts.sim) : null;
    f.orgUrl = f.sim?.url ?? 'http://127.0.0.1:9';
    f.env = f.sim ? envFor(f.sim) : {};
    f.redis = await connectTestRedis();
    f.store = new RunStore(f.redis);
    f.schedules = new Schedules(f.redis, orgKeyOf(f.orgUrl));
  });
  afterAll(async () => {
    await f.schedules?.close();
    await f.sim?.close();
    await f.redis?.quit();
  });
  const start = () =>
    createStartScheduledRunProcessor({
      launch: {
        redis: f.redis, store: f.store, log: pino({ level: 'silent' }), orgUrl: f.orgUrl,
        auth: () => new ApiTokenAuth(f.sim?.token ?? '00unused-token-for-a-test-that-sends-nothing'),
        requestTimeoutMs: 5_000, maxInFlight: 10, rateWindowMs: 60_000, attempts: 3, maxRateLimitDeferrals: 10, pacing: 'even',
      },
      defaultRateShare: 0.5,
      sinceOverlapMs: opts.sinceOverlapMs ?? 60_000,
      startingRunIds: () => f.schedules.startingRunIds(),
      log: pino({ level: 'silent' }),
    });
  return Object.assign(f, { start });
}
