import type { Redis } from 'ioredis';
import type { Job } from 'bullmq';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStartScheduledRunProcessor } from '../../jobs/start-scheduled-run.ts';
import { ApiTokenAuth } from '../../src/okta/auth.ts';
import { orgKeyOf } from '../../src/queue/org.ts';
import { scheduledRunId, Schedules, type ScheduleData } from '../../src/queue/schedules.ts';
import { orgKeys } from '../../src/runs/keys.ts';
import { RunStore } from '../../src/runs/run-store.ts';
import { connectTestRedis } from '../helpers/redis.ts';

let redis: Redis;
let store: RunStore;
let schedules: Schedules;
const orgUrl = 'http://127.0.0.1:9';

beforeAll(async () => {
  redis = await connectTestRedis();
  store = new RunStore(redis);
  schedules = new Schedules(redis, orgKeyOf(orgUrl));
});
afterAll(async () => {
  await schedules.close();
  await redis.quit();
});

const data: ScheduleData = {
  schedule: `redeliver-${process.pid}-${Date.now().toString(36)}`,
  source: { kind: 'search', value: 'status eq "DEPROVISIONED"' },
  target: { clientId: null, scopeId: null },
  dryRun: false,
  snapshot: false,
  tokens: false,
  reason: null,
  rateShare: null,
  skipInvalid: false,
};

function processor() {
  return createStartScheduledRunProcessor({
    launch: {
      redis,
      store,
      log: pino({ level: 'silent' }),
      orgUrl,
      auth: () => new ApiTokenAuth('00unused-token-for-a-test-that-sends-nothing'),
      requestTimeoutMs: 1_000,
      maxInFlight: 1,
      rateWindowMs: 60_000,
      attempts: 1,
      maxRateLimitDeferrals: 1,
      pacing: 'even',
    },
    defaultRateShare: 0.5,
    startingRunIds: () => schedules.startingRunIds(),
    sinceOverlapMs: 60_000,
    log: pino({ level: 'silent' }),
  });
}

describe('a scheduled run delivered twice', () => {
  it('halts a run whose first worker died while loading it, instead of leaving it queued for ever', async () => {
    const at = Date.UTC(2026, 10, 27, 2, 0, 0);
    const runId = scheduledRunId(data.schedule, at);
    // What a worker that died half-way through loading leaves behind: a stored, unloaded, queued run.
    await store.createRun({
      runId, orgUrl, orgKey: orgKeyOf(orgUrl), state: 'queued', stateReason: null, dryRun: false, snapshot: false, tokens: false,
      reason: null, source: data.source, target: data.target, rateShare: 0.5, pacing: 'even', attempts: 1, maxRateLimitDeferrals: 1,
      createdAt: at, finishedAt: null, loaded: false, fed: 0, requeueFed: 0, queueBase: null, schedule: data.schedule,
    });
    const job = { data, opts: { prevMillis: at }, id: `repeat:${data.schedule}:${at}`, timestamp: at, delay: 0 } as unknown as Job<ScheduleData>;
    const result = await processor()(job);
    expect(result).toEqual({ runId, started: false, targets: 0 });
    const meta = await store.requireMeta(runId);
    expect(meta.state).toBe('halted');
    expect(meta.stateReason).toMatch(/loading was interrupted/);
    expect(await redis.sismember(orgKeys(orgKeyOf(orgUrl)).active, runId)).toBe(0);
  });
});
