import { expect } from 'vitest';
import type { Simulator } from '../../src/sim/index.ts';
import { runCli } from './cli.ts';
import { writeCsv } from './sim.ts';

/** A CSV of `count` active users holding grants, starting at user index `offset`. */
export function leaversCsv(sim: Simulator, count: number, offset = 0, name = 'leavers.csv') {
  const users = sim.org.sampleUsers({ count, status: 'ACTIVE', minGrants: 1, offset });
  return { users, csv: writeCsv(['userId', ...users.map((u) => u.id)], name) };
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
