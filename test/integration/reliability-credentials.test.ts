import { generateKeyPairSync } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Simulator } from '../../src/sim/index.ts';
import { spawnCli } from '../helpers/cli.ts';
import { reportOf, spawnWorkers, stopAll, until, waitWorkers } from '../helpers/fleet.ts';
import { connectTestRedis, uniqueRunId } from '../helpers/redis.ts';
import { envFor, startTestSim, writeCsv } from '../helpers/sim.ts';

/**
 * Credentials Okta refuses: the run halts within its first few requests, counted on the
 * simulator (at most 20, with a `run` process and two more workers sending), exits 3 and
 * says what to check. A halt leaves the undone targets pending (for `retry`), not failed.
 */

const TARGETS = 150;
let redis: Redis;
beforeAll(async () => {
  redis = await connectTestRedis();
});
afterAll(() => redis?.disconnect());

async function haltScenario(sim: Simulator, env: NodeJS.ProcessEnv, label: string) {
  const sample = sim.org.sampleUsers({ count: TARGETS, status: 'ACTIVE', minGrants: 1 });
  // Two workers already up on the org's queue, so three processes send at once.
  const workers = spawnWorkers(2, env);
  let result;
  try {
    await waitWorkers(redis, sim.url, 2);
    const runId = uniqueRunId(label);
    // A process of its own (not in this one, as runCli would): its log lines are captured with the workers'.
    const r = await spawnCli(['run', '--csv', writeCsv(['userId', ...sample.map((u) => u.id)]), '--yes', '--run-id', runId], env).done;
    const log = sim.log.snapshot();
    const rep = await reportOf(runId, env);
    result = { r, log, rep, runId };
  } finally {
    const codes = await stopAll(workers);
    expect(codes.map((c) => c.code)).toEqual([0, 0]);
    // One halt, one line: by whichever of the three processes halted the run.
    if (result) {
      const lines = [result.r.stderr, ...codes.map((c) => c.stderr)].join('\n').split('\n');
      expect(lines.filter((l) => l.includes('"msg":"run halted:')).length).toBe(1);
    }
  }
  return result;
}

describe('reliability: credentials Okta refuses', () => {
  it('a rejected API token (401) halts the run within 20 requests, exit 3, and says to check OKTA_API_TOKEN', async () => {
    const sim = await startTestSim({ users: 400 });
    try {
      // A short pacing window: requests go out as fast as the in-flight cap allows, the hardest case for "at most 20".
      const env = envFor(sim, { OKTA_API_TOKEN: '00thisTokenWasRevokedYesterday00000000000', GRANTSWEEP_RATE_WINDOW_MS: '2000' });
      const { r, log, rep } = await haltScenario(sim, env, 'bad-token');
      expect(r.code).toBe(3);
      expect(log.total).toBeGreaterThan(0);
      expect(log.total).toBeLessThanOrEqual(20);
      expect(log.byStatus['401']).toBe(log.total);
      expect(r.stdout + r.stderr).toMatch(/halted \(credentials rejected \(HTTP 401.*check OKTA_API_TOKEN/);
      expect(rep.state).toBe('halted');
      expect(rep.counts.failed).toBe(0);
      expect(rep.counts.pending).toBe(TARGETS - (rep.counts.revoked ?? 0));
      expect(sim.org.counts().revokedGrants).toBe(0);
      console.log(`[reliability] 401: ${JSON.stringify({ requests: log.total, exit: r.code, pending: rep.counts.pending })}`);
    } finally {
      await sim.close();
    }
  }, 60_000);

  it('a token without permission (403) halts the run within 20 requests, exit 3, and names the missing permission', async () => {
    const sim = await startTestSim({ users: 400 });
    try {
      const env = envFor(sim, { OKTA_API_TOKEN: sim.readOnlyToken });
      const { r, log, rep } = await haltScenario(sim, env, 'read-only');
      expect(r.code).toBe(3);
      expect(log.total).toBeLessThanOrEqual(20);
      expect(log.byStatus['403']).toBe(log.total);
      expect(r.stdout + r.stderr).toMatch(/halted \(permission missing.*okta\.users\.manage/);
      expect(rep.state).toBe('halted');
      // The few targets that got their 403 before the halt are failed; the rest wait for `retry`.
      expect(rep.counts.failed).toBeLessThanOrEqual(log.total);
      expect(rep.counts.pending + rep.counts.failed).toBe(TARGETS);
      expect(sim.org.counts().revokedGrants).toBe(0);
      console.log(`[reliability] 403: ${JSON.stringify({ requests: log.total, exit: r.code, failed: rep.counts.failed, pending: rep.counts.pending })}`);
    } finally {
      await sim.close();
    }
  }, 60_000);

  it('a service app whose key Okta does not know halts within 20 requests (token endpoint included), exit 3', async () => {
    const registered = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const sim = await startTestSim({
      users: 400,
      oauthClients: [{ clientId: '0oaGrantsweepSvc0001', publicJwk: registered.publicKey.export({ format: 'jwk' }) as Record<string, unknown> }],
    });
    try {
      const env = envFor(sim, {
        OKTA_API_TOKEN: undefined,
        OKTA_CLIENT_ID: '0oaGrantsweepSvc0001',
        OKTA_PRIVATE_KEY: other.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      });
      const { r, log, rep } = await haltScenario(sim, env, 'bad-key');
      expect(r.code).toBe(3);
      expect(log.total).toBeGreaterThan(0);
      expect(log.total).toBeLessThanOrEqual(20);
      expect(log.byEndpoint['POST /oauth2/v1/token']).toBe(log.total);
      expect(r.stdout + r.stderr).toMatch(/credentials rejected.*client id, key/);
      expect(rep.state).toBe('halted');
      console.log(`[reliability] bad key: ${JSON.stringify({ requests: log.total, exit: r.code })}`);
    } finally {
      await sim.close();
    }
  }, 60_000);
});

describe('reliability: one process whose credentials Okta refuses, beside others whose it takes', () => {
  /**
   * A run of 120 targets at 30 a 2-s window (about 8 s), enqueued with a good token, and one good
   * worker; returns once it has 10 results, so the run has had answers before the stale token comes.
   */
  async function runUnderWay(label: string) {
    const sim = await startTestSim({ users: 300, rateLimits: { 'user-grants': { limit: 60 } }, windowSec: 2 });
    const good = envFor(sim, { GRANTSWEEP_RATE_WINDOW_MS: '2000' });
    const stale = { ...good, OKTA_API_TOKEN: '00thisTokenWasRotatedOnThisMachineOnly000' };
    const sample = sim.org.sampleUsers({ count: 120, status: 'ACTIVE', minGrants: 1 });
    const runId = uniqueRunId(label);
    const goodWorker = spawnWorkers(1, good)[0]!;
    try {
      const enq = await spawnCli(['enqueue', '--csv', writeCsv(['userId', ...sample.map((u) => u.id)]), '--yes', '--run-id', runId], good).done;
      expect(enq.code, enq.stderr).toBe(0);
      await until('the first results', async () => ((await reportOf(runId, good)).counts.revoked ?? 0) >= 10, 30_000, 100);
    } catch (err) {
      await stopAll([goodWorker]);
      await sim.close();
      throw err;
    }
    return { sim, good, stale, sample, runId, goodWorker };
  }

  it("a worker with a revoked token stops (exit 3, the reason said) and the run goes on with the others: not halted for all", async () => {
    const { sim, good, stale, sample, runId, goodWorker } = await runUnderWay('rotated');
    const workers = [goodWorker];
    let staleWorker: ReturnType<typeof spawnCli> | null = null;
    try {
      staleWorker = spawnCli(['worker'], stale);
      const out = await staleWorker.done;
      expect(out.code, out.stderr).toBe(3);
      expect(out.stderr).toMatch(new RegExp(`credentials rejected \\(HTTP 401.*Run ${runId} has had answers before: this process stops taking work, and the run stays for the other workers, whose settings may work`));
      expect(sim.log.snapshot().byStatus['401'] ?? 0).toBeGreaterThan(0);
      await until('the run to complete', async () => (await reportOf(runId, good)).state !== 'running', 60_000, 200);
      const rep = await reportOf(runId, good);
      expect(rep.state).toBe('completed');
      expect(rep.counts).toMatchObject({ revoked: sample.length, failed: 0, pending: 0 });
    } finally {
      if (staleWorker) staleWorker.child.kill('SIGKILL');
      const codes = await stopAll(workers);
      expect(codes.map((c) => c.code)).toEqual([0]);
      await sim.close();
    }
  }, 120_000);

  it('alone, the same refusal halts the run as before (nobody would go on with it), and status says why', async () => {
    const { sim, good, stale, runId, goodWorker } = await runUnderWay('rotated-alone');
    let staleWorker: ReturnType<typeof spawnCli> | null = null;
    try {
      expect((await stopAll([goodWorker])).map((c) => c.code)).toEqual([0]);
      staleWorker = spawnCli(['worker'], stale);
      await until('the run to halt', async () => (await reportOf(runId, good)).state === 'halted', 30_000, 100);
      const rep = await reportOf(runId, good);
      expect(rep.stateReason).toMatch(/credentials rejected \(HTTP 401/);
      expect(rep.counts.pending).toBeGreaterThan(0);
      // The worker itself goes on (for other runs), as a worker after a halt does.
      expect(staleWorker.child.exitCode).toBeNull();
    } finally {
      const codes = await stopAll(staleWorker ? [staleWorker] : []);
      expect(codes.map((c) => c.code)).toEqual(staleWorker ? [0] : []);
      await sim.close();
    }
  }, 120_000);
});
