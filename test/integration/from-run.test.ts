import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HaltError } from '../../src/errors.ts';
import { RunStore } from '../../src/runs/run-store.ts';
import type { Simulator } from '../../src/sim/index.ts';
import { readRunTargets } from '../../src/sources/run-source.ts';
import { runCli } from '../helpers/cli.ts';
import { connectTestRedis, uniqueRunId } from '../helpers/redis.ts';
import { envFor, startTestSim, writeCsv } from '../helpers/sim.ts';

interface Report {
  state: string;
  source: { kind: string; value: string; results?: string[] };
  target: { clientId: string | null; scopeId: string | null };
  counts: Record<string, number>;
  results: { userId: string | null; login: string | null; clientId: string | null; status: string; line: number | null; tokensRevokedFor?: string[] | null }[];
}

let sim: Simulator;
let env: NodeJS.ProcessEnv;

async function report(runId: string): Promise<Report> {
  const r = await runCli(['report', runId], env);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as Report;
}

/** The run does not exist: a refused command stored nothing. */
async function expectNoRun(runId: string) {
  const r = await runCli(['status', runId], env);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/no such run/);
}

beforeAll(async () => {
  sim = await startTestSim({ users: 300, recordRequests: 10_000 });
  env = envFor(sim);
});
afterAll(async () => {
  await sim.close();
});

describe('--from-run: an earlier run\'s targets', () => {
  const dry = uniqueRunId('review');
  const real = uniqueRunId('revoke');
  let users: ReturnType<Simulator['org']['sampleUsers']> = [];
  let clientId = '';

  it('revokes exactly what a reviewed dry run found, with its client and its --tokens, and sends nothing for the rest', async () => {
    users = sim.org.sampleUsers({ count: 30, status: 'ACTIVE', minGrants: 1 });
    // The client most of them hold, so that some hold it and some do not.
    const holders = new Map<string, number>();
    for (const u of users) for (const c of new Set(u.grants.map((g) => g.clientId))) holders.set(c, (holders.get(c) ?? 0) + 1);
    clientId = [...holders.entries()].sort((a, b) => b[1] - a[1])[0]![0];
    const csv = writeCsv(['userId', ...users.map((u) => u.id)]);

    sim.log.reset();
    const d = await runCli(['run', '--csv', csv, '--client', clientId, '--tokens', '--dry-run', '--run-id', dry], env);
    expect(d.code).toBe(0);
    // The dry run looks at the user's clients first: a user who never used the app costs that one request.
    const holding = users.filter((u) => u.grants.some((g) => g.clientId === clientId) || sim.org.tokensOf(u.id)!.some((t) => t.clientId === clientId));
    const listings = sim.log.requests().filter((e) => e.method === 'GET' && e.path.endsWith(`/clients/${clientId}/grants`));
    expect(listings.length).toBe(holding.length);
    expect(sim.log.requests().filter((e) => e.method === 'GET' && /\/users\/[^/]+\/clients$/.test(e.path)).length).toBe(users.length);
    const review = await report(dry);
    const found = review.results.filter((r) => r.status === 'would_revoke');
    const none = review.results.filter((r) => r.status === 'nothing_to_revoke');
    expect(found.length).toBeGreaterThan(0);
    expect(none.length).toBeGreaterThan(0);
    expect(found.length + none.length).toBe(users.length);
    // The dry run's summary names the next step.
    expect(d.stdout).toContain(`to revoke exactly these ${found.length}: grantsweep run --from-run ${dry} --yes`);

    sim.log.reset();
    const r = await runCli(['run', '--from-run', dry, '--yes', '--run-id', real], env);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);

    const rep = await report(real);
    expect(rep.state).toBe('completed');
    expect(rep.source).toEqual({ kind: 'run', value: dry, results: ['would_revoke', 'revoked'] });
    expect(rep.target).toEqual({ clientId, scopeId: null });
    expect(rep.counts).toMatchObject({ total: found.length, revoked: found.length, failed: 0, pending: 0 });
    // The same people in the same order, with their lines in the file the dry run read.
    expect(rep.results.map((x) => [x.userId, x.line])).toEqual(found.map((x) => [x.userId, x.line]));
    expect(rep.results.every((x) => x.clientId === clientId)).toBe(true);
    const page = await runCli(['report', real, '--format', 'html'], env);
    expect(page.stdout).toContain(`the targets of run ${dry} whose result was would_revoke or revoked`);
    // --tokens came with the dry run: each target reports the clients whose tokens went.
    expect(rep.results.every((x) => Array.isArray(x.tokensRevokedFor))).toBe(true);

    for (const u of users) {
      expect(sim.org.grantsOf(u.id)!.some((g) => g.clientId === clientId)).toBe(false);
      expect(sim.org.tokensOf(u.id)!.some((t) => t.clientId === clientId)).toBe(false);
      // Other clients' grants are untouched.
      expect(sim.org.grantsOf(u.id)!.length).toBe(u.grants.filter((g) => g.clientId !== clientId).length);
    }
    const touched = new Set(sim.log.requests().map((e) => /^\/api\/v1\/users\/([^/]+)\//.exec(e.path)?.[1]).filter(Boolean));
    for (const x of none) expect(touched.has(x.userId!)).toBe(false);
    for (const x of found) expect(touched.has(x.userId!)).toBe(true);
    // The dry run already found them holding the client: no listing of their clients before the DELETE.
    expect(sim.log.requests().filter((e) => e.method === 'GET' && /^\/api\/v1\/users\/[^/]+\/clients$/.test(e.path))).toEqual([]);
  });

  it('checks afterwards with --dry-run that nothing came back, and finds what did', async () => {
    const v1 = uniqueRunId('verify');
    const check = await runCli(['run', '--from-run', real, '--dry-run', '--run-id', v1], env);
    expect(check.code).toBe(0);
    // Finding nothing is the good news here: no "is the client id right?" warning.
    expect(check.stderr).not.toContain('warning: no target held');
    const first = await report(v1);
    const revoked = (await report(real)).counts.revoked!;
    expect(first.counts).toMatchObject({ total: revoked, nothing_to_revoke: revoked, would_revoke: 0 });

    // The users consent again (the seeded org comes back whole).
    sim.org.reset();
    const v2 = uniqueRunId('verify');
    expect((await runCli(['run', '--from-run', real, '--dry-run', '--run-id', v2], env)).code).toBe(0);
    expect((await report(v2)).counts).toMatchObject({ total: revoked, would_revoke: revoked, nothing_to_revoke: 0 });

    // --with-result chooses other targets: the dry run's users who held nothing of the client.
    const v3 = uniqueRunId('others');
    expect((await runCli(['run', '--from-run', dry, '--with-result', 'nothing_to_revoke', '--dry-run', '--run-id', v3], env)).code).toBe(0);
    const others = await report(v3);
    const expected = (await report(dry)).results.filter((r) => r.status === 'nothing_to_revoke').map((r) => r.userId);
    expect(others.results.map((r) => r.userId)).toEqual(expected);

    // Revoking the users the dry run found holding nothing: they are looked at (the dry run did not find
    // them holding it), and are nothing_to_revoke; no DELETE is sent for them.
    sim.log.reset();
    const v4 = uniqueRunId('nonholders');
    expect((await runCli(['run', '--from-run', dry, '--with-result', 'nothing_to_revoke', '--yes', '--run-id', v4], env)).code).toBe(0);
    const nonholders = await report(v4);
    expect(nonholders.counts).toMatchObject({ total: expected.length, nothing_to_revoke: expected.length, revoked: 0 });
    expect(sim.log.requests().filter((e) => e.method === 'DELETE')).toEqual([]);
  });

  it('refuses, storing nothing: an unknown run, a run not final, another org, a bad result, flags that do not go with it', async () => {
    const cases: [string[], RegExp, NodeJS.ProcessEnv?][] = [
      [['--from-run', 'no-such-run-xyz'], /--from-run: no such run "no-such-run-xyz"/],
      [['--from-run', 'bad id!'], /--from-run: expected/],
      [['--from-run', dry, '--with-result', 'revokd'], /--with-result: "revokd" is not a result/],
      [['--from-run', dry, '--with-result', 'invalid'], /--with-result: "invalid"/],
      [['--from-run', dry, '--with-result', ' , '], /--with-result: name at least one/],
      [['--csv', writeCsv(['userId', users[0]!.id]), '--with-result', 'revoked'], /--with-result goes with --from-run/],
      [['--from-run', dry, '--client', clientId], /--from-run takes each target with its own client and scope/],
      [['--from-run', dry, '--csv', writeCsv(['userId', users[0]!.id])], /only one source at a time: got --csv and --from-run/],
      [['--from-run', dry], /revoked in http:\/\/127\.0\.0\.1:\d+, not in http:\/\/127\.0\.0\.1:9/, { OKTA_ORG_URL: 'http://127.0.0.1:9' }],
    ];
    for (const [args, message, extra] of cases) {
      const runId = uniqueRunId('refused');
      const r = await runCli(['run', ...args, '--yes', '--run-id', runId], { ...env, ...extra });
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.code, args.join(' ')).toBe(2);
      await expectNoRun(runId);
    }

    // A run whose results may still change: enqueued, no worker.
    const queued = uniqueRunId('queued');
    expect((await runCli(['enqueue', '--csv', writeCsv(['userId', users[0]!.id]), '--dry-run', '--run-id', queued], env)).code).toBe(0);
    const runId = uniqueRunId('refused');
    const r = await runCli(['run', '--from-run', queued, '--yes', '--run-id', runId], env);
    expect(r.stderr).toMatch(new RegExp(`run ${queued} is queued: its results may still change`));
    expect(r.code).toBe(2);
    await expectNoRun(runId);
    expect((await runCli(['cancel', queued], env)).code).toBe(0);

    const s = await runCli(['schedule', 'add', 'from-run-nightly', '--cron', '0 2 * * *', '--from-run', dry, '--yes'], env);
    expect(s.stderr).toMatch(/a schedule needs a source that changes/);
    expect(s.code).toBe(2);
  });

  it('a run pruned while a new run reads its targets halts the new run (exit 3) instead of starting it with part of them', async () => {
    const source = uniqueRunId('pruned');
    const sample = sim.org.sampleUsers({ count: 5, status: 'ACTIVE', minGrants: 1, offset: 200 });
    const d = await runCli(['run', '--csv', writeCsv(['userId', ...sample.map((u) => u.id)]), '--dry-run', '--run-id', source], env);
    expect(d.code, d.stderr).toBe(0);
    const redis = await connectTestRedis();
    try {
      const store = new RunStore(redis);
      const read = readRunTargets(store, source, ['would_revoke']);
      const first = await read.next();
      expect(first.done).toBe(false);
      // `runs prune` deletes it between the first target read and the rest.
      expect(await store.deleteRun(source, Date.now() + 60_000)).not.toBeNull();
      const rest = (async () => {
        for await (const _ of read);
      })();
      await expect(rest).rejects.toThrow(HaltError);
      await expect(rest).rejects.toThrow(new RegExp(`run ${source} was deleted \\(\`runs prune\`\\) while its targets were read: .* nothing was revoked`));
    } finally {
      redis.disconnect();
    }
  });
});
