import { expect } from 'vitest';
import { orgKeyOf } from '../../src/queue/org.ts';
import type { RunStore } from '../../src/runs/run-store.ts';
import type { Simulator } from '../../src/sim/index.ts';
import { runCli } from './cli.ts';
import { writeCsv } from './sim.ts';

/** A CSV of `count` active users holding grants, starting at user index `offset`. */
export function leaversCsv(sim: Simulator, count: number, offset = 0, name = 'leavers.csv') {
  const users = sim.org.sampleUsers({ count, status: 'ACTIVE', minGrants: 1, offset });
  return { users, csv: writeCsv(['userId', ...users.map((u) => u.id)], name) };
}

/** What a producer killed while storing targets leaves behind: a stored, unloaded, queued run (no worker takes it). */
export async function storeUnloadedRun(store: RunStore, sim: Simulator, runId: string): Promise<void> {
  await store.createRun({
    runId, orgUrl: sim.url, orgKey: orgKeyOf(sim.url), state: 'queued', stateReason: null, dryRun: false, snapshot: false, tokens: false,
    reason: null, source: { kind: 'search', value: 'status eq "ACTIVE"' }, target: { clientId: null, scopeId: null }, rateShare: 0.5,
    pacing: 'even', attempts: 1, maxRateLimitDeferrals: 1, createdAt: Date.now(), finishedAt: null, loaded: false, fed: 0,
    requeueFed: 0, queueBase: null, schedule: null,
  });
}

/**
 * A completed run whose every target failed: the simulator answers every request 500 and
 * the run has one attempt per target. The simulator's faults are switched off afterwards,
 * so a retry succeeds.
 */
export async function runWithFailures(
  sim: Simulator,
  env: NodeJS.ProcessEnv,
  runId: string,
  opts: { count: number; offset: number; reason?: string; csvName?: string },
) {
  const { users, csv } = leaversCsv(sim, opts.count, opts.offset, opts.csvName);
  sim.configure({ faults: { errorRate: 1 } });
  try {
    const args = ['run', '--csv', csv, '--yes', '--run-id', runId, ...(opts.reason ? ['--reason', opts.reason] : [])];
    const r = await runCli(args, { ...env, GRANTSWEEP_ATTEMPTS: '1' });
    expect(r.code, r.stderr).toBe(1);
  } finally {
    sim.configure({ faults: { errorRate: 0 } });
  }
  return users;
}
