import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.ts';
import { ApiTokenAuth, PrivateKeyJwtAuth } from '../../src/okta/auth.ts';
import { OktaApiError } from '../../src/okta/errors.ts';
import { createTransport, type Transport } from '../../src/okta/http.ts';

const CLIENT_ID = '0oa1serviceapp';
const SCOPES = ['okta.users.read', 'okta.users.manage'];
const T0 = Date.parse('2026-01-01T00:00:00Z');

interface TokenServer {
  orgUrl: string;
  tokenUrl: string;
  calls: number;
  assertions: string[];
  /** Set to make the next answers fail with this status and OAuth error body. */
  failWith: { status: number; error: string } | null;
  /** Holds every answer until released, so concurrent callers overlap for sure. */
  hold: Promise<void> | null;
  close(): Promise<void>;
}

/** A real /oauth2/v1/token on 127.0.0.1 that verifies the client assertion with the public key. */
async function startTokenServer(publicKey: KeyObject, clock: { now: number }): Promise<TokenServer> {
  const state = { calls: 0, assertions: [] as string[], failWith: null, hold: null } as Omit<TokenServer, 'orgUrl' | 'tokenUrl' | 'close'>;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', async () => {
      state.calls++;
      const reply = (status: number, json: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(json));
      };
      try {
        if (state.hold) await state.hold;
        const form = new URLSearchParams(body);
        expect(req.method).toBe('POST');
        expect(req.url).toBe('/oauth2/v1/token');
        expect(req.headers['content-type']).toBe('application/x-www-form-urlencoded');
        expect(form.get('grant_type')).toBe('client_credentials');
        expect(form.get('scope')).toBe(SCOPES.join(' '));
        expect(form.get('client_assertion_type')).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
        const assertion = form.get('client_assertion') ?? '';
        state.assertions.push(assertion);
        const { payload } = await jwtVerify(assertion, publicKey, {
          audience: `${orgUrl}/oauth2/v1/token`,
          issuer: CLIENT_ID,
          subject: CLIENT_ID,
          currentDate: new Date(clock.now),
        });
        expect(payload.exp! - payload.iat!).toBe(300);
        if (state.failWith) return reply(state.failWith.status, { error: state.failWith.error, error_description: 'rejected' });
        reply(200, { token_type: 'Bearer', expires_in: 3600, access_token: `at-${state.calls}-s3cr3t`, scope: SCOPES.join(' ') });
      } catch (err) {
        reply(400, { error: 'invalid_client', error_description: `test server: ${(err as Error).message}` });
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const orgUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return Object.assign(state, {
    orgUrl,
    tokenUrl: `${orgUrl}/oauth2/v1/token`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  }) as TokenServer;
}

const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ecPem = ec.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
const ecJwk = { ...ec.privateKey.export({ format: 'jwk' }), kid: 'jwk-kid-1' };
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsaPem = rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string;

/** Pieces of key material that must never show up in output. */
const keySecrets = [ecPem.split('\n')[1]!, ecJwk.d!, rsaPem.split('\n')[1]!];

let clock: { now: number };
let server: TokenServer;
let transport: Transport;

beforeEach(async () => {
  clock = { now: T0 };
  server = await startTokenServer(ec.publicKey, clock);
  transport = createTransport({ connections: 4, timeoutMs: 5_000 });
});
afterEach(async () => {
  await transport.close();
  await server.close();
});

function ecAuth(over: Partial<ConstructorParameters<typeof PrivateKeyJwtAuth>[0]> = {}) {
  return new PrivateKeyJwtAuth({
    orgUrl: server.orgUrl,
    clientId: CLIENT_ID,
    privateKey: ecPem,
    keyId: 'kid-42',
    scopes: SCOPES,
    fetchToken: transport,
    now: () => clock.now,
    ...over,
  });
}

describe('PrivateKeyJwtAuth token caching (real token endpoint, injected clock)', () => {
  it('sends a verifiable ES256 assertion with iss=sub=clientId, aud=token URL, kid and a fresh jti', async () => {
    const auth = ecAuth();
    expect(await auth.header()).toBe('Bearer at-1-s3cr3t');
    auth.invalidate();
    await auth.header();
    expect(server.calls).toBe(2);
    const [a, b] = server.assertions;
    expect(decodeProtectedHeader(a!)).toEqual({ alg: 'ES256', kid: 'kid-42' });
    const jtis = await Promise.all([a!, b!].map(async (t) => (await jwtVerify(t, ec.publicKey, { currentDate: new Date(T0) })).payload.jti));
    expect(jtis[0]).toBeTruthy();
    expect(jtis[0]).not.toBe(jtis[1]);
  });

  it('reuses the token until 60 s before expires_in, then fetches a new one', async () => {
    const auth = ecAuth();
    await auth.header();
    clock.now = T0 + 3_540_000 - 1; // 1 ms before the refresh point
    expect(await auth.header()).toBe('Bearer at-1-s3cr3t');
    expect(server.calls).toBe(1);
    clock.now = T0 + 3_540_000;
    expect(await auth.header()).toBe('Bearer at-2-s3cr3t');
    expect(server.calls).toBe(2);
  });

  it('fetches exactly one new token after invalidate (what the client does on a 401)', async () => {
    const auth = ecAuth();
    await auth.header();
    auth.invalidate();
    expect(await auth.header()).toBe('Bearer at-2-s3cr3t');
    expect(await auth.header()).toBe('Bearer at-2-s3cr3t');
    expect(server.calls).toBe(2);
  });

  it('keeps a newer token when a late 401 invalidates the header it was sent with', async () => {
    const auth = ecAuth();
    const first = await auth.header();
    auth.invalidate(first);
    const second = await auth.header();
    auth.invalidate(first); // another request that went out with the old token
    expect(await auth.header()).toBe(second);
    expect(server.calls).toBe(2);
  });

  it('lets concurrent callers share one in-flight token request', async () => {
    const auth = ecAuth();
    let release!: () => void;
    server.hold = new Promise<void>((r) => (release = r));
    const pending = Array.from({ length: 10 }, () => auth.header());
    release();
    expect(new Set(await Promise.all(pending))).toEqual(new Set(['Bearer at-1-s3cr3t']));
    expect(server.calls).toBe(1);
  });

  it('turns a token-endpoint rejection into an unauthorized OktaApiError and does not cache the failure', async () => {
    const auth = ecAuth();
    server.failWith = { status: 401, error: 'invalid_client' };
    const err = await auth.header().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OktaApiError);
    expect(err).toMatchObject({ kind: 'unauthorized', status: 401, errorCode: 'invalid_client', method: 'POST', path: '/oauth2/v1/token' });
    server.failWith = { status: 400, error: 'invalid_scope' };
    expect(await auth.header().catch((e: unknown) => (e as OktaApiError).kind)).toBe('forbidden');
    server.failWith = null;
    expect(await auth.header()).toBe('Bearer at-3-s3cr3t');
  });

  it('signs RS256 with an RSA PEM and takes kid from a JWK when no keyId is given', async () => {
    await server.close();
    server = await startTokenServer(rsa.publicKey, clock);
    await ecAuth({ orgUrl: server.orgUrl, privateKey: rsaPem, keyId: undefined }).header();
    expect(decodeProtectedHeader(server.assertions[0]!)).toEqual({ alg: 'RS256' });

    await server.close();
    server = await startTokenServer(ec.publicKey, clock);
    await ecAuth({ orgUrl: server.orgUrl, privateKey: JSON.stringify(ecJwk), keyId: undefined }).header();
    expect(decodeProtectedHeader(server.assertions[0]!)).toEqual({ alg: 'ES256', kid: 'jwk-kid-1' });
  });

  it('opens and closes its own transport when none is given', async () => {
    const auth = ecAuth({ fetchToken: undefined });
    expect(await auth.header()).toBe('Bearer at-1-s3cr3t');
    await auth.close();
    expect(server.calls).toBe(1);
  });
});

describe('PrivateKeyJwtAuth key parsing', () => {
  it('accepts a PEM whose newlines arrived as literal \\n (one-line env var)', () => {
    expect(() => ecAuth({ privateKey: ecPem.trim().replace(/\n/g, '\\n') })).not.toThrow();
  });

  it.each([
    ['garbage', 'not a key at all MIIEvQIBADANBgkqhkiG9w0BAQEFAASC', 'does not parse as a PEM or JWK private key'],
    ['a public key', ec.publicKey.export({ type: 'spki', format: 'pem' }) as string, 'is a public key or certificate; the private key is needed'],
    ['a truncated PEM', ecPem.slice(0, 80), 'does not parse as a PEM or JWK private key'],
    ['a public JWK', JSON.stringify({ ...ecJwk, d: undefined }), 'is a public JWK (it has no "d"); the private key is needed'],
    ['broken JSON', `{"kty":"EC","d":"${ecJwk.d}"`, 'does not parse as a PEM or JWK private key'],
  ])('fails at construction on %s, without quoting the input (the configuration\'s own words)', (_what, privateKey, problem) => {
    let err: unknown;
    try {
      ecAuth({ privateKey });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toBe(`OKTA_PRIVATE_KEY ${problem}`);
    expect((err as Error).message).not.toContain('MII');
    expect((err as Error).message).not.toContain(ecJwk.d);
    expect((err as Error).cause).toBeUndefined();
  });

  it('refuses an RSA key under 2048 bits and an unsupported curve', () => {
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    expect(() => ecAuth({ privateKey: small })).toThrow(/^OKTA_PRIVATE_KEY is a 1024-bit RSA key; Okta requires at least 2048 bits$/);
    const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    expect(() => ecAuth({ privateKey: k1 })).toThrow(/^OKTA_PRIVATE_KEY is an EC key on secp256k1; Okta accepts RSA/);
  });

  it('refuses an http org URL that is not loopback', () => {
    expect(() => ecAuth({ orgUrl: 'http://example.okta.com' })).toThrow(/must use https/);
  });
});

describe('secrets never leak', () => {
  const leaks = (text: string, secrets: string[]) => secrets.filter((s) => text.includes(s));

  it('PrivateKeyJwtAuth hides key and token from JSON, inspect, toString and errors', async () => {
    const auth = ecAuth();
    const header = await auth.header();
    const token = header.slice('Bearer '.length);
    const secrets = [...keySecrets, token];
    for (const text of [JSON.stringify(auth), inspect(auth, { depth: 10, showHidden: true }), String(auth), `${auth}`]) {
      expect(leaks(text, secrets)).toEqual([]);
    }
    expect(JSON.parse(JSON.stringify(auth))).toEqual({
      kind: 'oauth',
      clientId: CLIENT_ID,
      tokenUrl: server.tokenUrl,
      scopes: SCOPES,
      keyId: 'kid-42',
    });

    server.failWith = { status: 401, error: 'invalid_client' };
    auth.invalidate();
    const err = (await auth.header().catch((e: unknown) => e)) as Error;
    const assertion = server.assertions.at(-1)!;
    for (const text of [err.message, String(err), JSON.stringify(err), inspect(err, { depth: 10 })]) {
      expect(leaks(text, [...secrets, assertion])).toEqual([]);
    }
  });

  it('ApiTokenAuth hides the API token and sends it as SSWS', async () => {
    const auth = new ApiTokenAuth('00abcdefTOKENsecret123');
    expect(await auth.header()).toBe('SSWS 00abcdefTOKENsecret123');
    for (const text of [JSON.stringify(auth), inspect(auth, { depth: 10, showHidden: true }), String(auth)]) {
      expect(text).not.toContain('TOKENsecret');
    }
    expect(auth.kind).toBe('ssws');
  });

  it('ApiTokenAuth refuses an empty token or one with inner whitespace, without echoing it', () => {
    expect(() => new ApiTokenAuth('  ')).toThrow('OKTA_API_TOKEN is empty');
    expect(() => new ApiTokenAuth('abc\r\nX-Evil: 1')).toThrow(/^OKTA_API_TOKEN contains whitespace or control characters$/);
  });
});
