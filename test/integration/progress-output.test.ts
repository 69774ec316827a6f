import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunStore } from '../../src/runs/run-store.ts';
import { startSimulator, type Simulator } from '../../src/sim/index.ts';
import { runCli } from '../helpers/cli.ts';
import { spawnWorkers, stopAll } from '../helpers/fleet.ts';
import { leaversCsv, simEnv, tempDir, until, type TempDir } from '../helpers/operator.ts';
import { connectTestRedis, uniqueRunId } from '../helpers/redis.ts';

const ESC = '\x1b[';

describe('progress of a run: plain lines, NDJSON, a bar on a terminal', () => {
  let sim: Simulator;
  let dir: TempDir;
  let redis: Redis;
  let store: RunStore;
  let env: NodeJS.ProcessEnv;
  let offset = 0;

  /** A CSV of users not used by another test of this file (each run revokes its own). */
  const csvOf = (n: number, ghosts: string[] = []) => {
    const users = sim.org.sampleUsers({ count: n, status: 'ACTIVE', minGrants: 1, offset });
    offset += 200;
    return dir.file(`${uniqueRunId('csv')}.csv`, leaversCsv([...users.map((u) => u.id), ...ghosts]));
  };

  beforeAll(async () => {
    sim = await startSimulator({ users: 1_000, windowSec: 1, rateLimits: { 'user-grants': 40, 'user-get': 1000 } });
    dir = tempDir();
    redis = await connectTestRedis();
    store = new RunStore(redis);
    env = simEnv(sim, dir.path, { GRANTSWEEP_RATE_WINDOW_MS: '1000' });
  });

  afterAll(async () => {
    await sim.close();
    await redis.quit();
    dir.remove();
  });

  it('run, not on a terminal: plain progress lines on stderr, the summary alone on stdout', async () => {
    const runId = uniqueRunId('prog-plain');
    const r = await runCli(['run', '--csv', csvOf(20, ['00uzzzzzzzzzzzzzzzz9']), '--yes', '--run-id', runId], env);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith(`${runId} `));
    expect(lines.length).toBeGreaterThanOrEqual(1);
    for (const l of lines) expect(l).toMatch(/^\S+ (queued|running|completed): \d+\/21 done · .* · (\d+|\?)\/(\d+|\?) req\/min · ETA \S+$/);
    // The last line is the final state, with the budget the workers recorded (0.5 × 40 a second = 1200 a minute).
    expect(lines.at(-1)).toMatch(new RegExp(`^${runId} completed: 21/21 done · revoked 20 · user_not_found 1 · .*/1200 req/min · ETA 0s$`));
    expect(r.stderr).not.toContain(ESC);
    // stdout: the summary (its first line, then the counts), no progress.
    expect(r.stdout.split('\n')[0]).toBe(`run ${runId}: completed`);
    expect(r.stdout).toMatch(/^ {2}21\/21 done · revoked 20 · user_not_found 1 · requests \d+$/m);
    expect(r.stdout).not.toContain('req/min');
    // The last progress line and the summary agree on the requests (counted after the worker's last flush).
    expect(/requests (\d+)/.exec(lines.at(-1)!)?.[1]).toBe(/requests (\d+)/.exec(r.stdout)?.[1]);
  });

  it('status --watch --json: one JSON object a line on stderr per tick, then the summary on stdout', async () => {
    const runId = uniqueRunId('prog-json');
    const csv = csvOf(30);
    const running = runCli(['run', '--csv', csv, '--yes', '--run-id', runId], env);
    await until(() => store.getMeta(runId), 'the run to be stored');
    const watch = await runCli(['status', runId, '--watch', '--json'], env);
    const ran = await running;
    expect(ran.code, ran.stderr).toBe(0);
    expect(watch.code, watch.stderr).toBe(0);

    const ticks = watch.stderr.trim().split('\n').map((l) => JSON.parse(l));
    expect(ticks.length).toBeGreaterThanOrEqual(1);
    for (const t of ticks) {
      expect(t).toMatchObject({ runId, total: 30 });
      expect(Object.keys(t)).toEqual(expect.arrayContaining(['done', 'percent', 'requestsPerMinute', 'budgetPerMinute', 'etaSeconds', 'rateLimited', 'failed', 'counts', 'at']));
    }
    // Never going backwards, and ending on the final state.
    const done = ticks.map((t) => t.done);
    expect([...done].sort((a, b) => a - b)).toEqual(done);
    expect(ticks.at(-1)).toMatchObject({ state: 'completed', done: 30, percent: 100, etaSeconds: 0 });

    const summary = JSON.parse(watch.stdout);
    expect(summary).toMatchObject({ runId, state: 'completed', counts: { total: 30, revoked: 30, pending: 0 } });

  });

  it('status --watch of a run the workers process: the final summary holds every request, which a worker writes up to a second after its last result', async () => {
    const runId = uniqueRunId('prog-fleet');
    expect((await runCli(['enqueue', '--csv', csvOf(40), '--yes', '--run-id', runId], env)).code).toBe(0);
    const [worker] = spawnWorkers(1, env);
    try {
      const watch = await runCli(['status', runId, '--watch', '--json'], env);
      expect(watch.code, watch.stderr).toBe(0);
      const summary = JSON.parse(watch.stdout);
      expect(summary).toMatchObject({ state: 'completed', counts: { revoked: 40 } });
      expect(summary.requests.total).toBe(40);
    } finally {
      await stopAll([worker!]);
    }
  });

  it('status --watch of a finished run prints one line and exits as run would', async () => {
    const runId = uniqueRunId('prog-done');
    const ran = await runCli(['run', '--csv', csvOf(3, ['00uzzzzzzzzzzzzzzzz8']), '--yes', '--run-id', runId], env);
    expect(ran.code, ran.stderr).toBe(0);
    const watch = await runCli(['status', runId, '--watch'], env);
    expect(watch.code).toBe(0);
    expect(watch.stderr.split('\n').filter((l) => l.startsWith(runId))).toHaveLength(1);
    expect(watch.stdout).toContain(`run ${runId}: completed`);
  });

  it('run on a terminal draws a cli-progress bar on stderr (a fake TTY), not plain lines', async () => {
    const runId = uniqueRunId('prog-bar');
    const r = await runCli(['run', '--csv', csvOf(25), '--yes', '--run-id', runId], env, { tty: true });
    expect(r.code, r.stderr).toBe(0);
    // Cursor movements: the bar redraws in place.
    expect(r.stderr).toContain(ESC);
    const frames = r.stderr.split(/\x1b\[[0-9;?]*[A-Za-z]|\r|\n/).filter((f) => f.includes('req/min'));
    expect(frames.length).toBeGreaterThanOrEqual(1);
    // The run id once, then the bar (10 columns of it on an 80-column terminal), redrawn in place.
    expect(r.stderr.startsWith(`${runId}: 25 targets\n`)).toBe(true);
    for (const f of frames) {
      expect(f).toMatch(/^\[[\u2588\u2591]{10}\] \d+% \d+\/25 \| (\d+|\?)\/(\d+|\?) req\/min \| ETA \S+ \| 429s \d+ \| failed \d+$/);
      expect(f.length).toBeLessThanOrEqual(80);
    }
    expect(frames.at(-1)).toMatch(/\] 100% 25\/25 \| (\d+|\?)\/1200 req\/min \| ETA 0s \| 429s \d+ \| failed 0$/);
    expect(r.stderr).not.toMatch(new RegExp(`${runId} running:`));
    expect(r.stdout).toMatch(new RegExp(`^run ${runId}: completed\\n`));
    expect(r.stdout).not.toContain(ESC);
  });
});
