import { describe, expect, it } from 'vitest';
import { cancelRun, retryFailed } from '../../src/queue/run-actions.ts';
import { orgKeys, runKeys } from '../../src/redis/keys.ts';
import { RunStore } from '../../src/runs/run-store.ts';
import { runCli } from '../helpers/cli.ts';
import { uniqueRunId } from '../helpers/redis.ts';
import { envFor, simAndRedis, writeCsv } from '../helpers/sim.ts';

/**
 * `retry` and `cancel` of one run at once (two terminals, a button and a script): whatever
 * their order, the run's state and its mark among the org's stopped runs must agree. A run
 * marked running but stopped in the budget hangs for ever; a run said cancelled but not marked
 * goes on revoking after `cancel` returned.
 */
const t = simAndRedis({ users: 300 });

/** A run of 200 targets enqueued with no worker on its org, then cancelled. */
async function cancelledRun(): Promise<{ runId: string; orgKey: string; store: RunStore }> {
  const env = envFor(t.sim);
  const runId = uniqueRunId('race');
  const csv = writeCsv(['userId', ...t.sim.org.sampleUsers({ count: 200 }).map((u) => u.id)]);
  expect((await runCli(['enqueue', '--csv', csv, '--yes', '--run-id', runId], env)).code).toBe(0);
  expect((await runCli(['cancel', runId], env)).code).toBe(0);
  const store = new RunStore(t.redis);
  return { runId, orgKey: (await store.getMeta(runId))!.orgKey, store };
}

/** Resolves after `n` round trips to Redis on the connection both sides use: a step of the other side. */
async function roundTrips(n: number): Promise<void> {
  for (let k = 0; k < n; k++) await t.redis.ping();
}

describe('retry and cancel at once', () => {
  it("leave the run's state and its stopped mark in agreement, whichever goes first", async () => {
    const { runId, orgKey, store } = await cancelledRun();
    const outcomes = new Set<string>();
    for (let i = 0; i < 24; i++) {
      // One starts 0 to 7 round trips after the other (one connection, so one step each), the
      // cancel later in two turns of three: it lands on each step of the retry in turn, and the
      // retry on each of the cancel's, where a lock missing on either side shows.
      const lag = i % 8;
      const cancelLater = i % 3 !== 2;
      const [, cancelled] = await Promise.all([
        roundTrips(cancelLater ? 0 : lag).then(() => retryFailed(t.redis, store, runId)),
        roundTrips(cancelLater ? lag : 0).then(() => cancelRun(t.redis, store, runId, 'cancelled by the test')),
      ]);
      expect(cancelled.state).toBe('cancelled');
      const state = (await store.getMeta(runId))!.state;
      const marked = (await t.redis.hget(orgKeys(orgKey).stopped, runId)) !== null;
      expect({ i, state, marked }).toEqual({ i, state: marked ? 'cancelled' : 'running', marked });
      outcomes.add(state);
      if (state === 'running') await cancelRun(t.redis, store, runId, 'reset');
    }
    expect(await t.redis.exists(runKeys(runId).controlLock)).toBe(0);
    // Both orders happened (a retry after the cancel leaves the run running, as it should), so the check above met both.
    expect([...outcomes].sort()).toEqual(['cancelled', 'running']);
  });

  it('a requeue does not bring a run cancelled since the retry read it back to running', async () => {
    // A run whose targets all failed (every DELETE answered 500 before Okta did anything; one attempt each).
    const env = envFor(t.sim, { GRANTSWEEP_ATTEMPTS: '1' });
    const runId = uniqueRunId('race-failed');
    const csv = writeCsv(['userId', ...t.sim.org.sampleUsers({ count: 5, offset: 250 }).map((u) => u.id)]);
    t.sim.configure({ faults: { errorRate: 1, methods: ['DELETE'] } });
    try {
      expect((await runCli(['run', '--csv', csv, '--yes', '--run-id', runId], env)).code).toBe(1);
    } finally {
      t.sim.configure({ faults: { errorRate: 0 } });
    }
    const store = new RunStore(t.redis);
    expect((await store.getCounts(runId)).failed).toBe(5);
    // The retry read `completed`; a cancel came; the retry's requeue then puts the failed targets back.
    await t.redis.hset(runKeys(runId).meta, 'state', 'cancelled');
    expect(await store.requeue(runId, false)).toBe(5);
    expect((await store.getMeta(runId))!.state).toBe('cancelled');
    // Without the cancel, the same requeue makes the run run again.
    const other = uniqueRunId('race-failed-2');
    t.sim.configure({ faults: { errorRate: 1, methods: ['DELETE'] } });
    try {
      expect((await runCli(['run', '--csv', csv, '--yes', '--run-id', other], env)).code).toBe(1);
    } finally {
      t.sim.configure({ faults: { errorRate: 0 } });
    }
    expect(await store.requeue(other, false)).toBe(5);
    expect((await store.getMeta(other))!.state).toBe('running');
  });
});
