import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/sim/index.ts';

let sim: Simulator;

async function call(path: string, opts: { method?: string; auth?: string | null } = {}) {
  const headers: Record<string, string> = {};
  const auth = opts.auth === undefined ? `SSWS ${sim.token}` : opts.auth;
  if (auth !== null) headers.authorization = auth;
  const res = await request(`${sim.url}${path}`, { method: (opts.method ?? 'GET') as 'GET', headers });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

function expectModelError(body: Record<string, unknown>, code: string, summary: string) {
  expect(Object.keys(body).sort()).toEqual(['errorCauses', 'errorCode', 'errorId', 'errorLink', 'errorSummary']);
  expect(body).toMatchObject({ errorCode: code, errorLink: code, errorSummary: summary, errorCauses: [] });
  expect(body.errorId).toMatch(/^oae\w+/);
}

beforeAll(async () => {
  sim = await startSimulator({ users: 50, seed: 3, token: '00customTokenForTheAuthTest0000000000000ab' });
});
afterAll(() => sim.close());

const user = () => sim.org.sampleUsers({ count: 1, status: 'ACTIVE', minGrants: 2 })[0]!;

describe('simulator authentication and errors', () => {
  it('uses the configured token and mints a distinct 42-char read-only token', () => {
    expect(sim.token).toBe('00customTokenForTheAuthTest0000000000000ab');
    expect(sim.readOnlyToken).toMatch(/^00[0-9A-Za-z]{40}$/);
    expect(sim.readOnlyToken).not.toBe(sim.token);
  });

  it.each([
    ['no Authorization header', null],
    ['an unknown SSWS token', 'SSWS 00nope'],
    ['a Bearer token it never minted', 'Bearer eyJnope'],
    ['the token without the SSWS scheme', 'TOKEN'],
  ])('answers 401 E0000011 for %s', async (_what, auth) => {
    const { status, body } = await call(`/api/v1/users/${user().id}/grants`, { auth: auth === 'TOKEN' ? sim.token : auth });
    expect(status).toBe(401);
    expectModelError(body, 'E0000011', 'Invalid token provided');
  });

  it('lets the read-only token read but answers 403 E0000006 to its DELETE, leaving the grant', async () => {
    const u = user();
    const ro = `SSWS ${sim.readOnlyToken}`;
    expect((await call(`/api/v1/users/${u.id}/grants`, { auth: ro })).status).toBe(200);
    expect((await call('/api/v1/users', { auth: ro })).status).toBe(200);
    const del = await call(`/api/v1/users/${u.id}/grants/${u.grants[0]!.id}`, { auth: ro, method: 'DELETE' });
    expect(del.status).toBe(403);
    expectModelError(del.body, 'E0000006', 'You do not have permission to perform the requested action');
    expect(sim.org.grantsOf(u.id)).toHaveLength(u.grants.length);
  });

  it('answers 404 E0000008 for an unknown route and 405 E0000022 for a wrong method', async () => {
    const unknown = await call('/api/v1/nothing/here');
    expect(unknown.status).toBe(404);
    expectModelError(unknown.body, 'E0000008', 'The requested path was not found');
    const wrong = await call(`/api/v1/users/${user().id}/grants`, { method: 'PUT' });
    expect(wrong.status).toBe(405);
    expectModelError(wrong.body, 'E0000022', 'The endpoint does not support the provided HTTP method');
    expect((await call('/api/v1/users', { method: 'DELETE' })).status).toBe(405);
  });

  it('puts Date, X-Okta-Request-Id and the three rate-limit headers on every answer, errors included', async () => {
    const answers = await Promise.all([
      call(`/api/v1/users/${user().id}/grants`),
      call(`/api/v1/users/${user().id}/grants/${user().grants[1]!.id}`, { method: 'DELETE' }),
      call('/api/v1/users/me'),
      call('/api/v1/users', { auth: null }),
      call('/nowhere'),
    ]);
    const ids = new Set<string>();
    for (const a of answers) {
      expect(Number.isNaN(Date.parse(String(a.headers.date)))).toBe(false);
      expect(a.headers['x-okta-request-id']).toMatch(/^req\w+$/);
      ids.add(String(a.headers['x-okta-request-id']));
      expect(Number(a.headers['x-rate-limit-limit'])).toBeGreaterThan(0);
      expect(Number(a.headers['x-rate-limit-remaining'])).toBeGreaterThanOrEqual(0);
      expect(String(a.headers['x-rate-limit-reset'])).toMatch(/^\d{10}$/);
      expect(a.headers['content-type']).toBe(a.status === 204 ? undefined : 'application/json');
    }
    expect(ids.size).toBe(answers.length);
  });

  it('reports the bucket of the endpoint family in the headers (Okta Workforce defaults)', async () => {
    const limitOf = async (path: string) => Number((await call(path)).headers['x-rate-limit-limit']);
    const dir = sim.org.directory();
    expect(await limitOf('/api/v1/users')).toBe(600);
    expect(await limitOf(`/api/v1/users/${user().id}`)).toBe(2000);
    expect(await limitOf(`/api/v1/users/${user().id}/grants`)).toBe(600);
    expect(await limitOf(`/api/v1/users/${user().id}/clients`)).toBe(600);
    expect(await limitOf(`/api/v1/groups/${dir.groups[0]!.id}/users`)).toBe(500);
    expect(await limitOf(`/api/v1/apps/${dir.apps[0]!.id}/users`)).toBe(100);
    expect(await limitOf('/api/v1/somewhere-else')).toBe(1200);
  });
});
