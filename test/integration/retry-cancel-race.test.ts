import { describe, expect, it } from 'vitest';
import { cancelRun, retryFailed } from '../../src/queue/run-actions.ts';
import { orgKeys, runKeys } from '../../src/runs/keys.ts';
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

describe('retry and cancel at once', () => {
  it("leave the run's state and its stopped mark in agreement, whichever goes first", async () => {
    const { runId, orgKey, store } = await cancelledRun();
    for (let i = 0; i < 25; i++) {
      const [retried, cancelled] = await Promise.all([
        retryFailed(t.redis, store, runId),
        // Started a little later each time, so that it lands on each step of the retry in turn.
        new Promise((r) => setTimeout(r, i % 5)).then(() => cancelRun(t.redis, store, runId, 'cancelled by the test')),
      ]);
      const state = (await store.getMeta(runId))!.state;
      const marked = (await t.redis.hget(orgKeys(orgKey).stopped, runId)) !== null;
      expect({ i, state, marked }).toEqual({ i, state: marked ? 'cancelled' : 'running', marked });
      // The cancel returned: whatever the retry did, nothing of the run may go on.
      if (cancelled.state === 'cancelled' && !retried.resumed) expect(state).toBe('cancelled');
      if (state === 'running') await cancelRun(t.redis, store, runId, 'reset');
    }
    expect(await t.redis.exists(runKeys(runId).controlLock)).toBe(0);
  });

  it('a requeue does not bring a run cancelled since the retry read it back to running', async () => {
    const { runId, store } = await cancelledRun();
    // The retry of a running run read `running`; a cancel came; the retry's requeue then puts targets back.
    await t.redis.hset(runKeys(runId).meta, 'state', 'cancelled');
    await store.requeue(runId, true);
    expect((await store.getMeta(runId))!.state).toBe('cancelled');
  });
});
