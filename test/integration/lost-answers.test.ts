import { describe, expect, it } from 'vitest';
import { runCli, spawnCli } from '../helpers/cli.ts';
import pino from 'pino';
import { ApiTokenAuth } from '../../src/okta/auth.ts';
import { WorkerHost } from '../../src/queue/worker-host.ts';
import { runKeys } from '../../src/redis/keys.ts';
import { RunStore } from '../../src/runs/run-store.ts';
import { checkExactlyOnce, waitFinal } from '../helpers/fleet.ts';
import { connectTestRedis, redisUrl, uniqueRunId } from '../helpers/redis.ts';
import { envFor, simAndRedis, startTestSim, writeCsv } from '../helpers/sim.ts';

/**
 * A DELETE whose answer is lost (the simulator resets the connection after the revoke took
 * effect, on a third of the DELETEs and nothing else): the try after it finds nothing left.
 * The result must still say what this run revoked — `revoked`, with what was listed before —
 * not `nothing_to_revoke` with empty evidence.
 */
const t = simAndRedis({ users: 400, grantsPerUser: [1, 4], faults: { resetRate: 0.33, methods: ['DELETE'], seed: 11 } });
const env = () => envFor(t.sim, { GRANTSWEEP_ATTEMPTS: '12', GRANTSWEEP_REQUEST_TIMEOUT_MS: '2000' });

interface Row { userId: string; grantId: string | null; status: string; grantsRevoked: number | null; grants: { id: string }[] | null; attempts: number }

async function run(rows: string[], flags: string[]): Promise<{ runId: string; results: Row[] }> {
  const runId = uniqueRunId('lost');
  const r = await runCli(['run', '--csv', writeCsv(rows), '--yes', '--run-id', runId, ...flags], env());
  expect(r.code, r.stdout + r.stderr).toBe(0);
  const rep = await checkExactlyOnce(t.redis, runId, env(), { targets: rows.length - 1 });
  return { runId, results: rep.results as unknown as Row[] };
}

describe('a revocation whose answer was lost', () => {
  it('single grants, all grants (--snapshot) and one scope: revoked, with what was there, every time', async () => {
    const users = t.sim.org.sampleUsers({ count: 150, status: 'ACTIVE', minGrants: 1 });
    const before = new Map(users.map((u) => [u.id, t.sim.org.grantsOf(u.id)!]));
    const resetsBefore = t.sim.log.snapshot().faults.reset;
    const totalBefore = t.sim.log.snapshot().total;

    // One grant each, named by id, with --snapshot (a GET first, then the DELETE).
    const byGrant = users.slice(0, 50);
    const g = await run(['userId,grantId', ...byGrant.map((u) => `${u.id},${before.get(u.id)![0]!.id}`)], ['--snapshot']);
    for (const r of g.results) {
      expect(r, JSON.stringify(r)).toMatchObject({ status: 'revoked', grantsRevoked: 1 });
      expect(r.grants!.map((x) => x.id)).toEqual([r.grantId]);
    }

    // Every grant of the user, with --snapshot: the listing of the first try is the evidence.
    const whole = users.slice(50, 100);
    const w = await run(['userId', ...whole.map((u) => u.id)], ['--snapshot']);
    for (const r of w.results) {
      const held = before.get(r.userId)!.map((x) => x.id).sort();
      expect(r, JSON.stringify(r)).toMatchObject({ status: 'revoked', grantsRevoked: held.length });
      expect(r.grants!.map((x) => x.id).sort()).toEqual(held);
    }

    // One scope (the one most of these users hold): every grant of it counted, across the tries.
    const rest = users.slice(100);
    const scopes = new Map<string, number>();
    for (const u of rest) for (const x of before.get(u.id)!) scopes.set(x.scopeId, (scopes.get(x.scopeId) ?? 0) + 1);
    const scope = [...scopes].sort((a, b) => b[1] - a[1])[0]![0];
    const holders = rest.filter((u) => before.get(u.id)!.some((x) => x.scopeId === scope));
    const s = await run(['userId', ...holders.map((u) => u.id)], ['--scope', scope]);
    for (const r of s.results) {
      const held = before.get(r.userId)!.filter((x) => x.scopeId === scope).length;
      expect(r, JSON.stringify(r)).toMatchObject({ status: 'revoked', grantsRevoked: held });
    }

    // The faults happened, on revocations that then had to be tried again.
    expect(t.sim.log.snapshot().faults.reset - resetsBefore).toBeGreaterThan(20);
    // Every request Okta saw is in the runs' counts, those whose answer was lost too (Okta counts them against the bucket).
    const counted = await Promise.all([g, w, s].map(async (x) => JSON.parse((await runCli(['status', x.runId, '--json'], env())).stdout).requests.total as number));
    expect(counted.reduce((a, b) => a + b, 0)).toBe(t.sim.log.snapshot().total - totalBefore);
    for (const x of [g, w, s]) expect(x.results.filter((r) => r.attempts > 1).length).toBeGreaterThan(3);
    for (const u of [...byGrant, ...whole]) expect(t.sim.org.grantsOf(u.id)!.map((x) => x.id)).not.toContain(before.get(u.id)![0]!.id);
  }, 180_000);

  it('a target that failed on a lost answer and is retried: revoked, not nothing_to_revoke', async () => {
    const users = t.sim.org.sampleUsers({ count: 20, status: 'ACTIVE', minGrants: 1, offset: 200 });
    const grant = new Map(users.map((u) => [u.id, t.sim.org.grantsOf(u.id)![0]!.id]));
    const csv = writeCsv(['userId,grantId', ...users.map((u) => `${u.id},${grant.get(u.id)}`)]);
    const runId = uniqueRunId('lost-retry');
    // Every DELETE revokes and loses its answer; one attempt each: every target fails.
    t.sim.configure({ faults: { resetRate: 1, methods: ['DELETE'] } });
    try {
      const first = await runCli(['run', '--csv', csv, '--snapshot', '--yes', '--run-id', runId], envFor(t.sim, { GRANTSWEEP_ATTEMPTS: '1' }));
      expect(first.code, first.stderr).toBe(1);
      for (const u of users) expect(t.sim.org.grantsOf(u.id)!.map((x) => x.id)).not.toContain(grant.get(u.id));
      const failed = (await checkExactlyOnce(t.redis, runId, env(), { targets: users.length })).results as unknown as Row[];
      // The failure keeps what was listed before the DELETE: the report shows it.
      for (const r of failed) expect(r).toMatchObject({ status: 'failed', grants: [{ id: grant.get(r.userId) }] });
    } finally {
      t.sim.configure({ faults: { resetRate: 0 } });
    }
    const again = await runCli(['retry', runId, '--wait'], env());
    expect(again.code, again.stdout + again.stderr).toBe(0);
    const rep = (await checkExactlyOnce(t.redis, runId, env(), { targets: users.length })).results as unknown as Row[];
    for (const r of rep) {
      expect(r, JSON.stringify(r)).toMatchObject({ status: 'revoked', grantsRevoked: 1, attempts: 2 });
      expect(r.grants!.map((x) => x.id)).toEqual([grant.get(r.userId)]);
    }
  }, 120_000);

  it('a DELETE cut by a forced stop (its worker gone before the answer): the next worker records revoked, not nothing_to_revoke', async () => {
    // Every answer takes 0.8 s; the simulator acts on a request when it arrives, so a grant is gone 0.8 s before its 204.
    const sim = await startTestSim({ users: 100, faults: { latencyMs: 800 } });
    const env = envFor(sim);
    const users = sim.org.sampleUsers({ count: 6, status: 'ACTIVE', minGrants: 1 });
    const grant = new Map(users.map((u) => [u.id, sim.org.grantsOf(u.id)![0]!.id]));
    const runId = uniqueRunId('lost-stop');
    const hostOn = async () => {
      const host = new WorkerHost(await connectTestRedis(), {
        redisUrl: redisUrl(), orgUrl: sim.url, auth: new ApiTokenAuth(sim.token), concurrency: 4, maxInFlight: 10, requestTimeoutMs: 10_000, lockDurationMs: 2_000, log: pino({ level: 'silent' }),
      });
      host.start();
      return host;
    };
    try {
      const enq = await runCli(['enqueue', '--csv', writeCsv(['userId,grantId', ...users.map((u) => `${u.id},${grant.get(u.id)}`)]), '--snapshot', '--yes', '--run-id', runId], env);
      expect(enq.code, enq.stderr).toBe(0);
      const a = await hostOn();
      // The first grant gone at Okta: its DELETE's answer is on its way. Stop A at once.
      const gone = () => users.some((u) => !sim.org.grantsOf(u.id)!.some((g) => g.id === grant.get(u.id)));
      for (let i = 0; !gone(); i++) {
        expect(i).toBeLessThan(3_000);
        await new Promise((r) => setTimeout(r, 5));
      }
      await a.close(true);
      const cut = users.filter((u) => !sim.org.grantsOf(u.id)!.some((g) => g.id === grant.get(u.id)));
      expect((await new RunStore(t.redis).getCounts(runId)).revoked).toBeLessThan(cut.length);
      const b = await hostOn();
      try {
        expect(await waitFinal(t.redis, runId)).toBe('completed');
      } finally {
        await b.close();
      }
      const rep = (await checkExactlyOnce(t.redis, runId, env, { targets: users.length })).results as unknown as Row[];
      for (const r of rep) {
        expect(r, JSON.stringify(r)).toMatchObject({ status: 'revoked', grantsRevoked: 1 });
        expect(r.grants!.map((x) => x.id)).toEqual([grant.get(r.userId)]);
      }
    } finally {
      await sim.close();
    }
  }, 120_000);
  it('a worker killed (SIGKILL) while its DELETEs are on the wire: the next worker records revoked, by grant, by client and with --snapshot, from the mark in Redis', async () => {
    // Every answer takes 1.5 s; the simulator acts on a request when it arrives, so a grant is gone 1.5 s before its 204.
    const sim = await startTestSim({ users: 200, faults: { latencyMs: 1_500 } });
    const env = envFor(sim, { GRANTSWEEP_LOCK_DURATION_MS: '2000' });
    const users = sim.org.sampleUsers({ count: 12, status: 'ACTIVE', minGrants: 1 });
    const held = new Map(users.map((u) => [u.id, sim.org.grantsOf(u.id)!]));
    const first = (id: string) => held.get(id)![0]!;
    // Half by grant id or by the grant's client (an incident's target), without a listing before; the
    // rest every grant of the user with --snapshot (listed first: the mark carries what was listed).
    const [plain, listed] = [users.slice(0, 8), users.slice(8)];
    const rows = ['userId,clientId,grantId', ...plain.map((u, i) => (i % 2 === 0 ? `${u.id},,${first(u.id).id}` : `${u.id},${first(u.id).clientId},`))];
    const runIds = [uniqueRunId('lost-kill'), uniqueRunId('lost-kill-snap')];
    try {
      expect((await runCli(['enqueue', '--csv', writeCsv(rows), '--yes', '--run-id', runIds[0]!], env)).code).toBe(0);
      expect((await runCli(['enqueue', '--csv', writeCsv(['userId', ...listed.map((u) => u.id)]), '--snapshot', '--yes', '--run-id', runIds[1]!], env)).code).toBe(0);
      const a = spawnCli(['worker', '--concurrency', '16'], env);
      // Every target's DELETE has reached Okta; none of its answers has come back yet. Kill A.
      const gone = (u: { id: string }) => !sim.org.grantsOf(u.id)!.some((g) => g.id === first(u.id).id);
      for (let i = 0; !users.every(gone); i++) {
        expect(i).toBeLessThan(3_000);
        await new Promise((r) => setTimeout(r, 5));
      }
      a.child.kill('SIGKILL');
      await a.done;
      const store = new RunStore(t.redis);
      // The --snapshot run's DELETEs go last (each after its listing): some of its answers were still on their way.
      expect((await store.getCounts(runIds[1]!)).revoked).toBeLessThan(listed.length);
      sim.configure({ faults: { latencyMs: 0 } });
      const b = spawnCli(['worker'], env);
      try {
        for (const runId of runIds) expect(await waitFinal(t.redis, runId, 60_000)).toBe('completed');
      } finally {
        b.child.kill('SIGTERM');
        await b.done;
      }
      for (const r of (await checkExactlyOnce(t.redis, runIds[0]!, env, { targets: plain.length })).results as unknown as Row[]) {
        expect(r, JSON.stringify(r)).toMatchObject({ status: 'revoked' });
      }
      for (const r of (await checkExactlyOnce(t.redis, runIds[1]!, env, { targets: listed.length })).results as unknown as Row[]) {
        expect(r, JSON.stringify(r)).toMatchObject({ status: 'revoked', grantsRevoked: held.get(r.userId)!.length });
        expect(r.grants!.map((x) => x.id).sort()).toEqual(held.get(r.userId)!.map((g) => g.id).sort());
      }
      // Settled: no mark is left behind.
      for (const runId of runIds) expect(await t.redis.hlen(runKeys(runId).sent)).toBe(0);
    } finally {
      await sim.close();
    }
  }, 120_000);

  it('a DELETE answered 429 lost nothing: a grant someone else revokes before the next try is nothing_to_revoke, not this run\'s', async () => {
    // The token may spend 5 requests a 2-second window (a share the budget learns only from a 429): the rest are refused.
    const sim = await startTestSim({ users: 100, windowSec: 2, rateLimits: { 'user-grants': { limit: 100 } }, perTokenShare: 0.05 });
    const env = envFor(sim, { GRANTSWEEP_RATE_WINDOW_MS: '2000' });
    const users = sim.org.sampleUsers({ count: 12, status: 'ACTIVE', minGrants: 1 });
    const grant = new Map(users.map((u) => [u.id, sim.org.grantsOf(u.id)![0]!.id]));
    const runId = uniqueRunId('lost-429');
    try {
      const csv = writeCsv(['userId,grantId', ...users.map((u) => `${u.id},${grant.get(u.id)}`)]);
      const running = runCli(['run', '--csv', csv, '--yes', '--run-id', runId, '--concurrency', '4'], env);
      // At the first 429 (the run then waits for the window's reset), an admin revokes every grant the run has not.
      for (let i = 0; sim.log.snapshot().total429 === 0; i++) {
        expect(i).toBeLessThan(6_000);
        await new Promise((r) => setTimeout(r, 5));
      }
      const byAdmin = users.filter((u) => sim.org.revokeGrant(u.id, grant.get(u.id)!));
      const r = await running;
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const rep = (await checkExactlyOnce(t.redis, runId, env, { targets: users.length })).results as unknown as Row[];
      // Those refused were among them (a refused DELETE leaves its grant): their next try found it gone.
      expect(byAdmin.length).toBeGreaterThan(0);
      for (const x of rep) {
        const mine = !byAdmin.some((u) => u.id === x.userId);
        expect(x, JSON.stringify(x)).toMatchObject(mine ? { status: 'revoked', grantsRevoked: 1 } : { status: 'nothing_to_revoke', grantsRevoked: 0 });
      }
    } finally {
      await sim.close();
    }
  }, 120_000);
  it.each([
    ['every grant of the user, with --snapshot', 'user'],
    ['one client', 'client'],
    ['one scope', 'scope'],
  ] as const)('%s: a DELETE answered 429 lost nothing, so what someone else revokes meanwhile is nothing_to_revoke', async (_what, kind) => {
    const sim = await startTestSim({ users: 300, windowSec: 1, rateLimits: { 'user-grants': { limit: 1_000 } }, recordRequests: 20_000 });
    const env = envFor(sim, { GRANTSWEEP_RATE_WINDOW_MS: '1000' });
    try {
      const users = sim.org.sampleUsers({ count: 60, status: 'ACTIVE', minGrants: 1 });
      // The client or scope most of them hold, and the users holding it.
      const tally = new Map<string, number>();
      for (const u of users) for (const g of new Set(u.grants.map((x) => (kind === 'scope' ? x.scope : x.clientId)))) tally.set(g, (tally.get(g) ?? 0) + 1);
      const named = [...tally].sort((a, b) => b[1] - a[1])[0]![0];
      const of = (u: (typeof users)[number]) => u.grants.filter((g) => kind === 'user' || (kind === 'scope' ? g.scope : g.clientId) === named);
      // (For a client, users without a refresh token of it: Okta lists a client held by a token alone as the user's too.)
      const targets = users.filter((u) => of(u).length > 0 && (kind !== 'client' || !sim.org.tokensOf(u.id)!.some((x) => x.clientId === named))).slice(0, 3);
      expect(targets).toHaveLength(3);
      const flags = kind === 'user' ? ['--snapshot'] : kind === 'client' ? ['--client', named] : ['--scope', named];
      // Every DELETE is answered 429 (the listings are not) until each target has had one refused: each
      // 429 pauses the bucket until its 1-s window ends, and before a first success the targets go one at a time.
      sim.configure({ faults: { limitRate: 1, methods: ['DELETE'] } });
      const runId = uniqueRunId(`lost-429-${kind}`);
      const running = runCli(['run', '--csv', writeCsv(['userId', ...targets.map((u) => u.id)]), '--yes', '--run-id', runId, ...flags], env);
      const refused = () => new Set(sim.log.requests().filter((e) => e.method === 'DELETE' && e.outcome === 429).map((e) => e.path.split('/')[4]));
      for (let i = 0; targets.some((u) => !refused().has(u.id)); i++) {
        expect(i).toBeLessThan(12_000);
        await new Promise((r) => setTimeout(r, 5));
      }
      // Then an admin revokes what the run was after, and Okta takes DELETEs again.
      for (const u of targets) for (const g of of(u)) expect(sim.org.revokeGrant(u.id, g.id)).toBe(true);
      sim.configure({ faults: { limitRate: 0 } });
      const r = await running;
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const rep = (await checkExactlyOnce(t.redis, runId, env, { targets: targets.length })).results as unknown as Row[];
      for (const x of rep) expect(x, JSON.stringify(x)).toMatchObject({ status: 'nothing_to_revoke' });
    } finally {
      await sim.close();
    }
  }, 120_000);
});
