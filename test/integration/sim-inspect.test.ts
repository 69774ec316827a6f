import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator, type SampleUser, type Simulator } from '../../src/sim/index.ts';

let sim: Simulator;

async function inspect(path: string, method = 'GET', body?: unknown) {
  const res = await request(`${sim.url}${path}`, { method: method as 'GET', body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.statusCode, body: (await res.body.json()) as any };
}

async function api(path: string, method = 'GET') {
  const res = await request(`${sim.url}${path}`, { method: method as 'GET', headers: { authorization: `SSWS ${sim.token}` } });
  await res.body.dump();
  return res.statusCode;
}

beforeAll(async () => {
  sim = await startSimulator({ users: 120, seed: 17, grantsPerUser: 3 });
});
afterAll(() => sim.close());
beforeEach(async () => {
  await inspect('/__sim/reset', 'POST');
  sim.configure({ rateLimits: 'default' });
});

describe('simulator inspection endpoints', () => {
  it('GET /__sim/state gives org counts, and one user\'s active grants with ?userId=', async () => {
    const { body } = await inspect('/__sim/state');
    expect(body).toMatchObject({ users: 120, groups: 20, apps: 10, clients: 8, revokedGrants: 0 });
    expect(body.activeGrants).toBe(body.totalGrants);
    const u = sim.org.sampleUsers({ count: 1, minGrants: 1 })[0]!;
    const one = await inspect(`/__sim/state?userId=${u.id}`);
    expect(one.body.userId).toBe(u.id);
    expect(one.body.grants.map((g: { id: string }) => g.id)).toEqual(u.grants.map((g) => g.id));
    expect((await inspect('/__sim/state?userId=00uNoSuchUser0000000')).status).toBe(404);
  });

  it('GET /__sim/users samples users with their grant ids, client ids and scope ids', async () => {
    const { body } = await inspect('/__sim/users?count=5&status=ACTIVE&minGrants=2');
    const users = body as SampleUser[];
    expect(users).toHaveLength(5);
    for (const u of users) {
      expect(u).toMatchObject({ id: expect.stringMatching(/^00u/), login: expect.stringContaining('@'), status: 'ACTIVE' });
      expect(u.grants.length).toBeGreaterThanOrEqual(2);
      expect(u.grants[0]).toEqual({ id: expect.stringMatching(/^oag/), clientId: expect.stringMatching(/^0oa/), scopeId: expect.any(String), scope: expect.any(String) });
    }
    const later = (await inspect('/__sim/users?count=5&status=ACTIVE&minGrants=2&offset=60')).body as SampleUser[];
    expect(later.map((u) => u.id)).not.toContain(users[0]!.id);
    expect((await inspect('/__sim/users?status=ASLEEP')).status).toBe(400);
  });

  it('GET /__sim/directory lists group, app and client ids', async () => {
    const { body } = await inspect('/__sim/directory');
    expect(body.groups).toHaveLength(20);
    expect(body.groups[0].id).toMatch(/^00g[0-9A-Za-z]{17}$/);
    expect(body.apps).toHaveLength(10);
    expect(body.clients).toHaveLength(8);
    expect(body.apps.slice(0, 8)).toEqual(body.clients);
  });

  it('GET /__sim/log counts API requests by bucket, endpoint, status and token, but not its own', async () => {
    const u = sim.org.sampleUsers({ count: 1, minGrants: 1 })[0]!;
    await api(`/api/v1/users/${u.id}/grants`);
    await api(`/api/v1/users/${u.id}/grants/${u.grants[0]!.id}`, 'DELETE');
    await api(`/api/v1/users/${u.id}`);
    await inspect('/__sim/state');
    const { body } = await inspect('/__sim/log');
    expect(body.total).toBe(3);
    expect(body.byBucket).toEqual({ 'user-grants': 2, 'user-get': 1 });
    expect(body.byEndpoint).toEqual({
      'GET /api/v1/users/{userId}/grants': 1,
      'DELETE /api/v1/users/{userId}/grants/{grantId}': 1,
      'GET /api/v1/users/{idOrLogin}': 1,
    });
    expect(body.byStatus).toEqual({ '200': 2, '204': 1 });
    expect(body.byPrincipal).toEqual({ token: { requests: 3, rejected: 0 } });
    expect(body.maxConcurrency).toBe(1);
    expect(body.windows['user-grants']).toEqual([expect.objectContaining({ count: 2, rejected: 0 })]);
    const cleared = await inspect('/__sim/log?reset=1');
    expect(cleared.body.total).toBe(3);
    expect((await inspect('/__sim/log')).body.total).toBe(0);
  });

  it('POST /__sim/reset restores revoked grants and clears the log', async () => {
    const u = sim.org.sampleUsers({ count: 1, minGrants: 2 })[0]!;
    expect(await api(`/api/v1/users/${u.id}/grants`, 'DELETE')).toBe(204);
    expect((await inspect('/__sim/state')).body.revokedGrants).toBe(u.grants.length);
    const { body } = await inspect('/__sim/reset', 'POST');
    expect(body).toMatchObject({ ok: true, revokedGrants: 0 });
    expect(sim.org.grantsOf(u.id)).toHaveLength(u.grants.length);
    expect((await inspect('/__sim/log')).body.total).toBe(0);
  });

  it('POST /__sim/config changes limits at runtime and refuses invalid patches with 400', async () => {
    const ok = await inspect('/__sim/config', 'POST', { rateLimits: { 'user-get': 1 }, faults: { latencyMs: 0 } });
    expect(ok.status).toBe(200);
    expect(ok.body.buckets['user-get'].limit).toBe(1);
    const id = sim.org.sampleUsers({ count: 1 })[0]!.id;
    expect([await api(`/api/v1/users/${id}`), await api(`/api/v1/users/${id}`)]).toEqual([200, 429]);
    expect((await inspect('/__sim/config')).body.buckets['user-get'].limit).toBe(1);
    for (const bad of [{ rateLimits: { nope: 1 } }, { faults: { errorRate: 2 } }, { unknownKnob: true }]) {
      const res = await inspect('/__sim/config', 'POST', bad);
      expect(res.status).toBe(400);
      expect(typeof res.body.error).toBe('string');
    }
    expect(() => sim.configure({ concurrencyLimit: -1 })).toThrow(/concurrencyLimit/);
  });

  it('never rate limits or counts inspection requests', async () => {
    sim.configure({ rateLimits: { other: 1, 'user-grants': 1, 'users-list': 1, 'user-get': 1 } });
    for (let i = 0; i < 20; i++) expect((await inspect('/__sim/state')).status).toBe(200);
    expect((await inspect('/__sim/log')).body.total).toBe(0);
  });

  it('gives the same ids to two simulators started with the same seed', async () => {
    const twin = await startSimulator({ users: 120, seed: 17, grantsPerUser: 3 });
    try {
      const res = await request(`${twin.url}/__sim/users?count=20`);
      const twinUsers = (await res.body.json()) as SampleUser[];
      expect(twin.port).not.toBe(sim.port);
      expect(twinUsers).toEqual((await inspect('/__sim/users?count=20')).body);
    } finally {
      await twin.close();
    }
  });
});
