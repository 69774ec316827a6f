import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppUser, OktaUser } from '../../src/okta/types.ts';
import { startSimulator, type Simulator } from '../../src/sim/index.ts';

let sim: Simulator;

async function call(path: string) {
  const url = path.startsWith('http') ? path : `${sim.url}${path}`;
  const res = await request(url, { headers: { authorization: `SSWS ${sim.token}` } });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

function nextLink(header: string | string[] | undefined): string | undefined {
  const parts = (Array.isArray(header) ? header : [header ?? '']).flatMap((h) => h.split(/,\s*(?=<)/));
  return /<([^>]+)>/.exec(parts.find((p) => p.includes('rel="next"')) ?? '')?.[1];
}

async function all(path: string): Promise<unknown[]> {
  const out: unknown[] = [];
  let url: string | undefined = `${sim.url}${path}`;
  while (url) {
    const { status, headers, body } = await call(url);
    expect(status).toBe(200);
    out.push(...(body as unknown[]));
    url = nextLink(headers.link);
  }
  return out;
}

const search = (expr: string, extra = '') => `/api/v1/users?search=${encodeURIComponent(expr)}${extra}`;
const filter = (expr: string, extra = '') => `/api/v1/users?filter=${encodeURIComponent(expr)}${extra}`;

beforeAll(async () => {
  sim = await startSimulator({ users: 450, seed: 21, groups: 4, apps: 3, clients: 3, rateLimits: 'none' });
});
afterAll(() => sim.close());

describe('simulated users API', () => {
  it('gets a user by id and by URL-encoded login, with the User shape', async () => {
    const s = sim.org.sampleUsers({ count: 1, status: 'ACTIVE' })[0]!;
    const byId = await call(`/api/v1/users/${s.id}`);
    expect(byId.status).toBe(200);
    const u = byId.body as OktaUser;
    expect(u.id).toMatch(/^00u[0-9A-Za-z]{17}$/);
    expect(u).toMatchObject({ id: s.id, status: 'ACTIVE', profile: { login: s.login, email: s.email } });
    expect(Object.keys(u.profile)).toEqual(expect.arrayContaining(['login', 'email', 'firstName', 'lastName', 'department']));
    expect(u.created).toMatch(/\.\d{3}Z$/);
    const byLogin = await call(`/api/v1/users/${encodeURIComponent(s.login)}`);
    expect(byLogin.body).toEqual(u);
  });

  it('answers 404 E0000007 (User) for an unknown login and for me', async () => {
    for (const who of ['nobody@example.com', 'me']) {
      const { status, body } = await call(`/api/v1/users/${encodeURIComponent(who)}`);
      expect(status).toBe(404);
      expect(body).toMatchObject({ errorCode: 'E0000007', errorSummary: `Not found: Resource not found: ${who} (User)`, errorCauses: [] });
    }
  });

  it('lists every user but the DEPROVISIONED ones when there is no query, over pages of at most 200', async () => {
    const first = await call('/api/v1/users');
    expect((first.body as OktaUser[]).length).toBe(200);
    const users = (await all('/api/v1/users')) as OktaUser[];
    const deprovisioned = sim.org.sampleUsers({ count: 1000, status: 'DEPROVISIONED' }).length;
    expect(deprovisioned).toBeGreaterThan(0);
    expect(users.length).toBe(450 - deprovisioned);
    expect(users.some((u) => u.status === 'DEPROVISIONED')).toBe(false);
    expect(new Set(users.map((u) => u.id)).size).toBe(users.length);
    expect(((await call('/api/v1/users?limit=500')).body as OktaUser[]).length).toBe(200);
  });

  it('includes DEPROVISIONED users for search and filter', async () => {
    const n = sim.org.sampleUsers({ count: 1000, status: 'DEPROVISIONED' }).length;
    expect(((await all(search('status eq "DEPROVISIONED"'))) as OktaUser[]).length).toBe(n);
    expect(((await all(filter('status eq "DEPROVISIONED"'))) as OktaUser[]).length).toBe(n);
  });

  it('searches with and/or/parentheses, sw and co, pagination included', async () => {
    const users = (await all(search('(profile.department eq "legal" or profile.department eq "Sales") and profile.login co "A"', '&limit=7'))) as OktaUser[];
    expect(users.length).toBeGreaterThan(7);
    for (const u of users) {
      expect(['Legal', 'Sales']).toContain(u.profile.department);
      expect(u.profile.login).toContain('a');
    }
    const sw = (await all(search('profile.lastName sw "m"'))) as OktaUser[];
    expect(sw.length).toBeGreaterThan(0);
    expect(sw.every((u) => String(u.profile.lastName).toLowerCase().startsWith('m'))).toBe(true);
  });

  it('finds one user by quoted login, and parses escaped quotes and backslashes without matching', async () => {
    const s = sim.org.sampleUsers({ count: 1, offset: 77 })[0]!;
    const found = (await call(search(`profile.login eq "${s.login.toUpperCase()}"`))).body as OktaUser[];
    expect(found.map((u) => u.id)).toEqual([s.id]);
    const escaped = await call(search('profile.lastName eq "O\\"Neil \\\\ Jr"'));
    expect(escaped.status).toBe(200);
    expect(escaped.body).toEqual([]);
  });

  it('filters on lastUpdated ranges and login equality', async () => {
    const users = (await all(filter('lastUpdated lt "2020-01-01T00:00:00.000Z"'))) as OktaUser[];
    expect(users.every((u) => (u.lastUpdated ?? '') < '2020-01-01T00:00:00.000Z')).toBe(true);
    const s = sim.org.sampleUsers({ count: 1, offset: 3 })[0]!;
    expect(((await call(filter(`profile.login eq "${s.login}"`))).body as OktaUser[]).map((u) => u.id)).toEqual([s.id]);
  });

  it.each([
    ['search', 'status eq ACTIVE'],
    ['search', 'profile.department co "x"'],
    ['search', 'status eq "ACTIVE" and ('],
    ['filter', 'profile.login sw "a"'],
    ['filter', 'created gt "2020-01-01T00:00:00.000Z"'],
    ['search', ''],
  ])('answers 400 E0000031 for %s=%j', async (kind, expr) => {
    const { status, body } = await call(kind === 'search' ? search(expr) : filter(expr));
    expect(status).toBe(400);
    expect(body).toMatchObject({ errorCode: 'E0000031', errorSummary: 'Invalid search criteria.' });
  });

  it('lists group members across pages with after', async () => {
    const s = sim.org.sampleUsers({ count: 1, offset: 10 })[0]!;
    const members = (await all(`/api/v1/groups/${s.groupId}/users?limit=50`)) as OktaUser[];
    // 450 users over 4 groups; every status is a member.
    expect(members.length).toBeGreaterThan(100);
    expect(members.map((m) => m.id)).toContain(s.id);
    expect(new Set(members.map((m) => m.id)).size).toBe(members.length);
    const everyone = await Promise.all(sim.org.directory().groups.map((g) => all(`/api/v1/groups/${g.id}/users?limit=1000`)));
    expect(everyone.reduce((n, list) => n + list.length, 0)).toBe(450);
    const first = await call(`/api/v1/groups/${s.groupId}/users?limit=50`);
    expect((first.body as OktaUser[]).length).toBe(50);
    expect(nextLink(first.headers.link)).toContain('after=');
  });

  it('answers 404 (UserGroup) for an unknown group', async () => {
    const { status, body } = await call('/api/v1/groups/00gunknown0000000000/users');
    expect(status).toBe(404);
    expect(body.errorSummary).toBe('Not found: Resource not found: 00gunknown0000000000 (UserGroup)');
  });

  it('lists app users as AppUser objects, embedding the user only with expand=user', async () => {
    const s = sim.org.sampleUsers({ count: 1, status: 'ACTIVE', minGrants: 1 })[0]!;
    const appId = s.appId;
    const plain = (await all(`/api/v1/apps/${appId}/users?limit=20`)) as AppUser[];
    expect(plain.length).toBeGreaterThan(20);
    expect(plain.map((a) => a.id)).toContain(s.id);
    // The first grant of an assigned user is for that app, so app-user sources find grants.
    expect(s.grants[0]!.clientId).toBe(appId);
    expect(plain[0]).toMatchObject({ status: expect.any(String), credentials: { userName: expect.stringContaining('@') } });
    expect(plain[0]!._embedded).toBeUndefined();
    const expanded = (await call(`/api/v1/apps/${appId}/users?expand=user&limit=2`)).body as AppUser[];
    expect(expanded[0]!._embedded?.user?.id).toBe(expanded[0]!.id);
    expect(expanded[0]!._embedded?.user?.profile.login).toBe(expanded[0]!.credentials?.userName);
    expect(((await call(`/api/v1/apps/${appId}/users`)).body as AppUser[]).length).toBe(50);
  });

  it('validates app-user limit 1..500 and answers 404 (AppInstance) for an unknown app', async () => {
    const appId = sim.org.sampleUsers({ count: 1, minGrants: 1 })[0]!.grants[0]!.clientId;
    expect((await call(`/api/v1/apps/${appId}/users?limit=501`)).status).toBe(400);
    expect((await call(`/api/v1/apps/${appId}/users?limit=500`)).status).toBe(200);
    const unknown = await call('/api/v1/apps/0oaunknown0000000000/users');
    expect(unknown.status).toBe(404);
    expect(unknown.body.errorSummary).toContain('(AppInstance)');
  });
});

