import { generateKeyPairSync } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { SimOptions, Simulator } from '../../src/sim/index.ts';
import { runCli, spawnCli } from '../helpers/cli.ts';
import { orgKeyOf } from '../../src/queue/org.ts';
import { controlBudget } from '../../src/queue/budget.ts';
import { spawnWorkers, stopAll, until, waitFinal } from '../helpers/fleet.ts';
import { connectTestRedis, uniqueRunId } from '../helpers/redis.ts';
import { envFor, startTestSim, writeCsv } from '../helpers/sim.ts';

let sim: Simulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

const csvOf = (s: Simulator, count: number, offset = 0) =>
  writeCsv(['userId', ...s.org.sampleUsers({ count, status: 'ACTIVE', minGrants: 1, offset }).map((u) => u.id)]);

async function reportOf(runId: string, env: NodeJS.ProcessEnv) {
  const r = await runCli(['report', runId], env);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as { state: string; stateReason: string | null; counts: Record<string, number>; requests: { total: number; rateLimited: number }; results: { status: string; attempts: number }[] };
}

/**
 * A simulator with 2-s windows and two service apps an admin gave 30 % of each bucket: `reader`
 * may read that share (okta.principalRateLimits.read), `blind` may not. Returns the environment
 * of a grantsweep command with either.
 */
async function withCappedApps(opts: SimOptions, extra: NodeJS.ProcessEnv = {}) {
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicJwk = key.publicKey.export({ format: 'jwk' }) as Record<string, unknown>;
  const scopes = ['okta.users.read', 'okta.users.manage'];
  sim = await startTestSim({
    ...opts,
    windowSec: 2,
    oauthClients: [
      { clientId: '0oaCappedReader', publicJwk, scopes: [...scopes, 'okta.principalRateLimits.read'], ratePercentage: 30 },
      { clientId: '0oaCappedBlind', publicJwk, scopes, ratePercentage: 30 },
    ],
  });
  const s = sim;
  const pem = key.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const envOf = (app: 'reader' | 'blind') => ({
    ...envFor(s, { GRANTSWEEP_RATE_WINDOW_MS: '2000', ...extra }),
    OKTA_API_TOKEN: '',
    OKTA_CLIENT_ID: app === 'reader' ? '0oaCappedReader' : '0oaCappedBlind',
    OKTA_PRIVATE_KEY: pem,
  });
  return [s, envOf] as const;
}

describe('run: Okta says no', () => {
  it('on 429 every worker pauses until the reset, spends no attempt, and the run completes', async () => {
    // The run is paced at half the bucket, but the token may use only 30 %: 429s are certain.
    sim = await startTestSim({ rateLimits: { 'user-grants': { limit: 40 } }, windowSec: 2, perTokenShare: 0.3 });
    const env = envFor(sim, { GRANTSWEEP_RATE_WINDOW_MS: '2000', GRANTSWEEP_MAX_IN_FLIGHT: '3' });
    const runId = uniqueRunId('429');
    const r = await runCli(['run', '--csv', csvOf(sim, 40), '--yes', '--run-id', runId], env);
    expect(r.code).toBe(0);
    const log = sim.log.snapshot();
    expect(log.total429).toBeGreaterThan(0);
    const windows = log.windows['user-grants']!;
    const windowsWith429 = windows.filter((w) => w.rejected > 0).length;
    // Without the shared pause each window would take a 429 per request over the cap;
    // with it, at most what was already in flight when the first 429 came.
    expect(log.total429).toBeLessThanOrEqual(windowsWith429 * 3);
    const rep = await reportOf(runId, env);
    expect(rep.counts).toMatchObject({ total: 40, revoked: 40, failed: 0 });
    expect(rep.results.every((x) => x.attempts === 1)).toBe(true);
    expect(rep.requests.rateLimited).toBe(log.total429);
  });

  it("learns a cap on the credential (Okta's per-token share) from its first 429s, then keeps under it with none", async () => {
    // The run may use half the bucket, the token only 30 % of it: Okta's headers still show the bucket's room.
    sim = await startTestSim({ users: 600, rateLimits: { 'user-grants': { limit: 120 } }, windowSec: 2, perTokenShare: 0.3 });
    const env = envFor(sim, { GRANTSWEEP_RATE_WINDOW_MS: '2000' });
    const runId = uniqueRunId('token-cap');
    const r = await spawnCli(['run', '--csv', csvOf(sim, 240), '--yes', '--run-id', runId], env).done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/Okta refused this credential more of the user-grants bucket while the bucket had room \(30 % used\).*keeps under 27 %/);
    const log = sim.log.snapshot();
    const windows = log.windows['user-grants']!;
    console.log(`[budget] token cap 0.3, share 0.5: ${JSON.stringify(windows.map((w) => [w.count, w.rejected]))}`);
    expect(log.total429).toBeGreaterThan(0);
    // 429s in the first two windows only: the first burst teaches the cap (the second window
    // may still hold requests whose slots were taken before it was learned).
    const last429 = windows.reduce((last, w, i) => (w.rejected > 0 ? i : last), -1);
    expect(last429).toBeLessThanOrEqual(1);
    // Afterwards every full window stays under the token's 36, near nine tenths of it (32).
    const full = windows.slice(2, -1);
    expect(full.length).toBeGreaterThanOrEqual(3);
    for (const w of full) {
      expect(w.count).toBeLessThanOrEqual(36);
      expect(w.count).toBeGreaterThanOrEqual(24);
    }
    const rep = await reportOf(runId, env);
    expect(rep.counts).toMatchObject({ total: 240, revoked: 240, failed: 0 });
    expect(rep.requests.rateLimited).toBe(log.total429);
    // `check` tells the operator, and counts the cap in what a run sends.
    const check = await runCli(['check', '--json'], env);
    expect(check.code, check.stderr).toBe(0);
    const found = JSON.parse(check.stdout) as { credentialCap: { percent: number } | null; runPerMinute: number };
    expect(found.credentialCap?.percent).toBe(27);
    expect(found.runPerMinute).toBe(Math.floor(120 * 0.27));
    const said = await runCli(['check'], env);
    expect(said.stdout).toMatch(/^cap +this credential met its own cap on user-grants .*runs with it keep under 27 % of the bucket/m);
  });

  it("keeps a cap learned on one credential to that credential's runs: a service app's run beside it uses its whole share", async () => {
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    sim = await startTestSim({
      users: 1200,
      rateLimits: { 'user-grants': { limit: 120 } },
      windowSec: 2,
      perTokenShare: 0.3,
      oauthClients: [{ clientId: '0oaSecondCredential', publicJwk: key.publicKey.export({ format: 'jwk' }) as Record<string, unknown> }],
    });
    const tokenEnv = envFor(sim, { GRANTSWEEP_RATE_WINDOW_MS: '2000' });
    const appEnv = { ...tokenEnv, OKTA_API_TOKEN: '', OKTA_CLIENT_ID: '0oaSecondCredential', OKTA_PRIVATE_KEY: key.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
    const first = await spawnCli(['run', '--csv', csvOf(sim, 120), '--yes', '--run-id', uniqueRunId('cap-token')], tokenEnv).done;
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/keeps under 27 %/);

    // From now on only the API token is capped by Okta; the service app may use its whole share.
    sim.configure({ perTokenShare: null });
    sim.log.reset();
    const runId = uniqueRunId('cap-app');
    const second = await spawnCli(['run', '--csv', csvOf(sim, 240, 400), '--yes', '--run-id', runId], appEnv).done;
    expect(second.code, second.stderr).toBe(0);
    const log = sim.log.snapshot();
    const windows = log.windows['user-grants']!;
    console.log(`[budget] after the token's cap, the app's run at 0.5: ${JSON.stringify(windows.map((w) => [w.count, w.rejected]))}`);
    expect(log.total429).toBe(0);
    // Its share is 59 a window (0.5 × 120, less the safety margin); under the token's cap it would be 32.
    const full = windows.slice(1, -1);
    expect(full.length).toBeGreaterThanOrEqual(2);
    for (const w of full) expect(w.count).toBeGreaterThan(45);
    expect((await reportOf(runId, appEnv)).counts).toMatchObject({ total: 240, revoked: 240 });

    // `check` tells each credential its own.
    const capOf = async (env: NodeJS.ProcessEnv) => {
      const r = await runCli(['check', '--json'], env);
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { credentialCap: { percent: number } | null }).credentialCap;
    };
    expect((await capOf(tokenEnv))?.percent).toBe(27);
    expect(await capOf(appEnv)).toBeNull();
  });

  it("reads a service app's principal rate limit before the first request and keeps under it: no 429 at all", async () => {
    const [s, envOf] = await withCappedApps({ users: 600, rateLimits: { 'user-grants': { limit: 120 } } }, { LOG_LEVEL: 'info' });

    const check = await runCli(['check'], envOf('reader'));
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toMatch(/^share +Okta lets this service app use 30 % of each bucket \(its principal rate limit\)/m);
    const blindCheck = await runCli(['check', '--json'], envOf('blind'));
    expect(JSON.parse(blindCheck.stdout).principalShare).toEqual({ unknown: 'the app may not read it (grant it okta.principalRateLimits.read)', refused: true });

    s.log.reset();
    const runId = uniqueRunId('principal');
    const r = await spawnCli(['run', '--csv', csvOf(s, 150), '--yes', '--run-id', runId], envOf('reader')).done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/Okta lets this service app use 30 % of each bucket \(its principal rate limit\): every run with it keeps under 29\.7 %/);
    expect(r.stderr).not.toMatch(/still running 3 s after the command ended/);
    const log = s.log.snapshot();
    const windows = log.windows['user-grants']!;
    console.log(`[budget] principal rate limit 30 %, share 0.5: ${JSON.stringify(windows.map((w) => [w.count, w.rejected]))}`);
    expect(log.total429).toBe(0);
    const full = windows.slice(1, -1);
    expect(full.length).toBeGreaterThanOrEqual(2);
    for (const w of full) expect(w.count).toBeLessThanOrEqual(36);
    expect((await reportOf(runId, envOf('reader'))).counts).toMatchObject({ total: 150, revoked: 150 });
    // check afterwards: the app's share, not a cap "met" (none was: it was read).
    const after = await runCli(['check'], envOf('reader'));
    expect(after.stdout).toMatch(/^share +Okta lets this service app use 30 %/m);
    expect(after.stdout).not.toMatch(/^cap /m);

    // Without the read, the first window meets the app's cap.
    s.log.reset();
    const blind = await spawnCli(['run', '--csv', csvOf(s, 150, 300), '--yes', '--run-id', uniqueRunId('blind')], envOf('blind')).done;
    expect(blind.code, blind.stderr).toBe(0);
    console.log(`[budget] blind: ${JSON.stringify(s.log.snapshot().windows['user-grants']!.map((w) => [w.count, w.rejected]))}`);
    expect(s.log.snapshot().total429).toBeGreaterThan(0);
    // Its refused token request (a failed grant in the System Log) is not repeated by the next start for a day.
    const tokenRequests = () => s.log.snapshot().byEndpoint['POST /oauth2/v1/token'] ?? 0;
    expect(tokenRequests()).toBe(2);
    s.log.reset();
    expect((await spawnCli(['run', '--csv', csvOf(s, 5, 500), '--yes', '--run-id', uniqueRunId('blind-again')], envOf('blind')).done).code).toBe(0);
    expect(tokenRequests()).toBe(1);
  });

  it("a long-lived worker reads the app's principal rate limit again: an admin's change holds without a restart", async () => {
    const [s, envOf] = await withCappedApps({ users: 600, rateLimits: { 'user-grants': { limit: 120 } } }, { GRANTSWEEP_PRINCIPAL_SHARE_REFRESH_MS: '1000', LOG_LEVEL: 'info' });
    const env = envOf('reader');
    const redis = await connectTestRedis();
    const share = () => controlBudget(redis, orgKeyOf(s.url), 'app:0oaCappedReader').credentialShare('user-grants');
    const [worker] = spawnWorkers(1, env);
    try {
      await until('the share read at start', async () => (await share()) !== null, 30_000);
      expect(await share()).toBeCloseTo(0.297, 4);

      s.setPrincipalRateLimit('0oaCappedReader', 60);
      await until('the raised share read again', async () => (await share()) === 0.594, 15_000);
      // A run at --rate-share 0.5 now goes at its own share (59 a window), not at the 30 % read at start (35).
      s.log.reset();
      const runId = uniqueRunId('reshare');
      const e = await runCli(['enqueue', '--csv', csvOf(s, 200), '--yes', '--run-id', runId], { ...env, LOG_LEVEL: 'warn' });
      expect(e.code, e.stderr).toBe(0);
      expect(await waitFinal(redis, runId, 60_000)).toBe('completed');
      const log = s.log.snapshot();
      const full = log.windows['user-grants']!.slice(1, -1);
      console.log(`[budget] principal rate limit raised to 60 %, share 0.5: ${JSON.stringify(log.windows['user-grants']!.map((w) => [w.count, w.rejected]))}`);
      expect(full.length).toBeGreaterThanOrEqual(1);
      for (const w of full) expect(w.count).toBeGreaterThan(40);
      expect(log.total429).toBe(0);

      s.setPrincipalRateLimit('0oaCappedReader', 20);
      await until('the lowered share read again', async () => (await share()) === 0.198, 15_000);
      s.setPrincipalRateLimit('0oaCappedReader', null);
      await until('the removed share forgotten', async () => (await share()) === null, 15_000);
    } finally {
      const [out] = await stopAll([worker!]);
      redis.disconnect();
      expect(out!.code, out!.stderr).toBe(0);
      expect(out!.stdout + out!.stderr).toMatch(/Okta lets this service app use 60 % of each bucket/);
      expect(out!.stdout + out!.stderr).toMatch(/no principal rate limit of its own any more \(it had 20 %\)/);
    }
  });

  it("keeps a directory listing under the service app's principal rate limit too", async () => {
    // Pages of 200 users (about 10 pages), 10 listings a 2-s window, the app 30 % of that: 3 a window.
    // Enough pages that the blind app, paced at its 5 a window, meets the 429 even when a loaded
    // machine slows its pages (with 6 pages it once kept under 4 a window by being slow).
    const [s, envOf] = await withCappedApps({ users: 2500, rateLimits: { 'users-list': { limit: 10 }, 'user-grants': { limit: 100_000 } } });
    const listing429 = () => s.log.snapshot().windows['users-list']!.reduce((n, w) => n + w.rejected, 0);
    const listings = () => s.log.snapshot().byEndpoint['GET /api/v1/users'] ?? 0;

    const r = await runCli(['run', '--filter', 'status eq "ACTIVE"', '--dry-run', '--run-id', uniqueRunId('list-reader')], envOf('reader'));
    expect(r.code, r.stderr).toBe(0);
    expect(listings()).toBeGreaterThanOrEqual(5);
    console.log(`[budget] listing under the app's 30 %: ${JSON.stringify(s.log.snapshot().windows['users-list']!.map((w) => [w.count, w.rejected]))}`);
    expect(listing429()).toBe(0);

    s.log.reset();
    const b = await runCli(['run', '--filter', 'status eq "ACTIVE"', '--dry-run', '--run-id', uniqueRunId('list-blind')], envOf('blind'));
    expect(b.code, b.stderr).toBe(0);
    expect(listing429()).toBeGreaterThan(0);
  });

  it('retries transient failures with backoff until every target is final', async () => {
    sim = await startTestSim({ faults: { errorRate: 0.2, resetRate: 0.05, seed: 11 } });
    const env = envFor(sim, { GRANTSWEEP_ATTEMPTS: '10' });
    const runId = uniqueRunId('flaky');
    const r = await runCli(['run', '--csv', csvOf(sim, 30), '--yes', '--run-id', runId], env);
    expect(r.code).toBe(0);
    const log = sim.log.snapshot();
    expect(log.faults.error500 + log.faults.error503 + log.faults.reset).toBeGreaterThan(0);
    const rep = await reportOf(runId, env);
    expect(rep.counts).toMatchObject({ total: 30, revoked: 30, failed: 0, pending: 0 });
    expect(rep.results.some((x) => x.attempts > 1)).toBe(true);
  });

  it('halts the whole run on a 401 instead of failing every target, and exits 3', async () => {
    sim = await startTestSim();
    const env = envFor(sim, { OKTA_API_TOKEN: 'not-the-token-00000000000000' });
    const runId = uniqueRunId('401');
    const r = await runCli(['run', '--csv', csvOf(sim, 100), '--yes', '--run-id', runId], env);
    expect(r.code).toBe(3);
    expect(sim.log.snapshot().total).toBeLessThanOrEqual(20);
    const rep = await reportOf(runId, env);
    expect(rep.state).toBe('halted');
    expect(rep.stateReason).toMatch(/credentials rejected/);
    expect(rep.counts.failed).toBe(0);
    expect(rep.counts.pending).toBeGreaterThan(0);
  });

  it('retries the failed targets of a run, and they then succeed', async () => {
    sim = await startTestSim({ faults: { errorRate: 1 } });
    const env = envFor(sim, { GRANTSWEEP_ATTEMPTS: '1' });
    const runId = uniqueRunId('retry');
    const first = await runCli(['run', '--csv', csvOf(sim, 6), '--yes', '--run-id', runId], env);
    expect(first.code).toBe(1);
    expect((await reportOf(runId, env)).counts).toMatchObject({ total: 6, failed: 6 });
    // The summary names the way to them, and that command lists the six.
    const hint = /failed targets: (grantsweep report \S+ --format csv --status failed)/.exec(first.stdout);
    expect(hint, first.stdout).not.toBeNull();
    const listed = await runCli(hint![1]!.split(' ').slice(1), env);
    expect(listed.stdout.trim().split('\n').slice(1).map((l) => l.split(',')[5])).toEqual(Array(6).fill('failed'));
    sim.configure({ faults: { errorRate: 0 } });
    // Flags that mean nothing without --wait, or with it, are refused before anything is requeued.
    for (const [args, message] of [[['--concurrency', '2'], /--concurrency: only with --wait/], [['--json', '--wait'], /--json: retry without --wait/]] as const) {
      const refused = await runCli(['retry', runId, ...args], env);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(message);
    }
    expect((await reportOf(runId, env)).counts).toMatchObject({ total: 6, failed: 6 });
    const again = await runCli(['retry', runId, '--wait'], env);
    expect(again.code).toBe(0);
    const rep = await reportOf(runId, env);
    expect(rep.counts).toMatchObject({ total: 6, revoked: 6, failed: 0 });
    expect(rep.results.every((x) => x.attempts === 2)).toBe(true);
    // Once it completed: nothing to retry, nothing to cancel, said as JSON for a script.
    const none = await runCli(['retry', runId, '--json'], env);
    expect(none.code, none.stderr).toBe(0);
    expect(JSON.parse(none.stdout)).toEqual({ runId, requeued: 0, resumed: false, pending: 0 });
    const cancel = await runCli(['cancel', runId, '--json'], env);
    expect(JSON.parse(cancel.stdout)).toEqual({ runId, state: 'completed', alreadyCompleted: true });
  });
});

describe('run: cancel and fleets', () => {
  it('cancel stops every request for the run, across worker processes', async () => {
    sim = await startTestSim({ rateLimits: { 'user-grants': { limit: 120 } }, windowSec: 60 });
    const env = envFor(sim);
    const runId = uniqueRunId('cancel');
    const enq = await runCli(['enqueue', '--csv', csvOf(sim, 100), '--yes', '--run-id', runId], env);
    expect(enq.code).toBe(0);
    expect(enq.stdout.trim()).toBe(runId);
    const workers = [spawnCli(['worker'], env), spawnCli(['worker'], env)];
    try {
      while (sim.log.snapshot().total < 5) await new Promise((r) => setTimeout(r, 100));
      const c = await runCli(['cancel', runId], env);
      expect(c.code).toBe(0);
      expect(c.stdout).toMatch(/cancelled/);
      await new Promise((r) => setTimeout(r, 300));
      const atCancel = sim.log.snapshot().total;
      await new Promise((r) => setTimeout(r, 1_500));
      expect(sim.log.snapshot().total).toBe(atCancel);
      const rep = await reportOf(runId, env);
      expect(rep.state).toBe('cancelled');
      expect(rep.counts.pending).toBeGreaterThan(0);
    } finally {
      for (const w of workers) w.child.kill('SIGTERM');
      const codes = await Promise.all(workers.map((w) => w.done));
      expect(codes.map((c) => c.code)).toEqual([0, 0]);
    }
  });

  it('two worker processes and a separate enqueue finish one run with exactly one result per target', async () => {
    sim = await startTestSim({ faults: { latencyMs: 5 } });
    const env = envFor(sim);
    const runId = uniqueRunId('fleet');
    const sample = sim.org.sampleUsers({ count: 120, status: 'ACTIVE', minGrants: 1 });
    const workers = [spawnCli(['worker', '--concurrency', '4'], env), spawnCli(['worker', '--concurrency', '4'], env)];
    try {
      const enq = await runCli(['enqueue', '--csv', writeCsv(['userId', ...sample.map((u) => u.id)]), '--yes', '--run-id', runId], env);
      expect(enq.code).toBe(0);
      let state = '';
      for (let i = 0; i < 600 && state !== 'completed'; i++) {
        await new Promise((r) => setTimeout(r, 100));
        state = JSON.parse((await runCli(['status', runId, '--json'], env)).stdout).state;
      }
      expect(state).toBe('completed');
      const rep = await reportOf(runId, env);
      expect(rep.results).toHaveLength(120);
      expect(rep.counts).toMatchObject({ total: 120, revoked: 120, pending: 0 });
      for (const u of sample) expect(sim.org.grantsOf(u.id)).toEqual([]);
      // One DELETE per target: no target was revoked twice.
      expect(sim.log.snapshot().byEndpoint['DELETE /api/v1/users/{userId}/grants']).toBe(120);
    } finally {
      for (const w of workers) w.child.kill('SIGTERM');
      await Promise.all(workers.map((w) => w.done));
    }
  });
});
