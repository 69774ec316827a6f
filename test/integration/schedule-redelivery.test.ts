import type { Job } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { orgKeyOf } from '../../src/queue/org.ts';
import { scheduledRunId, type ScheduleData } from '../../src/queue/schedules.ts';
import { orgKeys } from '../../src/redis/keys.ts';
import { scheduleFixture } from '../helpers/schedules.ts';

// No simulator: the org is an address nothing answers at (these starts send nothing).
const f = scheduleFixture({});

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

const processor = () => f.start();

describe('a scheduled run delivered twice', () => {
  it('halts a run whose first worker died while loading it, instead of leaving it queued for ever', async () => {
    const at = Date.UTC(2026, 10, 27, 2, 0, 0);
    const runId = scheduledRunId(data.schedule, at);
    // What a worker that died half-way through loading leaves behind: a stored, unloaded, queued run.
    await f.store.createRun({
      runId, orgUrl: f.orgUrl, orgKey: orgKeyOf(f.orgUrl), state: 'queued', stateReason: null, dryRun: false, snapshot: false, tokens: false,
      reason: null, source: data.source, target: data.target, rateShare: 0.5, pacing: 'even', attempts: 1, maxRateLimitDeferrals: 1,
      createdAt: at, finishedAt: null, loaded: false, fed: 0, requeueFed: 0, queueBase: null, schedule: data.schedule,
    });
    const job = { data, opts: { prevMillis: at }, id: `repeat:${data.schedule}:${at}`, timestamp: at, delay: 0 } as unknown as Job<ScheduleData>;
    const result = await processor()(job);
    expect(result).toEqual({ runId, started: false, targets: 0 });
    const meta = await f.store.requireMeta(runId);
    expect(meta.state).toBe('halted');
    expect(meta.stateReason).toMatch(/loading was interrupted/);
    expect(await f.redis.sismember(orgKeys(orgKeyOf(f.orgUrl)).active, runId)).toBe(0);
  });
});
