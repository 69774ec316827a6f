import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Simulator } from '../../src/sim/index.ts';
import { runCli } from '../helpers/cli.ts';
import { uniqueRunId } from '../helpers/redis.ts';
import { envFor, startTestSim, writeCsv } from '../helpers/sim.ts';

let sim: Simulator;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  sim = await startTestSim({ users: 2600, grantsPerUser: 3, seed: 21 });
  env = envFor(sim, { GRANTSWEEP_CONCURRENCY: '16', GRANTSWEEP_MAX_IN_FLIGHT: '16' });
});
afterAll(async () => {
  await sim.close();
});

describe('end to end on the simulator', () => {
  it('offboards 2,000 users from a CSV: none of them keeps a grant', async () => {
    const leavers = sim.org.sampleUsers({ count: 2000 });
    expect(leavers).toHaveLength(2000);
    const held = leavers.reduce((n, u) => n + u.grants.length, 0);
    const otherGrants = sim.org.counts().activeGrants - held;
    const runId = uniqueRunId('e2e');
    const csv = writeCsv(['userId,login', ...leavers.map((u, i) => (i % 10 === 0 ? `,${u.login}` : `${u.id},`))]);
    const r = await runCli(['run', '--csv', csv, '--yes', '--run-id', runId], env);
    expect(r.code).toBe(0);
    for (const u of leavers) expect(sim.org.grantsOf(u.id)).toEqual([]);
    expect(sim.org.counts().activeGrants).toBe(otherGrants);
    const status = JSON.parse((await runCli(['status', runId, '--json'], env)).stdout);
    expect(status.counts).toMatchObject({ total: 2000, pending: 0, failed: 0, user_not_found: 0 });
    expect(status.counts.revoked + status.counts.nothing_to_revoke).toBe(2000);
  });

  it('a --filter run revokes one client\'s grants for exactly the matching users', async () => {
    const suspended = sim.org.sampleUsers({ count: 10_000, status: 'SUSPENDED', offset: 2000 });
    const everyone = sim.org.sampleUsers({ count: 10_000, offset: 2000 });
    const clientId = sim.org.directory().clients[0]!.id;
    const before = new Map(everyone.map((u) => [u.id, sim.org.grantsOf(u.id)!]));
    expect(suspended.some((u) => u.grants.some((g) => g.clientId === clientId))).toBe(true);
    const runId = uniqueRunId('filter');
    const r = await runCli(['run', '--filter', 'status eq "SUSPENDED"', '--client', clientId, '--yes', '--run-id', runId], env);
    expect(r.code).toBe(0);
    const ids = new Set(suspended.map((u) => u.id));
    for (const u of everyone) {
      const had = before.get(u.id)!;
      const now = sim.org.grantsOf(u.id)!;
      const expected = ids.has(u.id) ? had.filter((g) => g.clientId !== clientId) : had;
      expect(now.map((g) => g.id).sort()).toEqual(expected.map((g) => g.id).sort());
    }
    const status = JSON.parse((await runCli(['status', runId, '--json'], env)).stdout);
    // Suspended users among the first 2,000 were offboarded above; they are matched too.
    expect(status.source).toEqual({ kind: 'filter', value: 'status eq "SUSPENDED"' });
    expect(status.counts.total).toBe(sim.org.sampleUsers({ count: 10_000, status: 'SUSPENDED' }).length);
    expect(status.counts.failed).toBe(0);
  });
});
