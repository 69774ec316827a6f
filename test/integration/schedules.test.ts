import { rmSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunStore } from '../../src/runs/run-store.ts';
import { startSimulator, type Simulator } from '../../src/sim/index.ts';
import { runCli, spawnCli } from '../helpers/cli.ts';
import { leaversCsv, simEnv, tempDir, until, type TempDir } from '../helpers/operator.ts';
import { connectTestRedis } from '../helpers/redis.ts';

describe('grantsweep schedule', () => {
  let sim: Simulator;
  let dir: TempDir;
  let redis: Redis;
  let store: RunStore;
  let env: NodeJS.ProcessEnv;
  let worker: ReturnType<typeof spawnCli> | null = null;
  const tag = `${process.pid.toString(36)}${Date.now().toString(36)}`;

  beforeAll(async () => {
    sim = await startSimulator({ users: 100, windowSec: 1, rateLimits: { 'user-grants': 200, 'user-get': 1000 } });
    dir = tempDir();
    redis = await connectTestRedis();
    store = new RunStore(redis);
    env = simEnv(sim, dir.path, { GRANTSWEEP_RATE_WINDOW_MS: '1000' });
  });

  afterAll(async () => {
    if (worker && worker.child.exitCode === null) {
      worker.child.kill('SIGKILL');
      await worker.done;
    }
    await sim.close();
    await redis.quit();
    dir.remove();
  });

  it('a schedule every two seconds starts runs named after it and its time, which the worker completes; list shows it; remove ends it', async () => {
    const name = `every2s-${tag}`;
    const users = sim.org.sampleUsers({ count: 5, status: 'ACTIVE', minGrants: 1 });
    const csv = dir.file('leavers.csv', leaversCsv(users.map((u) => u.id)));
    const add = await runCli(['schedule', 'add', name, '--cron', '*/2 * * * * *', '--csv', csv, '--snapshot', '--tokens', '--reason', 'nightly cleanup', '--rate-share', '0.4', '--pacing', 'window', '--yes'], env);
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toMatch(new RegExp(`^schedule ${name} added: --cron "\\*/2 \\* \\* \\* \\* \\*" --tz UTC, next run \\d{4}-\\d\\d-\\d\\dT`));

    const listed = JSON.parse((await runCli(['schedule', 'list', '--json'], env)).stdout);
    const mine = listed.find((s: { name: string }) => s.name === name);
    expect(mine).toMatchObject({
      name,
      cron: '*/2 * * * * *',
      tz: 'UTC',
      run: { schedule: name, source: { kind: 'csv', value: csv }, snapshot: true, tokens: true, dryRun: false, reason: 'nightly cleanup', rateShare: 0.4, pacing: 'window', overlap: 'skip' },
    });
    expect(Date.parse(mine.next)).toBeGreaterThan(0);
    // What `add` said is what `list` says (no worker has moved it on yet).
    expect(add.stdout).toContain(`next run ${mine.next}:`);
    // The schedule holds the run's flags, never the credential.
    expect(JSON.stringify(listed)).not.toContain(sim.token);
    const table = (await runCli(['schedule', 'list'], env)).stdout;
    expect(table).toMatch(new RegExp(`^${name}\\s+\\*/2 \\* \\* \\* \\* \\*\\s+UTC\\s+\\S+\\s+-\\s+--csv ${csv} --snapshot --tokens --rate-share 0.4 --pacing window --reason 'nightly cleanup'$`, 'm'));

    worker = spawnCli(['worker'], env);
    const runs = await until(async () => {
      const mineRuns = (await store.listRuns(1_000)).filter((r) => r.schedule === name);
      return mineRuns.length >= 2 && mineRuns;
    }, 'two scheduled runs', 40_000);

    const ids = runs.map((r) => r.runId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const r of runs) {
      expect(r.runId).toMatch(new RegExp(`^${name}-\\d{8}T\\d{6}Z$`));
      // Each run's time is a tick of the pattern: an even second.
      expect(Number(r.runId.slice(-3, -1)) % 2).toBe(0);
      // The schedule's pacing, not the worker's default (even).
      expect(r).toMatchObject({ snapshot: true, tokens: true, reason: 'nightly cleanup', rateShare: 0.4, pacing: 'window', source: { kind: 'csv', value: csv } });
    }
    // The worker processes them like any other run.
    const first = runs.at(-1)!.runId;
    await until(async () => (await store.getMeta(first))?.state === 'completed', 'the first scheduled run to complete', 20_000);
    expect((await store.getCounts(first)).total).toBe(5);

    const removed = await runCli(['schedule', 'remove', name], env);
    expect(removed.code, removed.stderr).toBe(0);
    const after = JSON.parse((await runCli(['schedule', 'list', '--json'], env)).stdout);
    expect(after.map((s: { name: string }) => s.name)).not.toContain(name);
    const again = await runCli(['schedule', 'remove', name], env);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('no such schedule');

    worker.child.kill('SIGTERM');
    expect((await worker.done).code).toBe(0);
  });

  it('a scheduled run whose CSV is gone by its time is stored halted with the reason, not lost', async () => {
    const name = `gone-${tag}`;
    const csv = dir.file('gone.csv', leaversCsv(['00uaaaaaaaaaaaaaaaaa']));
    expect((await runCli(['schedule', 'add', name, '--cron', '*/2 * * * * *', '--csv', csv, '--yes'], env)).code).toBe(0);
    rmSync(csv);
    const w = spawnCli(['worker'], env);
    try {
      const run = await until(async () => (await store.listRuns(1_000)).find((r) => r.schedule === name), 'the scheduled run', 30_000);
      expect(run.state).toBe('halted');
      expect(run.stateReason).toContain(csv);
      expect((await store.getCounts(run.runId)).total).toBe(0);
    } finally {
      await runCli(['schedule', 'remove', name], env);
      w.child.kill('SIGTERM');
      await w.done;
    }
  });

  it('a scheduled CSV that names a grantId by its time, under a schedule with --client, makes a halted run that says why', async () => {
    const name = `grantrow-${tag}`;
    const csv = dir.file('grantrow.csv', leaversCsv(['00uaaaaaaaaaaaaaaaaa']));
    expect((await runCli(['schedule', 'add', name, '--cron', '*/2 * * * * *', '--csv', csv, '--client', '0oaSOMEAPP0000000000', '--yes'], env)).code).toBe(0);
    // Rewritten after `schedule add` checked it: a row now names one grant, which --client cannot narrow.
    dir.file('grantrow.csv', 'userId,grantId\n00uaaaaaaaaaaaaaaaaa,oagSOMEGRANT00000000\n');
    const w = spawnCli(['worker'], env);
    try {
      const run = await until(async () => (await store.listRuns(1_000)).find((r) => r.schedule === name), 'the scheduled run', 30_000);
      expect(run.state).toBe('halted');
      expect(run.stateReason).toMatch(/grantrow\.csv:2: names a grantId, which is revoked whole whatever --client says/);
      expect((await store.getCounts(run.runId)).total).toBe(0);
    } finally {
      await runCli(['schedule', 'remove', name], env);
      w.child.kill('SIGTERM');
      await w.done;
    }
  });

  it('refuses what a worker could not run later: a relative or missing CSV, a bad zone, a bad pattern, a run id', async () => {
    const csv = dir.file('ok.csv', leaversCsv(['00uaaaaaaaaaaaaaaaaa']));
    const cases: [string[], RegExp][] = [
      [['--cron', '0 2 * * *', '--csv', 'leavers.csv'], /absolute path/],
      [['--cron', '0 2 * * *', '--csv', `${dir.path}/missing.csv`], /no such file/],
      [['--cron', '0 2 * * *', '--tz', 'Mars/Olympus', '--csv', csv], /--tz/],
      [['--cron', 'every night', '--csv', csv], /--cron/],
      [['--cron', '61 2 * * *', '--csv', csv], /--cron/],
      [['--csv', csv], /--cron/],
      [['--cron', '0 2 * * *', '--csv', csv, '--run-id', 'x'], /--run-id/],
      [['--cron', '0 2 * * *'], /source is required/],
      [['--every', '500', '--csv', csv], /--every/],
      [['--every', '2000', '--tz', 'UTC', '--csv', csv], /--tz applies to --cron only/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(['schedule', 'add', `bad-${tag}`, ...args, '--yes'], env);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
    }
    const badName = await runCli(['schedule', 'add', 'no spaces', '--cron', '0 2 * * *', '--csv', csv], env);
    expect(badName.code).toBe(2);
    const listed = JSON.parse((await runCli(['schedule', 'list', '--json'], env)).stdout);
    expect(listed.map((s: { name: string }) => s.name)).not.toContain(`bad-${tag}`);
  });

  it('adding a name again replaces its schedule and flags', async () => {
    const name = `nightly-${tag}`;
    const first = await runCli(['schedule', 'add', name, '--cron', '0 2 * * *', '--search', 'status eq "DEPROVISIONED"', '--dry-run'], env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain(`schedule ${name} added`);
    // Pasted with a line break: the pattern without it.
    const second = await runCli(['schedule', 'add', name, '--cron', '30 3 * * 1-5\n', '--tz', 'Europe/Berlin', '--group', '00g1leavers', '--yes'], env);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain(`schedule ${name} replaced: --cron "30 3 * * 1-5" --tz Europe/Berlin`);
    const mine = JSON.parse((await runCli(['schedule', 'list', '--json'], env)).stdout).filter((s: { name: string }) => s.name === name);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ cron: '30 3 * * 1-5', tz: 'Europe/Berlin', run: { source: { kind: 'group', value: '00g1leavers' }, dryRun: false, rateShare: null } });
    expect((await runCli(['schedule', 'remove', name], env)).code).toBe(0);
  });
});
