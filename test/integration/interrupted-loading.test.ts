import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Simulator } from '../../src/sim/index.ts';
import { runCli, spawnCli } from '../helpers/cli.ts';
import { sleep, until } from '../helpers/fleet.ts';
import { uniqueRunId } from '../helpers/redis.ts';
import { envFor, startTestSim } from '../helpers/sim.ts';

/**
 * A producer stopped while it stores a run's targets (Ctrl-C, or killed): the run must
 * not start with part of its source. A directory query over 5,000 users, paged 200 at a
 * time with 150 ms of latency a page, takes a few seconds to load: time to interrupt it.
 */

let sim: Simulator;
beforeAll(async () => {
  sim = await startTestSim({ users: 5_000, grantsPerUser: 1, faults: { latencyMs: 150 } });
});
afterAll(async () => {
  await sim?.close();
});

const SEARCH = ['--search', 'status eq "ACTIVE"'];
const listings = () =>
  Object.entries(sim.log.snapshot().byEndpoint)
    .filter(([k]) => k.startsWith('GET /api/v1/users'))
    .reduce((n, [, v]) => n + v, 0);
const revocations = () =>
  Object.entries(sim.log.snapshot().byEndpoint)
    .filter(([k]) => k.startsWith('DELETE '))
    .reduce((n, [, v]) => n + v, 0);

async function summary(runId: string, env: NodeJS.ProcessEnv) {
  const r = await runCli(['status', runId, '--json'], env);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { state: string; stateReason: string | null; loaded: boolean; counts: { total: number } };
}

/**
 * `run` over SEARCH, interrupted by SIGINT once `ready` resolves: exit 1, the stop said at
 * once, and the interruption named with `stored` (a regex) targets stored.
 */
async function interruptRun(env: NodeJS.ProcessEnv, runId: string, ready: () => Promise<void>, stored: string) {
  const run = spawnCli(['run', ...SEARCH, '--yes', '--run-id', runId], env);
  await ready();
  run.child.kill('SIGINT');
  const signalled = Date.now();
  const out = await run.done;
  console.log(`[interrupted] ${runId}: exited ${Date.now() - signalled} ms after SIGINT`);
  expect(out.code, out.stderr).toBe(1);
  expect(out.stderr).toMatch(/stopping: the loading stops/);
  expect(out.stderr).toMatch(new RegExp(`run ${runId}: loading was interrupted \\(Ctrl-C or SIGTERM\\) after ${stored} targets were stored; nothing was revoked`));
  expect(out.stderr).not.toMatch(/unexpected error/);
  // It ended by itself, not by the CLI's backstop (a wait for a slot kept it alive before).
  expect(out.stderr).not.toMatch(/still running 3 s after the command ended/);
}

describe('a run whose loading is interrupted', () => {
  it('Ctrl-C while loading: the run is kept halted with nothing revoked, exit 1, and retry refuses it', async () => {
    const env = envFor(sim);
    const runId = uniqueRunId('ctrlc-load');
    const before = { listings: listings(), revocations: revocations() };
    // Six pages (1,200 users) read: the first chunk of 1,000 is stored, the source is not done.
    await interruptRun(env, runId, () => until('six pages listed', () => listings() - before.listings >= 6, 30_000), '\\d+');
    expect(revocations()).toBe(before.revocations);

    const s = await summary(runId, env);
    expect(s.state).toBe('halted');
    expect(s.loaded).toBe(false);
    expect(s.stateReason).toMatch(/^loading was interrupted/);
    expect(s.counts.total).toBeGreaterThanOrEqual(1_000);

    const retry = await runCli(['retry', runId], env);
    expect(retry.code).toBe(2);
    expect(retry.stderr).toMatch(new RegExp(`run ${runId} was never completely loaded \\(loading was interrupted`));
    expect((await summary(runId, env)).state).toBe('halted');
    expect(revocations()).toBe(before.revocations);
  });

  it('Ctrl-C while the source waits for its next page (a paced bucket): the loading stops at once, with no request after the signal', async () => {
    // One listing a 10-s window: the second page waits for its slot.
    const slow = await startTestSim({ users: 1_000, grantsPerUser: 1, rateLimits: { 'users-list': { limit: 2 } }, windowSec: 10 });
    try {
      const env = envFor(slow, { GRANTSWEEP_RATE_WINDOW_MS: '10000' });
      const runId = uniqueRunId('ctrlc-wait');
      const pages = () => slow.log.snapshot().byEndpoint['GET /api/v1/users'] ?? 0;
      let atSignal = 0;
      await interruptRun(env, runId, async () => {
        await until('the first page', () => pages() >= 1, 30_000);
        await sleep(500);
        atSignal = pages();
      }, '0');
      // The page it was waiting for was never asked for (before, the loading went on until it came).
      expect(pages()).toBe(atSignal);
      expect((await summary(runId, env)).state).toBe('halted');
    } finally {
      await slow.close();
    }
  });

  it('a producer killed while loading leaves a run that says it is loading; retry refuses it, cancel closes it', async () => {
    const env = envFor(sim);
    const runId = uniqueRunId('killed-load');
    const before = { listings: listings(), revocations: revocations() };
    const enqueue = spawnCli(['enqueue', ...SEARCH, '--yes', '--run-id', runId], env);
    await until('six pages listed', () => listings() - before.listings >= 6, 30_000);
    enqueue.child.kill('SIGKILL');
    await enqueue.done;

    const status = await runCli(['status', runId], env);
    expect(status.stdout).toMatch(new RegExp(`run ${runId}: queued, loading \\(if the command that started it was stopped, nothing was revoked: \`grantsweep cancel ${runId}\``));
    const runs = await runCli(['runs'], env);
    expect(runs.stdout).toMatch(new RegExp(`^${runId}\\tloading\\t`, 'm'));
    // Watching it says why it may never end, at once, instead of waiting in silence.
    const watch = spawnCli(['status', runId, '--watch'], env);
    try {
      await until('the watch to say the run is loading', () => /queued, loading \(if the command that started it was stopped/.test(watch.output().stderr), 30_000);
    } finally {
      watch.child.kill('SIGTERM');
      await watch.done;
    }

    const retry = await runCli(['retry', runId], env);
    expect(retry.code).toBe(2);
    expect(retry.stderr).toMatch(/was never completely loaded \(it is still loading, or the command that started it was stopped while loading\)/);

    const cancel = await runCli(['cancel', runId], env);
    expect(cancel.code, cancel.stderr).toBe(0);
    const s = await summary(runId, env);
    expect(s.state).toBe('cancelled');
    expect(s.loaded).toBe(false);
    expect(revocations()).toBe(before.revocations);
  });
});
