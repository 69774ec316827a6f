import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Grant, OAuthClientRef, RefreshToken } from '../../src/okta/types.ts';
import { startSimulator, type SampleUser, type Simulator } from '../../src/sim/index.ts';

let sim: Simulator;

async function call(path: string, method = 'GET') {
  const url = path.startsWith('http') ? path : `${sim.url}${path}`;
  const res = await request(url, { method: method as 'GET', headers: { authorization: `SSWS ${sim.token}` } });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, body: text ? JSON.parse(text) : undefined };
}

/** Link header lines as a list, whether Okta sent one joined line or several. */
function links(header: string | string[] | undefined): Record<string, string> {
  const parts = (Array.isArray(header) ? header : [header ?? '']).flatMap((h) => h.split(/,\s*(?=<)/));
  return Object.fromEntries(parts.filter(Boolean).map((p) => [/rel="(\w+)"/.exec(p)?.[1] ?? '', /<([^>]+)>/.exec(p)?.[1] ?? '']));
}

beforeAll(async () => {
  sim = await startSimulator({ users: 300, seed: 5, grantsPerUser: [7, 7], rateLimits: 'none' });
});
afterAll(() => sim.close());
beforeEach(() => sim.org.reset());

const someUser = (offset = 0) => sim.org.sampleUsers({ count: 1, status: 'ACTIVE', minGrants: 7, offset })[0]!;

describe('simulated user grants', () => {
  it('lists grants with the OAuth2ScopeConsentGrant shape and absolute HAL links', async () => {
    const u = someUser();
    const { status, headers, body } = await call(`/api/v1/users/${u.id}/grants`);
    expect(status).toBe(200);
    expect(headers['content-type']).toBe('application/json');
    const grants = body as Grant[];
    expect(grants).toHaveLength(7);
    const g = grants[0]!;
    expect(g).toMatchObject({ status: 'ACTIVE', userId: u.id, source: 'END_USER', createdBy: { id: u.id, type: 'User' } });
    expect(g.id).toMatch(/^oag[0-9A-Za-z]{17}$/);
    expect(g.clientId).toMatch(/^0oa[0-9A-Za-z]{17}$/);
    expect(g.created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(g.lastUpdated).toMatch(/\.\d{3}Z$/);
    // Okta's scopeId: an Okta API scope's name, a custom authorization server's scope by its id (docs/okta-api.md §1.3).
    for (const x of grants) {
      const name = u.grants.find((y) => y.id === x.id)!.scope;
      expect(['okta.users.read', 'openid', 'profile', 'email', 'offline_access', 'api:read', 'api:write']).toContain(name);
      if (name.startsWith('okta.')) expect(x.scopeId).toBe(name);
      else expect(x.scopeId).toMatch(/^scp[0-9A-Za-z]{17}$/);
      const scopeHref = (x._links as Record<string, { href: string }>).scope!.href;
      expect(scopeHref).toMatch(/\/scopes\/scp[0-9A-Za-z]{17}$/);
      if (!name.startsWith('okta.')) expect(scopeHref.endsWith(`/scopes/${x.scopeId}`)).toBe(true);
    }
    expect(g.issuer.startsWith(sim.url)).toBe(true);
    expect(g._embedded).toBeUndefined();
    const l = g._links as Record<string, { href: string; hints?: unknown }>;
    expect(Object.keys(l).sort()).toEqual(['app', 'authorizationServer', 'client', 'scope', 'self', 'user']);
    expect(l.self).toEqual({ href: `${sim.url}/api/v1/users/${u.id}/grants/${g.id}`, hints: { allow: ['GET', 'DELETE'] } });
    expect(l.client?.href).toBe(`${sim.url}/oauth2/v1/clients/${g.clientId}`);
    expect(grants.map((x) => x.id)).toEqual(u.grants.map((x) => x.id));
  });

  it('embeds the scope only with expand=scope', async () => {
    const u = someUser();
    const { body } = await call(`/api/v1/users/${u.id}/grants?expand=scope&limit=1`);
    const g = (body as Grant[])[0]!;
    expect(g._embedded?.scope).toMatchObject({ id: g.scopeId, name: u.grants.find((y) => y.id === g.id)!.scope });
    expect(typeof g._embedded?.scope?.displayName).toBe('string');
    expect(typeof g._embedded?.scope?.description).toBe('string');
    const one = await call(`/api/v1/users/${u.id}/grants/${g.id}?expand=scope`);
    expect(one.body._embedded.scope.name).toBe(u.grants.find((y) => y.id === g.id)!.scope);
  });

  it('filters by scopeId', async () => {
    const u = someUser();
    const scope = u.grants[2]!.scopeId;
    const { body } = await call(`/api/v1/users/${u.id}/grants?scopeId=${encodeURIComponent(scope)}`);
    const want = u.grants.filter((g) => g.scopeId === scope).map((g) => g.id);
    expect(want.length).toBeGreaterThan(0);
    expect((body as Grant[]).map((g) => g.id)).toEqual(want);
    // A custom scope's name is not its scopeId: the filter finds nothing by it, as Okta's would.
    const custom = u.grants.find((g) => !g.scope.startsWith('okta.'))!;
    const byName = await call(`/api/v1/users/${u.id}/grants?scopeId=${encodeURIComponent(custom.scope)}`);
    expect(byName.body).toEqual([]);
  });

  it('paginates with self and next as two Link lines and ends without next', async () => {
    const u = someUser();
    const seen: string[] = [];
    let url: string | undefined = `${sim.url}/api/v1/users/${u.id}/grants?limit=2`;
    let pages = 0;
    while (url) {
      const { headers, body } = await call(url);
      const l = links(headers.link);
      // Two header lines arrive as an array; the last page has the self line only.
      expect(Array.isArray(headers.link) ? headers.link.length : 1).toBe(l.next ? 2 : 1);
      expect(l.self).toBe(url);
      seen.push(...(body as Grant[]).map((g) => g.id));
      url = l.next;
      if (url) expect(url).toMatch(new RegExp(`^${sim.url}/api/v1/users/${u.id}/grants\\?limit=2&after=[A-Za-z0-9_-]+$`));
      pages++;
    }
    expect(pages).toBe(4);
    expect(seen).toEqual(u.grants.map((g) => g.id));
  });

  it('joins the Link lines into one header with linkStyle joined', async () => {
    sim.configure({ linkStyle: 'joined' });
    try {
      const u = someUser();
      const { headers } = await call(`/api/v1/users/${u.id}/grants?limit=3`);
      expect(typeof headers.link).toBe('string');
      expect(Object.keys(links(headers.link))).toEqual(['self', 'next']);
    } finally {
      sim.configure({ linkStyle: 'separate' });
    }
  });

  it('does not skip grants when the caller revokes what it paged through', async () => {
    const u = someUser();
    const revoked: string[] = [];
    let url: string | undefined = `${sim.url}/api/v1/users/${u.id}/grants?limit=3`;
    while (url) {
      const { headers, body } = await call(url);
      for (const g of body as Grant[]) {
        expect((await call(`/api/v1/users/${u.id}/grants/${g.id}`, 'DELETE')).status).toBe(204);
        revoked.push(g.id);
      }
      url = links(headers.link).next;
    }
    expect(revoked).toEqual(u.grants.map((g) => g.id));
    expect(sim.org.grantsOf(u.id)).toEqual([]);
  });

  it.each(['0', '201', '-1', 'ten', '2.5'])('answers 400 E0000001 for limit=%s', async (limit) => {
    const u = someUser();
    const { status, body } = await call(`/api/v1/users/${u.id}/grants?limit=${limit}`);
    expect(status).toBe(400);
    expect(body).toMatchObject({ errorCode: 'E0000001', errorLink: 'E0000001', errorSummary: 'Api validation failed: limit' });
    expect(body.errorCauses).toHaveLength(1);
  });

  it('answers 400 for an after cursor it did not issue', async () => {
    const { status, body } = await call(`/api/v1/users/${someUser().id}/grants?after=bogus`);
    expect(status).toBe(400);
    expect(body.errorCode).toBe('E0000001');
  });

  it('revokes one grant with 204 and an empty body; it is then gone from GET and lists', async () => {
    const u = someUser();
    const g = u.grants[0]!;
    const del = await call(`/api/v1/users/${u.id}/grants/${g.id}`, 'DELETE');
    expect(del.status).toBe(204);
    expect(del.text).toBe('');
    expect(del.headers['content-type']).toBeUndefined();
    const get = await call(`/api/v1/users/${u.id}/grants/${g.id}`);
    expect(get.status).toBe(404);
    expect(get.body).toMatchObject({ errorCode: 'E0000007', errorSummary: `Not found: Resource not found: ${g.id} (OAuth2ScopeConsentGrant)` });
    const list = await call(`/api/v1/users/${u.id}/grants`);
    expect((list.body as Grant[]).map((x) => x.id)).not.toContain(g.id);
    const again = await call(`/api/v1/users/${u.id}/grants/${g.id}`, 'DELETE');
    expect(again.status).toBe(404);
  });

  it("refuses another user's grant id with 404", async () => {
    const [a, other] = sim.org.sampleUsers({ count: 2, status: 'ACTIVE', minGrants: 7 }) as [SampleUser, SampleUser];
    const { status } = await call(`/api/v1/users/${other.id}/grants/${a.grants[0]!.id}`, 'DELETE');
    expect(status).toBe(404);
    expect(sim.org.grantsOf(a.id)).toHaveLength(7);
  });

  it("revokes all of a user's grants for one client, 204 even when there are none", async () => {
    const u = someUser();
    const clientId = u.grants[0]!.clientId;
    const list = await call(`/api/v1/users/${u.id}/clients/${clientId}/grants?limit=1`);
    expect((list.body as Grant[])[0]?.clientId).toBe(clientId);
    expect(links(list.headers.link).self).toBe(`${sim.url}/api/v1/users/${u.id}/clients/${clientId}/grants?limit=1`);
    expect((await call(`/api/v1/users/${u.id}/clients/${clientId}/grants`, 'DELETE')).status).toBe(204);
    const left = sim.org.grantsOf(u.id)!;
    expect(left.length).toBe(7 - u.grants.filter((g) => g.clientId === clientId).length);
    expect(left.every((g) => g.clientId !== clientId)).toBe(true);
    expect((await call(`/api/v1/users/${u.id}/clients/${clientId}/grants`, 'DELETE')).status).toBe(204);
    expect((await call(`/api/v1/users/${u.id}/clients/${clientId}/grants`)).body).toEqual([]);
  });

  it("revokes every grant of a user with DELETE …/grants", async () => {
    const u = someUser();
    const { status, text } = await call(`/api/v1/users/${u.id}/grants`, 'DELETE');
    expect(status).toBe(204);
    expect(text).toBe('');
    expect(sim.org.grantsOf(u.id)).toEqual([]);
    expect((await call(`/api/v1/users/${u.id}/grants`, 'DELETE')).status).toBe(204);
  });

  it('lists the OAuth2Client objects the user has active grants for, without pagination', async () => {
    const u = someUser();
    const { body, headers } = await call(`/api/v1/users/${u.id}/clients`);
    const clients = body as OAuthClientRef[];
    expect(clients.map((c) => c.client_id).sort()).toEqual([...new Set(u.grants.map((g) => g.clientId))].sort());
    expect(clients[0]).toMatchObject({ client_uri: null, logo_uri: null });
    expect(typeof clients[0]!.client_name).toBe('string');
    expect((clients[0]!._links as Record<string, { href: string }>).grants?.href).toBe(`${sim.url}/api/v1/users/${u.id}/clients/${clients[0]!.client_id}/grants`);
    expect(headers.link).toBeUndefined();
    await call(`/api/v1/users/${u.id}/grants`, 'DELETE');
    // What is left: the clients the user still holds a refresh token for.
    const withTokens = [...new Set(u.grants.filter((g) => g.scope === 'offline_access').map((g) => g.clientId))].sort();
    expect(((await call(`/api/v1/users/${u.id}/clients`)).body as OAuthClientRef[]).map((c) => c.client_id).sort()).toEqual(withTokens);
  });

  it('keeps a refresh token per client given offline_access: listed, left by grant revocation, revoked by DELETE …/tokens', async () => {
    let u = someUser();
    for (let k = 1; !u.grants.some((g) => g.scope === 'offline_access'); k++) u = someUser(k);
    const clientId = u.grants.find((g) => g.scope === 'offline_access')!.clientId;
    const tokens = await call(`/api/v1/users/${u.id}/clients/${clientId}/tokens`);
    expect(tokens.status).toBe(200);
    const [t] = tokens.body as RefreshToken[];
    expect(t).toMatchObject({ status: 'ACTIVE', clientId, userId: u.id, scopes: ['offline_access'] });
    expect(t!.id).toMatch(/^oar[0-9A-Za-z]{17}$/);
    expect(sim.org.tokensOf(u.id)!.map((x) => x.id)).toContain(t!.id);
    // Revoking the grants leaves the token (whether Okta does is unconfirmed: the worst case).
    expect((await call(`/api/v1/users/${u.id}/clients/${clientId}/grants`, 'DELETE')).status).toBe(204);
    expect(((await call(`/api/v1/users/${u.id}/clients/${clientId}/tokens`)).body as RefreshToken[]).map((x) => x.id)).toEqual([t!.id]);
    const del = await call(`/api/v1/users/${u.id}/clients/${clientId}/tokens`, 'DELETE');
    expect(del.status).toBe(204);
    expect(del.text).toBe('');
    expect((await call(`/api/v1/users/${u.id}/clients/${clientId}/tokens`)).body).toEqual([]);
    expect(sim.org.tokensOf(u.id)!.map((x) => x.clientId)).not.toContain(clientId);
    // Idempotent, and a client without tokens answers an empty list.
    expect((await call(`/api/v1/users/${u.id}/clients/${clientId}/tokens`, 'DELETE')).status).toBe(204);
    expect((await call(`/api/v1/users/${u.id}/clients/${clientId}/tokens?limit=0`)).status).toBe(400);
    expect((await call(`/api/v1/users/00u00000000000000000/clients/${clientId}/tokens`)).status).toBe(404);
  });

  it('answers 404 E0000007 (User) for an unknown user, a login and me on grants paths', async () => {
    const u = someUser();
    for (const who of ['00u00000000000000000', encodeURIComponent(u.login), 'me']) {
      const { status, body } = await call(`/api/v1/users/${who}/grants`);
      expect(status).toBe(404);
      expect(body.errorSummary).toBe(`Not found: Resource not found: ${decodeURIComponent(who)} (User)`);
    }
  });
});
