import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Simulator } from '../../src/sim/index.ts';
import { runCli } from '../helpers/cli.ts';
import { uniqueRunId } from '../helpers/redis.ts';
import { envFor, startTestSim, writeCsv } from '../helpers/sim.ts';

interface Report {
  state: string;
  counts: Record<string, number>;
  requests: { total: number; rateLimited: number };
  results: {
    userId: string | null;
    login: string | null;
    clientId: string | null;
    scopeId: string | null;
    grantId: string | null;
    status: string;
    grantsRevoked: number | null;
    grants?: { id: string; clientId: string; scopeId: string }[];
    attempts: number;
    httpStatus: number | null;
    line: number | null;
    tokensRevokedFor?: string[] | null;
  }[];
}

let sim: Simulator;
let env: NodeJS.ProcessEnv;
let pool: ReturnType<Simulator['org']['sampleUsers']> = [];

/** Disjoint samples of active users holding at least two grants. */
function users(count: number) {
  const got = pool.splice(0, count);
  expect(got).toHaveLength(count);
  return got;
}

async function report(runId: string): Promise<Report> {
  const r = await runCli(['report', runId], env);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as Report;
}

beforeAll(async () => {
  sim = await startTestSim({ users: 400, recordRequests: 50_000 });
  env = envFor(sim);
  pool = sim.org.sampleUsers({ count: 200, status: 'ACTIVE', minGrants: 2 });
});
afterAll(async () => {
  await sim.close();
});

describe('run: each kind of target', () => {
  it('revokes every grant of the users in a CSV, and no one else\'s', async () => {
    const leavers = users(8);
    const bystander = sim.org.sampleUsers({ count: 1, status: 'ACTIVE', minGrants: 1, offset: 390 })[0]!;
    const before = sim.org.grantsOf(bystander.id)!.length;
    const runId = uniqueRunId('all');
    const r = await runCli(['run', '--csv', writeCsv(['userId', ...leavers.map((u) => u.id)]), '--yes', '--run-id', runId], env);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    for (const u of leavers) expect(sim.org.grantsOf(u.id)).toEqual([]);
    expect(sim.org.grantsOf(bystander.id)!.length).toBe(before);
    const rep = await report(runId);
    expect(rep.state).toBe('completed');
    expect(rep.counts).toMatchObject({ total: 8, revoked: 8, pending: 0, failed: 0 });
    expect(rep.results.map((x) => x.userId)).toEqual(leavers.map((u) => u.id));
    expect(rep.results.map((x) => x.line)).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('with --client revokes only that client\'s grants', async () => {
    const sample = users(10);
    const clientId = sample[0]!.grants[0]!.clientId;
    const before = new Map(sample.map((u) => [u.id, sim.org.grantsOf(u.id)!]));
    const runId = uniqueRunId('client');
    const r = await runCli(['run', '--csv', writeCsv(['userId', ...sample.map((u) => u.id)]), '--client', clientId, '--yes', '--run-id', runId], env);
    expect(r.code).toBe(0);
    for (const u of sample) {
      const after = sim.org.grantsOf(u.id)!;
      expect(after.some((g) => g.clientId === clientId)).toBe(false);
      expect(after.map((g) => g.id).sort()).toEqual(before.get(u.id)!.filter((g) => g.clientId !== clientId).map((g) => g.id).sort());
    }
    const rep = await report(runId);
    // Revoked where the user held the client's grants; nothing to revoke (one GET, no DELETE) where not.
    for (const x of rep.results) {
      const held = before.get(x.userId!)!.some((g) => g.clientId === clientId);
      expect(x).toMatchObject({ clientId, status: held ? 'revoked' : 'nothing_to_revoke' });
    }
    expect(rep.results.some((x) => x.status === 'revoked')).toBe(true);
    expect(rep.results.some((x) => x.status === 'nothing_to_revoke')).toBe(true);
  });

  it('with a --scope nobody holds (a mistyped name): every target nothing_to_revoke, and a warning', async () => {
    const sample = users(3);
    const runId = uniqueRunId('scope-typo');
    const r = await runCli(['run', '--csv', writeCsv(['userId', ...sample.map((u) => u.id)]), '--scope', 'api:wrte', '--yes', '--run-id', runId], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('warning: no target held grants of scope api:wrte: is the scope right?');
    expect((await report(runId)).counts).toMatchObject({ total: 3, nothing_to_revoke: 3 });
  });

  it('with a --client nobody holds (a mistyped id): every target nothing_to_revoke, no DELETE, and a warning', async () => {
    const sample = users(5);
    const before = new Map(sample.map((u) => [u.id, sim.org.grantsOf(u.id)!.length]));
    const runId = uniqueRunId('client-typo');
    const r = await runCli(['run', '--csv', writeCsv(['userId', ...sample.map((u) => u.id)]), '--client', '0oaTYPOTYPOTYPOTYPO1', '--yes', '--run-id', runId], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('warning: no target held grants of client 0oaTYPOTYPOTYPOTYPO1');
    // The same from `status`, for a run enqueued and processed by the workers, watched from elsewhere.
    const st = await runCli(['status', runId], env);
    expect(st.code).toBe(0);
    expect(st.stderr).toContain('warning: no target held grants of client 0oaTYPOTYPOTYPOTYPO1');
    const rep = await report(runId);
    expect(rep.counts).toMatchObject({ total: 5, nothing_to_revoke: 5, revoked: 0 });
    for (const u of sample) expect(sim.org.grantsOf(u.id)!.length).toBe(before.get(u.id));
  });

  it('with --scope lists the grants of that scope and revokes each, counting them', async () => {
    const sample = users(10);
    const scopeId = sample[0]!.grants[0]!.scopeId;
    const before = new Map(sample.map((u) => [u.id, sim.org.grantsOf(u.id)!]));
    const runId = uniqueRunId('scope');
    const r = await runCli(['run', '--csv', writeCsv(['userId', ...sample.map((u) => u.id)]), '--scope', scopeId, '--yes', '--run-id', runId], env);
    expect(r.code).toBe(0);
    const rep = await report(runId);
    for (const res of rep.results) {
      const had = before.get(res.userId!)!.filter((g) => g.scopeId === scopeId).length;
      expect(res.grantsRevoked).toBe(had);
      expect(res.status).toBe(had > 0 ? 'revoked' : 'nothing_to_revoke');
      const left = sim.org.grantsOf(res.userId!)!;
      expect(left.some((g) => g.scopeId === scopeId)).toBe(false);
      expect(left.length).toBe(before.get(res.userId!)!.length - had);
    }
  });

  it("with --scope NAME revokes a custom scope's grants, whose scopeId is the scope's scp… id; with the id, the same", async () => {
    // Users holding a custom scope (api:write, an authorization server's own): Okta's grants carry its id, not the name.
    const pick = users(60).filter((u) => u.grants.some((g) => g.scope === 'api:write'));
    expect(pick.length).toBeGreaterThanOrEqual(4);
    const [byName, byId] = [pick.slice(0, 2), pick.slice(2, 4)];
    const scpId = byId[0]!.grants.find((g) => g.scope === 'api:write')!.scopeId;
    expect(scpId).toMatch(/^scp/);
    for (const [group, scope] of [[byName, 'api:write'], [byId, scpId]] as const) {
      const before = new Map(group.map((u) => [u.id, sim.org.grantsOf(u.id, true)!]));
      const runId = uniqueRunId('scope-name');
      const r = await runCli(['run', '--csv', writeCsv(['userId', ...group.map((u) => u.id)]), '--scope', scope, '--yes', '--run-id', runId], env);
      expect(r.code, r.stderr).toBe(0);
      const rep = await report(runId);
      for (const res of rep.results) {
        const had = before.get(res.userId!)!.filter((g) => g._embedded!.scope!.name === 'api:write');
        expect(had.length).toBeGreaterThan(0);
        expect(res).toMatchObject({ status: 'revoked', grantsRevoked: had.length });
        const left = sim.org.grantsOf(res.userId!, true)!;
        expect(left.some((g) => g._embedded!.scope!.name === 'api:write')).toBe(false);
        expect(left.length).toBe(before.get(res.userId!)!.length - had.length);
      }
    }
  });

  it('revokes exactly the grant a CSV row names, and reports a grant already gone as nothing_to_revoke', async () => {
    const sample = users(5);
    const rows = sample.map((u) => `${u.id},${u.grants[0]!.id}`);
    const runId = uniqueRunId('grant');
    const r = await runCli(['run', '--csv', writeCsv(['userId,grantId', ...rows, `${sample[0]!.id},oagGONE0000000000000`]), '--yes', '--run-id', runId], env);
    expect(r.code).toBe(0);
    for (const u of sample) {
      const left = sim.org.grantsOf(u.id)!.map((g) => g.id);
      expect(left).not.toContain(u.grants[0]!.id);
      expect(left.length).toBe(u.grants.length - 1);
    }
    const rep = await report(runId);
    expect(rep.counts).toMatchObject({ total: 6, revoked: 5, nothing_to_revoke: 1 });
    expect(rep.results.find((x) => x.grantId === 'oagGONE0000000000000')!.status).toBe('nothing_to_revoke');
  });

  it('refuses --scope or --client with rows that name a grantId (a grant goes whole): exit 2, nothing revoked', async () => {
    const [u] = users(1);
    const csv = writeCsv(['userId,grantId', `${u!.id},`, `${u!.id},${u!.grants[0]!.id}`]);
    for (const flag of [['--scope', u!.grants[0]!.scopeId === 'openid' ? 'email' : 'openid'], ['--client', '0oaNOTTHECLIENT00000']]) {
      const runId = uniqueRunId('grant-and-flag');
      const r = await runCli(['run', '--csv', csv, ...flag, '--yes', '--run-id', runId], env);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`targets\\.csv:3: names a grantId, which is revoked whole whatever ${flag[0]} says`));
      expect((await runCli(['status', runId], env)).code).toBe(2);
    }
    expect(sim.org.grantsOf(u!.id)!.length).toBe(u!.grants.length);
  });

  it('refuses a row whose grantId or clientId cell is empty (it would revoke every grant of the user) unless --client narrows it: exit 2, nothing revoked', async () => {
    const [a, b] = users(2);
    const held = (u: typeof a) => sim.org.grantsOf(u!.id)!.length;
    const before = [held(a), held(b)];
    for (const rows of [['userId,grantId', `${a!.id},${a!.grants[0]!.id}`, `${b!.id},`], ['userId,clientId,note', `${a!.id},${a!.grants[0]!.clientId},x`, `${b!.id},,y`]]) {
      for (const extra of [[], ['--skip-invalid'], ['--dry-run']]) {
        const runId = uniqueRunId('wide-row');
        const r = await runCli(['run', '--csv', writeCsv(rows), '--yes', '--run-id', runId, ...extra], env);
        expect(r.code, r.stderr).toBe(2);
        expect(r.stderr).toMatch(/targets\.csv:3: the clientId, scopeId and grantId cells are empty .*would revoke every grant of the user/);
        expect((await runCli(['status', runId], env)).code).toBe(2);
      }
    }
    expect([held(a), held(b)]).toEqual(before);
    // A --client on the command line is what an empty clientId cell then takes.
    const client = b!.grants[0]!.clientId;
    const runId = uniqueRunId('wide-row-client');
    const r = await runCli(['run', '--csv', writeCsv(['userId,clientId', `${b!.id},`]), '--client', client, '--yes', '--run-id', runId], env);
    expect(r.code, r.stderr).toBe(0);
    expect(sim.org.grantsOf(b!.id)!.filter((g) => g.clientId === client)).toEqual([]);
    expect(sim.org.grantsOf(b!.id)!.length).toBe(b!.grants.filter((g) => g.clientId !== client).length);
    // `*` says it on purpose: that row's user loses every grant, beside a row that names one.
    const [c, d] = users(2);
    const star = uniqueRunId('wide-row-star');
    const s = await runCli(['run', '--csv', writeCsv(['userId,grantId', `${c!.id},${c!.grants[0]!.id}`, `${d!.id},*`]), '--yes', '--run-id', star], env);
    expect(s.code, s.stderr).toBe(0);
    expect(sim.org.grantsOf(c!.id)!.length).toBe(c!.grants.length - 1);
    expect(sim.org.grantsOf(d!.id)).toEqual([]);
  });

  it('resolves a login to its user first, and reports unknown users as user_not_found', async () => {
    const [byLogin] = users(1);
    const runId = uniqueRunId('login');
    const csv = writeCsv(['login,userId', `${byLogin!.login},`, 'nobody.here@example.com,', ',00uNOSUCHUSER0000000']);
    const r = await runCli(['run', '--csv', csv, '--yes', '--run-id', runId], env);
    expect(r.code).toBe(0);
    const rep = await report(runId);
    expect(rep.results[0]).toMatchObject({ login: byLogin!.login, userId: byLogin!.id, status: 'revoked' });
    expect(rep.results[1]).toMatchObject({ login: 'nobody.here@example.com', status: 'user_not_found' });
    expect(rep.results[2]).toMatchObject({ userId: '00uNOSUCHUSER0000000', status: 'user_not_found' });
    expect(sim.org.grantsOf(byLogin!.id)).toEqual([]);
  });

  it('counts duplicate rows once', async () => {
    const [u] = users(1);
    const runId = uniqueRunId('dup');
    const r = await runCli(['run', '--csv', writeCsv(['userId,note', `${u!.id},a`, `${u!.id},b`, `${u!.id},c`]), '--yes', '--run-id', runId], env);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/2 duplicate rows/);
    const rep = await report(runId);
    expect(rep.counts.total).toBe(1);
    expect(rep.results).toHaveLength(1);
    expect(rep.results[0]!.line).toBe(2);
  });

  it("counts every request of a directory run, its listing's pages too", async () => {
    const runId = uniqueRunId('listing-counted');
    const before = sim.log.requests().length;
    const r = await runCli(['run', '--filter', 'status eq "SUSPENDED"', '--dry-run', '--run-id', runId], env);
    expect(r.code, r.stderr).toBe(0);
    const received = sim.log.requests().slice(before);
    const rep = await report(runId);
    expect(rep.counts.total).toBeGreaterThan(0);
    // One listing page at least, then one grants listing per user (a dry run lists, never deletes).
    expect(received.filter((q) => q.path === '/api/v1/users').length).toBeGreaterThanOrEqual(1);
    expect(rep.requests.total).toBe(received.length);
  });

  it('changes nothing in a dry run, and lists what would be revoked', async () => {
    const sample = users(4);
    const before = sample.map((u) => sim.org.grantsOf(u.id)!.map((g) => g.id).sort());
    sim.log.reset();
    const runId = uniqueRunId('dry');
    const r = await runCli(['run', '--csv', writeCsv(['userId', ...sample.map((u) => u.id)]), '--dry-run', '--run-id', runId], env);
    expect(r.code).toBe(0);
    expect(sample.map((u) => sim.org.grantsOf(u.id)!.map((g) => g.id).sort())).toEqual(before);
    expect(Object.keys(sim.log.snapshot().byEndpoint).filter((e) => e.startsWith('DELETE'))).toEqual([]);
    const rep = await report(runId);
    rep.results.forEach((x, i) => {
      expect(x.status).toBe('would_revoke');
      expect(x.grants!.map((g) => g.id).sort()).toEqual(before[i]);
    });
  });

  it('keeps a snapshot of each target\'s grants as evidence', async () => {
    const sample = users(3);
    const before = sample.map((u) => sim.org.grantsOf(u.id)!.map((g) => g.id).sort());
    const runId = uniqueRunId('snap');
    const r = await runCli(['run', '--csv', writeCsv(['userId', ...sample.map((u) => u.id)]), '--snapshot', '--yes', '--run-id', runId], env);
    expect(r.code).toBe(0);
    const rep = await report(runId);
    rep.results.forEach((x, i) => {
      expect(x.status).toBe('revoked');
      expect(x.grantsRevoked).toBe(before[i]!.length);
      expect(x.grants!.map((g) => g.id).sort()).toEqual(before[i]);
    });
    // The CSV a ticket gets carries the evidence too: each grant's client and scope.
    const csv = await runCli(['report', runId, '--format', 'csv'], env);
    const rows = parse(csv.stdout, { columns: true }) as Record<string, string>[];
    rows.forEach((row, i) => {
      expect(row.grants!.split(' ').sort()).toEqual(rep.results[i]!.grants!.map((g) => `${g.clientId}:${g.scopeId}`).sort());
    });
    for (const u of sample) expect(sim.org.grantsOf(u.id)).toEqual([]);
  });
});

describe('run --tokens: refresh tokens too', () => {
  /** Users from the pool who hold a refresh token (a grant of offline_access). */
  function holders(count: number) {
    const got: typeof pool = [];
    for (let i = 0; i < pool.length && got.length < count; ) {
      if (sim.org.tokensOf(pool[i]!.id)!.length > 0) got.push(...pool.splice(i, 1));
      else i++;
    }
    expect(got).toHaveLength(count);
    return got;
  }
  const tokenClients = (id: string) => [...new Set(sim.org.tokensOf(id)!.map((t) => t.clientId))].sort();

  it('without --tokens, refresh tokens outlive the grants; with it they go too, client by client, and the report names the clients', async () => {
    const [kept, gone] = [holders(3), holders(4)];
    const keptTokens = kept.map((u) => tokenClients(u.id));
    const goneTokens = gone.map((u) => tokenClients(u.id));
    const plain = await runCli(['run', '--csv', writeCsv(['userId', ...kept.map((u) => u.id)]), '--yes', '--run-id', uniqueRunId('notokens')], env);
    expect(plain.code, plain.stderr).toBe(0);
    for (const [i, u] of kept.entries()) {
      expect(sim.org.grantsOf(u.id)).toEqual([]);
      expect(tokenClients(u.id)).toEqual(keptTokens[i]);
    }
    const runId = uniqueRunId('tokens');
    const r = await runCli(['run', '--csv', writeCsv(['userId', ...gone.map((u) => u.id)]), '--tokens', '--yes', '--run-id', runId], env);
    expect(r.code, r.stderr).toBe(0);
    for (const u of gone) {
      expect(sim.org.grantsOf(u.id)).toEqual([]);
      expect(sim.org.tokensOf(u.id)).toEqual([]);
    }
    const rep = await report(runId);
    expect(rep.counts).toMatchObject({ revoked: 4, failed: 0 });
    expect(rep.results.map((x) => [...x.tokensRevokedFor!].sort())).toEqual(goneTokens);
    const csv = await runCli(['report', runId, '--format', 'csv'], env);
    const [header, first] = csv.stdout.split('\n');
    expect(header!.split(',').at(-1)).toBe('tokensRevokedFor');
    expect(first!.split(',').at(-1)!.split(' ').sort()).toEqual(goneTokens[0]);
  });

  it('reports the status of the request that revoked, not of the listing of clients after it', async () => {
    // Users with grants and no refresh token: after the grants' DELETE, the listing finds no client.
    const sample = pool.filter((u) => sim.org.tokensOf(u.id)!.length === 0).slice(0, 3);
    expect(sample).toHaveLength(3);
    for (const u of sample) pool.splice(pool.indexOf(u), 1);
    const runId = uniqueRunId('status');
    const r = await runCli(['run', '--csv', writeCsv(['userId', ...sample.map((u) => u.id)]), '--tokens', '--yes', '--run-id', runId], env);
    expect(r.code, r.stderr).toBe(0);
    const rep = await report(runId);
    expect(rep.results.map((x) => [x.status, x.httpStatus, x.tokensRevokedFor])).toEqual(sample.map(() => ['revoked', 204, []]));
  });

  it("with a client, only that client's grants and tokens go", async () => {
    const sample = holders(4);
    const rows = sample.map((u) => [u.id, tokenClients(u.id)[0]!] as const);
    const before = new Map(sample.map((u) => [u.id, tokenClients(u.id)]));
    const runId = uniqueRunId('clienttokens');
    const r = await runCli(['run', '--csv', writeCsv(['userId,clientId', ...rows.map((x) => x.join(','))]), '--tokens', '--yes', '--run-id', runId], env);
    expect(r.code, r.stderr).toBe(0);
    for (const [id, clientId] of rows) {
      expect(sim.org.grantsOf(id)!.some((g) => g.clientId === clientId)).toBe(false);
      expect(tokenClients(id)).toEqual(before.get(id)!.filter((c) => c !== clientId));
    }
    const rep = await report(runId);
    expect(rep.results.map((x) => x.tokensRevokedFor)).toEqual(rows.map(([, c]) => [c]));
  });

  it('with a client, a user who holds neither its grants nor its tokens costs one request and is nothing_to_revoke', async () => {
    const clientId = tokenClients(holders(1)[0]!.id)[0]!;
    const holds = (id: string) => sim.org.grantsOf(id)!.some((g) => g.clientId === clientId) || tokenClients(id).includes(clientId);
    const [yes, no] = [pool.filter((u) => holds(u.id)).slice(0, 3), pool.filter((u) => !holds(u.id)).slice(0, 3)];
    expect([yes.length, no.length]).toEqual([3, 3]);
    for (const u of [...yes, ...no]) pool.splice(pool.indexOf(u), 1);
    sim.log.reset();
    const runId = uniqueRunId('probe');
    const r = await runCli(['run', '--csv', writeCsv(['userId', ...[...yes, ...no].map((u) => u.id)]), '--client', clientId, '--tokens', '--yes', '--run-id', runId], env);
    expect(r.code, r.stderr).toBe(0);
    for (const u of yes) expect(holds(u.id)).toBe(false);
    const rep = await report(runId);
    expect(rep.results.map((x) => x.status)).toEqual(['revoked', 'revoked', 'revoked', 'nothing_to_revoke', 'nothing_to_revoke', 'nothing_to_revoke']);
    const calls = sim.log.snapshot().byEndpoint;
    expect(calls['GET /api/v1/users/{userId}/clients']).toBe(6);
    expect(calls['DELETE /api/v1/users/{userId}/clients/{clientId}/grants']).toBe(3);
    expect(calls['DELETE /api/v1/users/{userId}/clients/{clientId}/tokens']).toBe(3);
  });

  it('in a dry run lists the clients whose tokens would go, and revokes nothing', async () => {
    const sample = holders(3);
    const expected = sample.map((u) => tokenClients(u.id));
    sim.log.reset();
    const runId = uniqueRunId('drytokens');
    const r = await runCli(['run', '--csv', writeCsv(['userId', ...sample.map((u) => u.id)]), '--tokens', '--dry-run', '--run-id', runId], env);
    expect(r.code, r.stderr).toBe(0);
    expect(Object.keys(sim.log.snapshot().byEndpoint).filter((e) => e.startsWith('DELETE'))).toEqual([]);
    expect(sample.map((u) => tokenClients(u.id))).toEqual(expected);
    const rep = await report(runId);
    expect(rep.results.map((x) => x.status)).toEqual(['would_revoke', 'would_revoke', 'would_revoke']);
    expect(rep.results.map((x) => [...x.tokensRevokedFor!].sort())).toEqual(expected);
  });

  it('is refused with --scope: tokens are revoked per client (exit 2, nothing enqueued)', async () => {
    const r = await runCli(['run', '--csv', writeCsv(['userId', users(1)[0]!.id]), '--scope', 'openid', '--tokens', '--yes'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--tokens goes with --client or with all grants, not with --scope/);
  });
});
