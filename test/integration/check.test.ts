import { generateKeyPairSync } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckResult } from '../../src/cli/commands/check.ts';
import { ApiTokenAuth } from '../../src/okta/auth.ts';
import { WorkerHost } from '../../src/queue/worker-host.ts';
import type { Simulator } from '../../src/sim/index.ts';
import { runCli } from '../helpers/cli.ts';
import { connectTestRedis, redisUrl } from '../helpers/redis.ts';
import { envFor, startTestSim } from '../helpers/sim.ts';

/** `grantsweep check`: what a run would meet, found with two reads at Okta. */
const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
let sim: Simulator;

beforeAll(async () => {
  sim = await startTestSim({
    users: 20,
    rateLimits: { 'user-grants': { limit: 600 } },
    windowSec: 60,
    oauthClients: [{ clientId: '0oaCheckDpop', publicJwk: key.publicKey.export({ format: 'jwk' }) as Record<string, unknown>, dpop: true }],
  });
});
afterAll(() => sim.close());

async function check(env: NodeJS.ProcessEnv) {
  const before = sim.log.snapshot().total;
  const r = await runCli(['check', '--json'], env);
  return { ...r, result: r.code === 0 ? (JSON.parse(r.stdout) as CheckResult) : null, requests: sim.log.snapshot().total - before };
}

describe('grantsweep check', () => {
  it("reads the user-grants bucket's limit with two GETs and says what a run's share of it is", async () => {
    const env = envFor(sim, { GRANTSWEEP_RATE_SHARE: '0.5' });
    const r = await check(env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.result).toMatchObject({ orgUrl: sim.url, credential: 'api token', proxy: null, requests: 2, workers: 0, runPerMinute: 297 });
    expect(r.result!.grantsBucket).toMatchObject({ limit: 600 });
    expect(r.result!.grantsBucket!.remaining).toBeLessThan(600);
    expect(r.requests).toBe(2);
    // The settings a run would use, the token masked.
    expect(r.result!.settings).toMatchObject({ orgUrl: sim.url, credentials: { kind: 'apiToken', apiToken: '***' }, concurrency: 8, rateShare: 0.5, pacing: 'even' });
    expect(JSON.stringify(r.result)).not.toContain(env.OKTA_API_TOKEN!);
    // Only reads: nothing revoked.
    expect(sim.log.snapshot().byEndpoint['DELETE /api/v1/users/{userId}/grants'] ?? 0).toBe(0);
  });

  it('a dropped connection is read again, as a run would, not taken for an unreachable Okta', async () => {
    // Seed 8 drops the first GET and the third: each is asked again once.
    sim.configure({ faults: { resetRate: 0.5, seed: 8, methods: ['GET'] } });
    const before = sim.log.snapshot().faults.reset;
    try {
      const r = await check(envFor(sim));
      expect(r.code, r.stderr).toBe(0);
      expect(r.result!.grantsBucket).toMatchObject({ limit: 600 });
      expect(sim.log.snapshot().faults.reset - before).toBe(2);
    } finally {
      sim.configure({ faults: { resetRate: 0 } });
    }
  });

  it('prints one line per finding, with the time 10,000 targets would take', async () => {
    const r = await runCli(['check'], envFor(sim));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^okta +http:\/\/127\.0\.0\.1:\d+ · api token · 2 requests, all answered$/m);
    expect(r.stdout).toMatch(/^budget +user-grants: limit 600 a minute, \d+ left .*a run sends up to 297 a minute: 10,000 targets in about 34 min$/m);
    expect(r.stdout).toMatch(/^settings +concurrency 8 · rate share 0\.5 \(even\) · 10 in flight across workers · 5 attempts · timeout 10 s · log /m);
    expect(r.stdout).toMatch(/^workers +none on the org's queue/m);
    // The suite's Redis is the embedded one, on its append-only file.
    expect(r.stdout).toMatch(/^redis +\S+ · append-only file on$/m);
  });

  it('names a DPoP-bound service app and counts the workers on the org queue', async () => {
    const redis = await connectTestRedis();
    const host = new WorkerHost(redis, {
      redisUrl: redisUrl(), orgUrl: sim.url, auth: new ApiTokenAuth(sim.token), concurrency: 1, maxInFlight: 5, requestTimeoutMs: 5_000, log: pino({ level: 'silent' }),
    });
    host.start();
    try {
      const env = { ...envFor(sim), OKTA_API_TOKEN: '', OKTA_CLIENT_ID: '0oaCheckDpop', OKTA_PRIVATE_KEY: key.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
      const r = await check(env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.result).toMatchObject({ credential: 'service app, DPoP-bound token', requests: 2 });
      expect(r.result!.workers).toBeGreaterThanOrEqual(1);
    } finally {
      await host.close();
      redis.disconnect();
    }
  });

  it('a rejected token: exit 3 with what to check, after one request', async () => {
    const r = await check(envFor(sim, { OKTA_API_TOKEN: '00notTheRightToken00000000000000000000000' }));
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/Okta answered 401 E0000011.*credentials rejected; check OKTA_API_TOKEN/);
    expect(r.stderr).not.toContain('00notTheRightToken');
    expect(r.requests).toBe(1);
  });
});
