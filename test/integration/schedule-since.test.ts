import { orgKeyOf } from '../../src/queue/org.ts';
import { scheduleHistory } from '../../src/queue/schedule-overlap.ts';
import type { Job } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { type ScheduleData } from '../../src/queue/schedules.ts';
import { oktaTime } from '../../src/sources/since.ts';
import { runCli } from '../helpers/cli.ts';
import { scheduleFixture } from '../helpers/schedules.ts';
import { sleep, spawnWorkers, stopAll, waitFinal, type Spawned } from '../helpers/fleet.ts';

/**
 * `{{since}}` in a schedule's query, against the simulator over HTTP and a real Redis: each
 * scheduled start (the job a BullMQ job scheduler adds, handed to the worker's processor at a
 * chosen time) asks only for users changed after the schedule's last completed run.
 */
const OVERLAP = 200;
const f = scheduleFixture({ sim: { users: 300 }, sinceOverlapMs: OVERLAP });
let worker: Spawned | undefined;
afterAll(async () => {
  if (worker) await stopAll([worker]);
});
const processor = () => f.start();

describe('{{since}}: a schedule that asks only for what changed', () => {
  it("fills in its last completed run's time: the users changed since then and no others; a cancelled run's window is asked for again", async () => {
    const data: ScheduleData = {
      schedule: `since-${process.pid}-${Date.now().toString(36)}`,
      source: { kind: 'search', value: 'status eq "SUSPENDED" and lastUpdated gt "{{since}}"' },
      target: { clientId: null, scopeId: null },
      dryRun: false, snapshot: false, tokens: false, reason: null, rateShare: null, skipInvalid: false,
      addedAt: Date.now(),
    };
    const start = processor();
    const fire = async () => {
      await sleep(1_100); // run ids carry the scheduled second
      const at = Date.now();
      const job = { data, opts: { prevMillis: at }, id: `repeat:${data.schedule}:${at}`, timestamp: at, delay: 0 } as unknown as Job<ScheduleData>;
      const r = await start(job);
      const meta = await f.store.requireMeta(r.runId);
      return { at, runId: r.runId, targets: r.targets, query: meta.source.value };
    };
    const query = (since: number) => `status eq "SUSPENDED" and lastUpdated gt "${oktaTime(since - OVERLAP)}"`;
    const active = f.sim!.org.sampleUsers({ count: 5, status: 'ACTIVE', minGrants: 1, offset: 100 });

    // First run: from when the schedule was added. The org's suspended users all changed long before.
    const r1 = await fire();
    expect(r1.query).toBe(query(data.addedAt!));
    expect(r1.targets).toBe(0);
    expect(await waitFinal(f.redis, r1.runId)).toBe('completed');

    // Three users suspended now: the next run finds them, and only them.
    for (const u of active.slice(0, 3)) expect(f.sim!.org.setUserStatus(u.id, 'SUSPENDED')).toBe(true);
    const r2 = await fire();
    expect(r2.query).toBe(query(r1.at));
    expect(r2.targets).toBe(3);
    worker = spawnWorkers(1, f.env)[0];
    expect(await waitFinal(f.redis, r2.runId)).toBe('completed');
    const report = JSON.parse((await runCli(['report', r2.runId], f.env)).stdout) as { results: { userId: string; status: string }[] };
    expect(report.results.map((x) => x.userId).sort()).toEqual(active.slice(0, 3).map((u) => u.id).sort());
    expect(report.results.every((x) => x.status === 'revoked')).toBe(true);

    // The run after a completed one starts from it: nothing changed since.
    const r3 = await fire();
    expect(r3.query).toBe(query(r2.at));
    expect(r3.targets).toBe(0);
    expect(await waitFinal(f.redis, r3.runId)).toBe('completed');

    // Two more suspended; their run is cancelled before it is done: the next run asks for its window again.
    await stopAll([worker!]);
    worker = undefined;
    for (const u of active.slice(3)) f.sim!.org.setUserStatus(u.id, 'SUSPENDED');
    const r4 = await fire();
    expect(r4.query).toBe(query(r3.at));
    expect(r4.targets).toBe(2);
    expect((await runCli(['cancel', r4.runId], f.env)).code).toBe(0);
    const r5 = await fire();
    expect(r5.query).toBe(query(r3.at));
    expect(r5.targets).toBe(2);

    // Its run fails them (Okta answers every try 500): a run with failed targets does not count
    // either (before, the next run asked from it, and the two users were never tried again).
    f.sim!.configure({ faults: { errorRate: 1 } });
    worker = spawnWorkers(1, f.env)[0];
    try {
      expect(await waitFinal(f.redis, r5.runId)).toBe('completed');
    } finally {
      f.sim!.configure({ faults: { errorRate: 0 } });
    }
    expect((await f.store.getCounts(r5.runId)).failed).toBe(2);
    // What `schedule list` shows as LAST.
    expect((await scheduleHistory(f.redis, f.store, orgKeyOf(f.sim!.url), data.schedule)).last).toMatchObject({ runId: r5.runId, state: 'completed', failed: 2 });
    const r6 = await fire();
    expect(r6.query).toBe(query(r3.at));
    expect(r6.targets).toBe(2);
    expect(await waitFinal(f.redis, r6.runId)).toBe('completed');
    expect((await f.store.getCounts(r6.runId)).revoked).toBe(2);
    const r7 = await fire();
    expect(r7.query).toBe(query(r6.at));

    // Replaced under its name by another query: it starts from the replacement, not from the old query's runs.
    const replacedAt = Date.now();
    Object.assign(data, { source: { kind: 'search', value: 'status eq "DEPROVISIONED" and lastUpdated gt "{{since}}"' }, addedAt: replacedAt });
    const r8 = await fire();
    expect(r8.query).toBe(`status eq "DEPROVISIONED" and lastUpdated gt "${oktaTime(replacedAt - OVERLAP)}"`);
  }, 90_000);

  it('refuses {{since}} in a one-off run and an unknown placeholder in a schedule (exit 2, nothing stored)', async () => {
    const run = await runCli(['run', '--search', 'lastUpdated gt "{{since}}"', '--yes'], f.env);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--search: \{\{since\}\} is filled in by a schedule \(grantsweep schedule add\) with the time of its last completed run; in a one-off run write the time itself, e\.g\. lastUpdated gt "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"/);
    const add = await runCli(['schedule', 'add', 'bad-since', '--cron', '0 2 * * *', '--filter', 'lastUpdated gt "{{until}}"', '--yes'], f.env);
    expect(add.code).toBe(2);
    expect(add.stderr).toMatch(/--filter: unknown placeholder \{\{until\}\}: the one a schedule fills in is \{\{since\}\}/);
    const list = await runCli(['schedule', 'list', '--json'], f.env);
    expect(JSON.parse(list.stdout)).toEqual([]);
    const ok = await runCli(['schedule', 'add', 'good-since', '--cron', '0 2 * * *', '--filter', 'status eq "SUSPENDED" and lastUpdated gt "{{since}}"', '--yes'], f.env);
    expect(ok.code, ok.stderr).toBe(0);
    const listed = JSON.parse((await runCli(['schedule', 'list', '--json'], f.env)).stdout) as { name: string; run: ScheduleData }[];
    expect(listed.map((s) => s.name)).toEqual(['good-since']);
    expect(listed[0]!.run.source.value).toBe('status eq "SUSPENDED" and lastUpdated gt "{{since}}"');
    expect(listed[0]!.run.addedAt).toBeGreaterThan(Date.now() - 60_000);
    expect((await runCli(['schedule', 'remove', 'good-since'], f.env)).code).toBe(0);
  });
});
