import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator, type SimOptions, type Simulator } from '../../src/sim/index.ts';

let sim: Simulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

async function start(opts: SimOptions): Promise<Simulator> {
  sim = await startSimulator({ users: 30, seed: 4, ...opts });
  return sim;
}

async function get(s: Simulator, path: string, token = s.token) {
  const res = await request(`${s.url}${path}`, { headers: { authorization: `SSWS ${token}` } });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

const grantsPath = (s: Simulator) => `/api/v1/users/${s.org.sampleUsers({ count: 1, minGrants: 1 })[0]!.id}/grants?limit=2`;
const header = (h: Record<string, string | string[] | undefined>, name: string) => Number(h[name]);

describe('simulated rate limiting over HTTP', () => {
  it('lists the OAuth apps given a principal rate limit, and refuses a listing without the principalType filter', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }) as Record<string, unknown>;
    const s = await start({ oauthClients: [{ clientId: '0oaLimited', publicJwk: jwk, ratePercentage: 25 }, { clientId: '0oaPlain', publicJwk: jwk }] });
    const listed = await get(s, `/api/v1/principal-rate-limits?filter=${encodeURIComponent('principalType eq "OAUTH_CLIENT"')}`);
    expect(listed.status).toBe(200);
    expect(listed.body).toEqual([expect.objectContaining({ principalId: '0oaLimited', principalType: 'OAUTH_CLIENT', defaultPercentage: 25 })]);
    expect((await get(s, `/api/v1/principal-rate-limits?filter=${encodeURIComponent('principalType eq "SSWS_TOKEN"')}`)).body).toEqual([]);
    const unfiltered = await get(s, '/api/v1/principal-rate-limits');
    expect(unfiltered.status).toBe(400);
    expect(unfiltered.body.errorCode).toBe('E0000031');
  });

  it('counts Remaining down and answers 429 E0000047 with Remaining 0 when the bucket is empty', async () => {
    const s = await start({ rateLimits: { 'user-grants': 3 } });
    const path = grantsPath(s);
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await get(s, path));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 429]);
    expect(answers.map((a) => header(a.headers, 'x-rate-limit-remaining'))).toEqual([2, 1, 0, 0]);
    expect(answers.every((a) => header(a.headers, 'x-rate-limit-limit') === 3)).toBe(true);
    expect(new Set(answers.map((a) => a.headers['x-rate-limit-reset'])).size).toBe(1);
    expect(answers[3]!.body).toMatchObject({
      errorCode: 'E0000047',
      errorSummary: 'API call exceeded rate limit due to too many requests.',
      errorLink: 'E0000047',
      errorCauses: [],
    });
    expect(answers[3]!.headers.date).toBeDefined();
    // Other buckets are untouched.
    expect((await get(s, '/api/v1/users?limit=1')).status).toBe(200);
    const log = s.log.snapshot();
    expect(log).toMatchObject({ total429: 1, rejected: { bucket: 1, token: 0, concurrency: 0 } });
    expect(log.byBucket).toEqual({ 'user-grants': 4, 'users-list': 1 });
  });

  it('answers the concurrency 429 with Limit 0 and Remaining 0 when too many requests are in flight', async () => {
    // Answers are held 1.5 s so the five requests overlap.
    const s = await start({ concurrencyLimit: 2, faults: { latencyMs: 1500 }, rateLimits: 'none' });
    const path = grantsPath(s);
    const answers = await Promise.all(Array.from({ length: 5 }, () => get(s, path)));
    const refused = answers.filter((a) => a.status === 429);
    expect(refused).toHaveLength(3);
    for (const a of refused) {
      expect(a.headers['x-rate-limit-limit']).toBe('0');
      expect(a.headers['x-rate-limit-remaining']).toBe('0');
      expect(String(a.headers['x-rate-limit-reset'])).toMatch(/^\d{10}$/);
      expect(a.body.errorCode).toBe('E0000047');
    }
    const log = s.log.snapshot();
    expect(log.maxConcurrency).toBe(2);
    expect(log.rejected.concurrency).toBe(3);
    // Slots free up once the answers are out.
    s.configure({ faults: { latencyMs: 0 } });
    expect((await get(s, path)).status).toBe(200);
  });

  it('sends X-Rate-Limit-Reset twice with duplicateResetHeader', async () => {
    const s = await start({ duplicateResetHeader: true });
    const { headers } = await get(s, grantsPath(s));
    const reset = headers['x-rate-limit-reset'];
    expect(Array.isArray(reset)).toBe(true);
    expect((reset as string[]).length).toBe(2);
    expect((reset as string[])[0]).toBe((reset as string[])[1]);
    // fetch folds the two lines into one value with a comma, which the Node SDK refuses to retry on.
    const viaFetch = await fetch(`${s.url}${grantsPath(s)}`, { headers: { authorization: `SSWS ${s.token}` } });
    await viaFetch.arrayBuffer();
    expect(viaFetch.headers.get('x-rate-limit-reset')).toContain(',');
  });

  it('records per-window counts and 429s per bucket, in order, with 1-second windows', async () => {
    const clock = { t: 1_800_000_000_400 };
    const s = await start({ now: () => clock.t, rateLimits: { 'user-grants': { limit: 2, windowSec: 1 } } });
    const path = grantsPath(s);
    const statuses: number[] = [];
    // Three requests in the first window, three one second later, two after an idle gap.
    for (const step of [0, 0, 0, 1000, 0, 0, 2500, 0]) {
      clock.t += step;
      statuses.push((await get(s, path)).status);
    }
    expect(statuses).toEqual([200, 200, 429, 200, 200, 429, 200, 200]);
    const windows = s.log.snapshot().windows['user-grants'] ?? [];
    expect(windows.map((w) => [w.start - 1_800_000_000_400, w.count, w.rejected])).toEqual([
      [0, 2, 1],
      [1000, 2, 1],
      // Windows stay on the grid of the first request: 3.5 s later is inside the window that began at 3 s.
      [3000, 2, 0],
    ]);
  });

  it('starts and stops a noisy neighbour through POST /__sim/config', async () => {
    const clock = { t: 1_800_000_000_000 };
    const s = await start({ now: () => clock.t, rateLimits: { 'user-grants': { limit: 100, windowSec: 60 } } });
    const path = grantsPath(s);
    const remaining = async () => header((await get(s, path)).headers, 'x-rate-limit-remaining');
    expect(await remaining()).toBe(99);
    const on = await fetch(`${s.url}/__sim/config`, { method: 'POST', body: JSON.stringify({ noisyNeighbour: { share: 0.4 } }) });
    expect(on.status).toBe(200);
    expect((await on.json()).noisyNeighbour).toEqual({ share: 0.4 });
    clock.t += 30_000;
    expect(await remaining()).toBe(100 - 2 - 20);
    await fetch(`${s.url}/__sim/config`, { method: 'POST', body: JSON.stringify({ noisyNeighbour: null }) });
    expect(await remaining()).toBe(100 - 3);
    expect(s.log.snapshot().windows['user-grants']?.[0]?.neighbour).toBe(0);
  });

  it('caps one token at its share of a bucket while the headers still show the org Remaining', async () => {
    const s = await start({ rateLimits: { 'user-grants': 4 }, perTokenShare: 0.5 });
    const path = grantsPath(s);
    const mine = [await get(s, path), await get(s, path), await get(s, path)];
    expect(mine.map((a) => a.status)).toEqual([200, 200, 429]);
    expect(header(mine[2]!.headers, 'x-rate-limit-remaining')).toBe(2);
    expect((await get(s, path, s.readOnlyToken)).status).toBe(200);
    const log = s.log.snapshot();
    expect(log.rejected.token).toBe(1);
    expect(log.byPrincipal).toEqual({ token: { requests: 3, rejected: 1 }, readOnlyToken: { requests: 1, rejected: 0 } });
  });

  it("reports a large limit and never answers 429 with rateLimits 'none'", async () => {
    const s = await start({ rateLimits: 'none' });
    const path = grantsPath(s);
    const answers = [];
    for (let i = 0; i < 30; i++) answers.push(await get(s, path));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(header(answers[29]!.headers, 'x-rate-limit-limit')).toBeGreaterThanOrEqual(100_000);
  });
});
