import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Simulator } from '../../src/sim/index.ts';
import { runCli } from '../helpers/cli.ts';
import { reportOf } from '../helpers/fleet.ts';
import { orgKeyOf } from '../../src/queue/org.ts';
import { orgKeys } from '../../src/redis/keys.ts';
import { connectTestRedis, uniqueRunId } from '../helpers/redis.ts';
import { envFor, startTestSim } from '../helpers/sim.ts';

/**
 * Directory expressions are passed to Okta as one encoded query parameter, never spliced
 * into the URL: the simulator's request log shows the path and the raw query as sent.
 */

let sim: Simulator;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  sim = await startTestSim({ users: 120, recordRequests: 1_000 });
  env = envFor(sim);
});
afterAll(async () => {
  await sim?.close();
});
beforeEach(() => sim.log.reset());

const listing = () => sim.log.requests().filter((e) => e.path === '/api/v1/users' || e.path.startsWith('/api/v1/users?'));

describe('bad input: --filter and --search expressions', () => {
  it('quotes and backslashes arrive as one filter parameter that decodes to exactly the expression', async () => {
    const expr = String.raw`profile.lastName eq "O\"Brien \\ Jr" or status eq "SUSPENDED"`;
    const runId = uniqueRunId('filter');
    const r = await runCli(['run', '--filter', expr, '--dry-run', '--run-id', runId], env);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const list = listing();
    expect(list.length).toBeGreaterThan(0);
    for (const e of list) {
      expect(e.method).toBe('GET');
      expect(e.path).toBe('/api/v1/users');
      const q = new URLSearchParams(e.query);
      expect(q.getAll('filter')).toEqual([expr]);
      expect([...q.keys()].filter((k) => k !== 'filter' && k !== 'limit' && k !== 'after')).toEqual([]);
      // Nothing of the expression travels unencoded.
      expect(e.query).not.toMatch(/["\\ ]/);
    }
    expect(list[0]!.outcome).toBe(200);
    // The sim matched the expression as Okta would: the suspended users, none else.
    const rep = await reportOf(runId, env);
    const suspended = sim.org.sampleUsers({ count: 1000, status: 'SUSPENDED' }).map((u) => u.id).sort();
    expect(rep.results.map((x) => x.userId).sort()).toEqual(suspended);
  });

  it('a query that matches no one completes with nothing revoked and says so on stderr (exit 0)', async () => {
    const runId = uniqueRunId('empty');
    // Okta compares filter values exactly: a lower-case status matches no user.
    const r = await runCli(['run', '--filter', 'status eq "active"', '--yes', '--run-id', runId], env);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stderr).toContain('warning: --filter "status eq \\"active\\"" matched no users: nothing to revoke (Okta compares values exactly');
    expect((await reportOf(runId, env)).counts.total).toBe(0);
    const found = await runCli(['run', '--filter', 'status eq "SUSPENDED"', '--dry-run', '--run-id', uniqueRunId('some')], env);
    expect(found.code).toBe(0);
    expect(found.stderr).not.toContain('matched no users');
  });

  it('an expression that tries to add parameters stays one parameter (Okta refuses it: exit 2)', async () => {
    const expr = 'status eq "ACTIVE"&search=id pr&limit=1#x';
    const r = await runCli(['run', '--filter', expr, '--dry-run'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--filter ${JSON.stringify(expr)}: Okta refused the query (400 E0000031 Invalid search criteria.); nothing was enqueued`);
    const list = listing();
    expect(list).toHaveLength(1);
    const q = new URLSearchParams(list[0]!.query);
    expect(q.getAll('filter')).toEqual([expr]);
    expect(q.getAll('search')).toEqual([]);
    expect(q.getAll('limit')).toEqual(['200']);
    expect(list[0]!.path).toBe('/api/v1/users');
  });

  it('a query Okta refuses (a malformed search, an unknown group) stores no run: exit 2 naming the flag, and the run id stays free', async () => {
    for (const source of [['--search', 'status eq "ACTIVE'], ['--group', '00gNOSUCHGROUP000000'], ['--app', '0oaNOSUCHAPP00000000']]) {
      const runId = uniqueRunId('refused-query');
      const r = await runCli(['run', ...source, '--yes', '--run-id', runId], env);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(`${source[0]} ${JSON.stringify(source[1])}: Okta refused the query (`);
      expect(r.stderr).toContain('nothing was enqueued');
      const status = await runCli(['status', runId], env);
      expect(status.code).toBe(2);
      expect(status.stderr).toMatch(/no such run|not found/);
      // The id can be used by the corrected command.
      const again = await runCli(['enqueue', '--search', 'status eq "SUSPENDED"', '--yes', '--run-id', runId], env);
      expect(again.code, again.stderr).toBe(0);
    }
    // An id that is taken is refused before the query's first request, and the run that has it is left alone.
    const runId = uniqueRunId('taken');
    expect((await runCli(['enqueue', '--search', 'status eq "SUSPENDED"', '--yes', '--run-id', runId], env)).code).toBe(0);
    const before = sim.log.snapshot().total;
    const counted = JSON.parse((await runCli(['status', runId, '--json'], env)).stdout).requests.total;
    const taken = await runCli(['run', '--search', 'status eq "ACTIVE"', '--yes', '--run-id', runId], env);
    expect(taken.code).toBe(2);
    expect(taken.stderr).toMatch(/a run with this id already exists/);
    expect(sim.log.snapshot().total).toBe(before);
    expect(JSON.parse((await runCli(['status', runId, '--json'], env)).stdout).requests.total).toBe(counted);
    // Nor is that run stopped by the refusal (it was: the refused launch set the id's stop mark, and the run never went on).
    const redis = await connectTestRedis();
    try {
      expect(await redis.hget(orgKeys(orgKeyOf(sim.url)).stopped, runId)).toBeNull();
    } finally {
      redis.disconnect();
    }
  });

  it('a --search with a line break or a NUL is refused before any request (exit 2)', async () => {
    for (const [i, expr] of ['status eq "ACTIVE"\nprofile.login pr', 'id eq "a\u0000b"'].entries()) {
      const runId = `refused-search-${process.pid}-${Date.now()}-${i}`;
      const r = await runCli(['run', '--search', expr, '--dry-run', '--run-id', runId], env);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/--search: must not contain control characters/);
      // Refused before a run was stored: nothing to clean up.
      const status = await runCli(['status', runId], env);
      expect(status.stderr).toMatch(/no such run/);
    }
    expect(sim.log.snapshot().total).toBe(0);
  });

  it('--group and --app ids go through the same path-segment check as CSV ids', async () => {
    for (const [flag, value] of [['--group', '../apps'], ['--app', '0oa1%2F..'], ['--group', 'me']] as const) {
      const r = await runCli(['run', flag, value, '--dry-run'], env);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`${flag}: (groupId|appId) `));
    }
    expect(sim.log.snapshot().total).toBe(0);
  });
});
