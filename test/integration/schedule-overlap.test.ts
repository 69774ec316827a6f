import { Worker, type Job } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { orgKeyOf } from '../../src/queue/org.ts';
import { INTERRUPTED_LOADING } from '../../src/queue/schedule-overlap.ts';
import { scheduledRunId, schedulesQueueNameOf, type ScheduleData } from '../../src/queue/schedules.ts';
import { orgKeys, queuePrefix } from '../../src/redis/keys.ts';
import { runCli } from '../helpers/cli.ts';
import { scheduleFixture } from '../helpers/schedules.ts';

/**
 * A schedule's time while its previous run is still going: skipped (the default), so that
 * two runs of one schedule never revoke the same targets side by side at twice its share;
 * or started regardless with --overlap allow. Against a real Redis, BullMQ and the simulator.
 */
const f = scheduleFixture({ sim: { users: 60 }, sinceOverlapMs: 0 });
const start = () => f.start();

let seq = 0;
function scheduleData(overlap?: 'skip' | 'allow'): ScheduleData {
  return {
    schedule: `overlap-${process.pid}-${Date.now().toString(36)}-${seq++}`,
    // Active users: targets, and no worker in this file, so a run stays queued until it is cancelled.
    source: { kind: 'search', value: 'status eq "ACTIVE"' },
    target: { clientId: null, scopeId: null },
    dryRun: true, snapshot: false, tokens: false, reason: null, rateShare: null, skipInvalid: false,
    addedAt: Date.now(),
    ...(overlap ? { overlap } : {}),
  };
}

/** A time of the schedule, `i` seconds after a base (run ids carry the second). */
const base = Date.UTC(2026, 10, 29, 2, 0, 0);
const jobAt = (data: ScheduleData, i: number) => {
  const at = base + i * 1_000;
  return { data, opts: { prevMillis: at }, id: `repeat:${data.schedule}:${at}`, timestamp: at, delay: 0 } as unknown as Job<ScheduleData>;
};

describe("a schedule's time while its previous run is still going", () => {
  it('is skipped, recorded and shown by schedule list; the time after the run is final starts a run', async () => {
    const data = scheduleData();
    const fire = start();
    const a = await fire(jobAt(data, 0));
    expect(a.started).toBe(true);
    expect(a.targets).toBeGreaterThan(0);
    expect((await f.store.requireMeta(a.runId)).state).toBe('queued');

    const b = await fire(jobAt(data, 1));
    expect(b).toEqual({ runId: scheduledRunId(data.schedule, base + 1_000), started: false, targets: 0, skippedWhile: a.runId });
    expect(await f.store.getMeta(b.runId)).toBeNull();
    const c = await fire(jobAt(data, 2));
    expect(c.skippedWhile).toBe(a.runId);
    expect(await f.redis.hgetall(orgKeys(orgKeyOf(f.orgUrl)).scheduleSkips(data.schedule))).toEqual({ count: '2', lastAt: String(base + 2_000), while: a.runId });

    // The BullMQ schedule itself, so that `schedule list` shows what its last times did.
    await f.schedules.upsert(data.schedule, { cron: '0 2 * * *', tz: 'UTC' }, data);
    const listed = JSON.parse((await runCli(['schedule', 'list', '--json'], f.env)).stdout) as { name: string; last: unknown; skipped: unknown }[];
    const mine = listed.find((s) => s.name === data.schedule)!;
    expect(mine.last).toEqual({ runId: a.runId, at: new Date(base).toISOString(), state: 'queued' });
    expect(mine.skipped).toEqual({ count: 2, lastAt: new Date(base + 2_000).toISOString(), while: a.runId });
    const table = (await runCli(['schedule', 'list'], f.env)).stdout;
    expect(table).toContain(`${a.runId} queued; skipped ${new Date(base + 2_000).toISOString()} (${a.runId} still going; 2 in all)`);

    expect((await runCli(['cancel', a.runId, '--json'], f.env)).code).toBe(0);
    const d = await fire(jobAt(data, 3));
    expect(d.started).toBe(true);
    expect(d.runId).toBe(scheduledRunId(data.schedule, base + 3_000));
    expect((await runCli(['cancel', d.runId], f.env)).code).toBe(0);
    const after = JSON.parse((await runCli(['schedule', 'list', '--json'], f.env)).stdout) as { name: string; last: { runId: string; state: string } }[];
    expect(after.find((s) => s.name === data.schedule)!.last).toMatchObject({ runId: d.runId, state: 'cancelled' });
    expect((await runCli(['schedule', 'remove', data.schedule], f.env)).code).toBe(0);
    expect(await f.redis.exists(orgKeys(orgKeyOf(f.orgUrl)).scheduleSkips(data.schedule))).toBe(0);
  }, 60_000);

  it('a time that comes late, after a later time started (a redelivered job), is skipped too: the later run covers it', async () => {
    const data = scheduleData();
    const fire = start();
    const t0 = await fire(jobAt(data, 0));
    expect((await fire(jobAt(data, 1))).skippedWhile).toBe(t0.runId);
    expect((await runCli(['cancel', t0.runId], f.env)).code).toBe(0);
    const t2 = await fire(jobAt(data, 2));
    expect(t2.started).toBe(true);
    // T1's job again (its worker died after the skip, before BullMQ marked the job done).
    const again = await fire(jobAt(data, 1));
    expect(again).toMatchObject({ started: false, skippedWhile: t2.runId });
    // After T2 is final too: an older time still does not start behind a newer one.
    expect((await runCli(['cancel', t2.runId], f.env)).code).toBe(0);
    expect((await fire(jobAt(data, 1))).started).toBe(false);
    expect(await f.store.getMeta(scheduledRunId(data.schedule, base + 1_000))).toBeNull();
  }, 30_000);

  it('two workers starting two times of one schedule at once: one run starts, the other time is skipped (the schedule lock)', async () => {
    const holder = new Worker(schedulesQueueNameOf(orgKeyOf(f.orgUrl)), null, { connection: f.redis, prefix: queuePrefix, autorun: false });
    try {
      for (let round = 0; round < 5; round++) {
        const data = scheduleData();
        // Both start jobs active in BullMQ, as two workers hold them.
        for (const i of [10, 11]) await f.schedules.queue.add('start-scheduled-run', data, { timestamp: base + i * 1_000, jobId: `two-${data.schedule}-${i}` });
        const [a, b] = [await holder.getNextJob(`tok-a-${round}`), await holder.getNextJob(`tok-b-${round}`)];
        expect([a?.data.schedule, b?.data.schedule]).toEqual([data.schedule, data.schedule]);
        const results = await Promise.all([start()(a!), start()(b!)]);
        expect(results.filter((r) => r.started)).toHaveLength(1);
        const [started, skipped] = results[0]!.started ? results : [results[1]!, results[0]!];
        expect(skipped!.skippedWhile).toBe(started!.runId);
        await a!.moveToCompleted('done', `tok-a-${round}`, false);
        await b!.moveToCompleted('done', `tok-b-${round}`, false);
        expect((await runCli(['cancel', started!.runId], f.env)).code).toBe(0);
      }
    } finally {
      await holder.close();
    }
  }, 60_000);

  it('starts regardless with --overlap allow', async () => {
    const data = scheduleData('allow');
    const fire = start();
    const a = await fire(jobAt(data, 0));
    const b = await fire(jobAt(data, 1));
    expect([a.started, b.started]).toEqual([true, true]);
    expect(b.skippedWhile).toBeUndefined();
    for (const r of [a, b]) expect((await f.store.requireMeta(r.runId)).state).toBe('queued');
    for (const r of [a, b]) expect((await runCli(['cancel', r.runId], f.env)).code).toBe(0);
  }, 30_000);

  it('halts a run left loading by a worker that died, instead of waiting on it for ever, and starts the next', async () => {
    const data = scheduleData();
    const orphan = await storeLoadingRun(data, 0);
    const next = await start()(jobAt(data, 1));
    expect(next.started).toBe(true);
    const meta = await f.store.requireMeta(orphan);
    expect(meta.state).toBe('halted');
    expect(meta.stateReason).toBe(INTERRUPTED_LOADING);
    expect((await runCli(['cancel', next.runId], f.env)).code).toBe(0);
  }, 30_000);

  it('waits for a run still loading in a live worker (its start job active in BullMQ)', async () => {
    const data = scheduleData();
    const loading = await storeLoadingRun(data, 0);
    // A worker holding the start job of that run, as one does while it lists the directory.
    await f.schedules.queue.add('start-scheduled-run', data, { timestamp: base, jobId: `held-${data.schedule}` });
    const holder = new Worker(schedulesQueueNameOf(orgKeyOf(f.orgUrl)), null, { connection: f.redis, prefix: queuePrefix, autorun: false });
    try {
      const held = await holder.getNextJob('holder-token');
      expect(held?.data.schedule).toBe(data.schedule);
      const next = await start()(jobAt(data, 1));
      expect(next).toMatchObject({ started: false, skippedWhile: loading });
      expect((await f.store.requireMeta(loading)).state).toBe('queued');
      await held!.moveToCompleted('done', 'holder-token', false);
    } finally {
      await holder.close();
    }
    // Its worker gone (the job no longer active), the run is halted by the next time, which starts.
    const later = await start()(jobAt(data, 2));
    expect(later.started).toBe(true);
    expect((await f.store.requireMeta(loading)).state).toBe('halted');
    expect((await runCli(['cancel', later.runId], f.env)).code).toBe(0);
  }, 30_000);
});

describe('schedule add --overlap', () => {
  it('refuses a policy it does not know (exit 2, nothing scheduled) and shows allow in the list', async () => {
    const name = `ovl-${process.pid}-${Date.now().toString(36)}`;
    const bad = await runCli(['schedule', 'add', name, '--cron', '0 2 * * *', '--search', 'status eq "DEPROVISIONED"', '--overlap', 'queue', '--yes'], f.env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--overlap: expected skip or allow, got "queue"');
    const ok = await runCli(['schedule', 'add', name, '--cron', '0 2 * * *', '--search', 'status eq "DEPROVISIONED"', '--overlap', 'allow', '--yes'], f.env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('--overlap allow');
    const listed = JSON.parse((await runCli(['schedule', 'list', '--json'], f.env)).stdout) as { name: string; run: ScheduleData; last: unknown }[];
    expect(listed.find((s) => s.name === name)).toMatchObject({ run: { overlap: 'allow' }, last: null });
    expect((await runCli(['schedule', 'remove', name], f.env)).code).toBe(0);
  });
});

/** What a start job leaves while it lists the directory: the run registered with its schedule, stored, not loaded. */
async function storeLoadingRun(data: ScheduleData, i: number): Promise<string> {
  const at = base + i * 1_000;
  const runId = scheduledRunId(data.schedule, at);
  const orgUrl = f.orgUrl;
  await f.store.createRun({
    runId, orgUrl, orgKey: orgKeyOf(orgUrl), state: 'queued', stateReason: null, dryRun: true, snapshot: false, tokens: false,
    reason: null, source: data.source, target: data.target, rateShare: 0.5, pacing: 'even', attempts: 1, maxRateLimitDeferrals: 1,
    createdAt: at, finishedAt: null, loaded: false, fed: 0, requeueFed: 0, queueBase: null, schedule: data.schedule,
  });
  await f.redis.zadd(orgKeys(orgKeyOf(orgUrl)).scheduleRuns(data.schedule), at, runId);
  return runId;
}
