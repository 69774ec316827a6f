import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DpopProver } from '../../src/okta/dpop.ts';
import { startSimulator, type Simulator } from '../../src/sim/index.ts';

const CLIENT = '0oaServiceAppForTests';
const READER = '0oaReadOnlyServiceApp';
const DPOP_APP = '0oaDpopBoundServiceApp';
const clock = { t: Date.UTC(2026, 0, 15, 12, 0, 0) };
let sim: Simulator;
let key: CryptoKey;
let otherKey: CryptoKey;

beforeAll(async () => {
  const kp = await generateKeyPair('ES256');
  key = kp.privateKey;
  otherKey = (await generateKeyPair('ES256')).privateKey;
  sim = await startSimulator({
    users: 40,
    seed: 8,
    now: () => clock.t,
    accessTokenTtlSec: 60,
    oauthClients: [
      { clientId: CLIENT, publicJwk: { ...(await exportJWK(kp.publicKey)) } },
      { clientId: READER, publicJwk: { ...(await exportJWK(kp.publicKey)) }, scopes: ['okta.users.read'] },
      { clientId: DPOP_APP, publicJwk: { ...(await exportJWK(kp.publicKey)) }, dpop: true },
    ],
  });
});
afterAll(() => sim.close());

interface AssertionOpts {
  clientId?: string;
  aud?: string;
  expiresInSec?: number;
  signWith?: CryptoKey;
  alg?: string;
  jti?: string;
  sub?: string;
}

let jtiSeq = 0;
function assertion(o: AssertionOpts = {}): Promise<string> {
  const clientId = o.clientId ?? CLIENT;
  const now = Math.floor(clock.t / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: o.alg ?? 'ES256' })
    .setIssuer(clientId)
    .setSubject(o.sub ?? clientId)
    .setAudience(o.aud ?? `${sim.url}/oauth2/v1/token`)
    .setIssuedAt(now)
    .setExpirationTime(now + (o.expiresInSec ?? 300))
    .setJti(o.jti ?? `jti-${++jtiSeq}`)
    .sign(o.signWith ?? key);
}

async function token(form: Record<string, string>, extraHeaders: Record<string, string> = {}) {
  const res = await request(`${sim.url}/oauth2/v1/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...extraHeaders },
    body: new URLSearchParams(form).toString(),
  });
  return { status: res.statusCode, headers: res.headers, body: (await res.body.json()) as Record<string, unknown> };
}

async function clientCredentials(o: AssertionOpts & { scope?: string } = {}) {
  return token({
    grant_type: 'client_credentials',
    scope: o.scope ?? 'okta.users.read okta.users.manage',
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: await assertion(o),
  });
}

async function api(path: string, bearer: string, method = 'GET') {
  const res = await request(`${sim.url}${path}`, { method: method as 'GET', headers: { authorization: `Bearer ${bearer}` } });
  const text = await res.body.text();
  return { status: res.statusCode, body: text ? JSON.parse(text) : undefined };
}

const user = () => sim.org.sampleUsers({ count: 1, status: 'ACTIVE', minGrants: 2 })[0]!;

describe('simulated org authorization server (client_credentials + private_key_jwt)', () => {
  it('mints a Bearer token for a valid assertion, ignoring a stray DPoP header, and the token works', async () => {
    const res = await token(
      {
        grant_type: 'client_credentials',
        scope: 'okta.users.read okta.users.manage',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: await assertion(),
      },
      { DPoP: 'eyJ0eXAiOiJkcG9wK2p3dCJ9.e30.sig' },
    );
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ token_type: 'Bearer', expires_in: 60, scope: 'okta.users.read okta.users.manage' });
    expect(res.headers['x-rate-limit-limit']).toBeDefined();
    const at = String(res.body.access_token);
    const u = user();
    expect((await api(`/api/v1/users/${u.id}/grants`, at)).status).toBe(200);
    expect((await api(`/api/v1/users/${u.id}/grants/${u.grants[0]!.id}`, at, 'DELETE')).status).toBe(204);
    expect(sim.log.snapshot().byPrincipal[`oauth:${CLIENT}`]?.requests).toBeGreaterThanOrEqual(2);
  });

  it.each<[string, () => Promise<AssertionOpts>]>([
    ['signed with the wrong key', async () => ({ signWith: otherKey })],
    ['for another audience', async () => ({ aud: 'https://example.okta.com/oauth2/v1/token' })],
    ['already expired', async () => ({ expiresInSec: -120 })],
    ['valid for more than an hour', async () => ({ expiresInSec: 7200 })],
    ['with sub different from iss', async () => ({ sub: '0oaSomeoneElse' })],
    ['from an unknown client', async () => ({ clientId: '0oaUnknownClient' })],
  ])('answers 401 invalid_client for an assertion %s', async (_what, make) => {
    const res = await clientCredentials(await make());
    expect(res.status).toBe(401);
    expect(res.body.error).toBe('invalid_client');
    expect(typeof res.body.error_description).toBe('string');
    expect(res.body.access_token).toBeUndefined();
  });

  it('refuses a replayed assertion (same jti) with 401 invalid_client', async () => {
    const form = {
      grant_type: 'client_credentials',
      scope: 'okta.users.read',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await assertion({ jti: 'replayed-once' }),
    };
    expect((await token(form)).status).toBe(200);
    const again = await token(form);
    expect(again.status).toBe(401);
    expect(again.body.error).toBe('invalid_client');
  });

  it('answers 401 invalid_client without an assertion, 400 unsupported_grant_type and 400 invalid_scope', async () => {
    const none = await token({ grant_type: 'client_credentials', scope: 'okta.users.read' });
    expect(none).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    const grant = await token({ grant_type: 'password', username: 'a', password: 'b' });
    expect(grant).toMatchObject({ status: 400, body: { error: 'unsupported_grant_type' } });
    expect(await clientCredentials({ scope: '' })).toMatchObject({ status: 400, body: { error: 'invalid_scope', error_description: 'No scopes were requested.' } });
    expect(await clientCredentials({ scope: 'okta.users.read okta.logs.read' })).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
    expect(await clientCredentials({ clientId: READER, scope: 'okta.users.manage' })).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
  });

  it('answers 403 E0000006 to a DELETE with a token lacking okta.users.manage, and to a group read lacking okta.groups.read', async () => {
    const res = await clientCredentials({ scope: 'okta.users.read' });
    const at = String(res.body.access_token);
    const u = user();
    expect((await api(`/api/v1/users/${u.id}/grants`, at)).status).toBe(200);
    const del = await api(`/api/v1/users/${u.id}/grants/${u.grants[1]!.id}`, at, 'DELETE');
    expect(del.status).toBe(403);
    expect(del.body.errorCode).toBe('E0000006');
    const group = await api(`/api/v1/groups/${sim.org.directory().groups[0]!.id}/users`, at);
    expect(group.status).toBe(403);
  });

  it('answers 401 E0000011 once the access token has expired', async () => {
    const res = await clientCredentials({ scope: 'okta.users.read' });
    const at = String(res.body.access_token);
    const u = user();
    clock.t += 59_000;
    expect((await api(`/api/v1/users/${u.id}/grants`, at)).status).toBe(200);
    clock.t += 1_000;
    const expired = await api(`/api/v1/users/${u.id}/grants`, at);
    expect(expired.status).toBe(401);
    expect(expired.body).toMatchObject({ errorCode: 'E0000011', errorSummary: 'Invalid token provided' });
  });
});

describe('a service app that requires DPoP (Okta\'s default for new API Services apps)', () => {
  const prover = new DpopProver(() => clock.t);
  const tokenUrl = () => `${sim.url}/oauth2/v1/token`;
  const form = async () => ({
    grant_type: 'client_credentials',
    scope: 'okta.users.read okta.users.manage',
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: await assertion({ clientId: DPOP_APP }),
  });
  /** The nonce round trip, then a DPoP-bound token. */
  async function dpopToken(): Promise<string> {
    const first = await token(await form(), { DPoP: prover.proof('POST', tokenUrl()) });
    const nonce = String(first.headers['dpop-nonce']);
    const res = await token(await form(), { DPoP: prover.proof('POST', tokenUrl(), { nonce }) });
    expect(res.status).toBe(200);
    return String(res.body.access_token);
  }
  async function call(path: string, authorization: string, dpop?: string, method = 'GET') {
    const headers: Record<string, string> = { authorization };
    if (dpop) headers.dpop = dpop;
    const res = await request(`${sim.url}${path}`, { method: method as 'GET', headers });
    await res.body.text();
    return res.statusCode;
  }

  it('refuses a token request without a proof, then asks for its nonce, then mints a DPoP token', async () => {
    const none = await token(await form());
    expect(none.status).toBe(400);
    expect(none.body).toMatchObject({ error: 'invalid_dpop_proof', error_description: 'The DPoP proof JWT header is missing.' });
    const first = await token(await form(), { DPoP: prover.proof('POST', tokenUrl()) });
    expect(first.status).toBe(400);
    expect(first.body.error).toBe('use_dpop_nonce');
    const nonce = first.headers['dpop-nonce'];
    expect(typeof nonce).toBe('string');
    const wrongUrl = await token(await form(), { DPoP: prover.proof('POST', `${sim.url}/oauth2/default/v1/token`, { nonce: String(nonce) }) });
    expect(wrongUrl.body.error).toBe('invalid_dpop_proof');
    const proof = prover.proof('POST', tokenUrl(), { nonce: String(nonce) });
    const ok = await token(await form(), { DPoP: proof });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ token_type: 'DPoP', scope: 'okta.users.read okta.users.manage' });
    // The same proof again, with a fresh assertion: refused (RFC 9449 §11.1).
    const replayed = await token(await form(), { DPoP: proof });
    expect(replayed.status).toBe(400);
    expect(replayed.body).toMatchObject({ error: 'invalid_dpop_proof', error_description: "The DPoP proof 'jti' has already been used." });
  });

  it('accepts a DPoP token only with the DPoP scheme and a proof by the same key, for this request, with its hash', async () => {
    const at = await dpopToken();
    const u = user();
    const path = `/api/v1/users/${u.id}/grants`;
    const url = `${sim.url}${path}`;
    expect(await call(path, `Bearer ${at}`)).toBe(401);
    expect(await call(path, `DPoP ${at}`)).toBe(401);
    expect(await call(path, `DPoP ${at}`, prover.proof('GET', url))).toBe(401); // no ath
    expect(await call(path, `DPoP ${at}`, prover.proof('POST', url, { accessToken: at }))).toBe(401);
    expect(await call(path, `DPoP ${at}`, prover.proof('GET', `${sim.url}/api/v1/users`, { accessToken: at }))).toBe(401);
    expect(await call(path, `DPoP ${at}`, new DpopProver(() => clock.t).proof('GET', url, { accessToken: at }))).toBe(401);
    expect(await call(path, `DPoP ${at}`, prover.proof('GET', url, { accessToken: `${at}x` }))).toBe(401);
    const proof = prover.proof('GET', `${url}?limit=5`, { accessToken: at });
    expect(await call(`${path}?limit=5`, `DPoP ${at}`, proof)).toBe(200);
    expect(await call(`${path}?limit=5`, `DPoP ${at}`, proof)).toBe(401); // a replayed proof
    const grant = `${path}/${u.grants[0]!.id}`;
    expect(await call(grant, `DPoP ${at}`, prover.proof('DELETE', `${sim.url}${grant}`, { accessToken: at }), 'DELETE')).toBe(204);
  });

  it('still gives a Bearer token to an app that does not require DPoP, proof or not', async () => {
    const res = await token(
      { grant_type: 'client_credentials', scope: 'okta.users.read', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: await assertion() },
      { DPoP: prover.proof('POST', tokenUrl()) },
    );
    expect(res.status).toBe(200);
    expect(res.body.token_type).toBe('Bearer');
    expect(await call(`/api/v1/users/${user().id}/grants`, `DPoP ${String(res.body.access_token)}`, prover.proof('GET', `${sim.url}/api/v1/users/${user().id}/grants`, { accessToken: String(res.body.access_token) }))).toBe(401);
  });
});
