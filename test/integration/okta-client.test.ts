import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ApiTokenAuth, PrivateKeyJwtAuth, type OktaAuth } from '../../src/okta/auth.ts';
import type { Simulator } from '../../src/sim/index.ts';
import { OktaClient, type RequestContext } from '../../src/okta/client.ts';
import { isUserNotFound, OktaApiError, OktaNetworkError, OktaResponseError } from '../../src/okta/errors.ts';
import { InvalidIdError } from '../../src/okta/ids.ts';
import { resetDelayMs } from '../../src/okta/rate-headers.ts';
import type { GateLease, Grant, RequestDescriptor, RequestGate, ResponseMeta } from '../../src/okta/types.ts';

// ---------------------------------------------------------------------------------------
// A small, self-contained Okta stand-in over real HTTP. It records every request exactly
// as it arrived (raw URL, before any decoding) so tests can prove what went on the wire.
// ---------------------------------------------------------------------------------------

interface Seen {
  method: string;
  rawUrl: string;
  authorization: string | undefined;
  userAgent: string | undefined;
  dpop?: string | undefined;
}

const API_TOKEN = 'good-api-token';

function grant(userId: string, i: number): Grant {
  return {
    id: `oag${userId}${i}`,
    status: 'ACTIVE',
    created: '2026-01-01T00:00:00.000Z',
    lastUpdated: '2026-01-01T00:00:00.000Z',
    issuer: 'https://org.example.com',
    clientId: '0oaClient1',
    userId,
    scopeId: 'okta.users.read',
  };
}

class FakeOkta {
  seen: Seen[] = [];
  tokenCalls = 0;
  validBearer = new Set<string>();
  rejectAllBearer = false;
  /** Tokens are DPoP-bound, and the API wants this nonce in every proof (RFC 9449 §9). */
  dpopApiNonce: string | null = null;
  /** Lets a test point `next` links at any URL (another origin, the same page...). */
  nextOverride = new Map<string, (origin: string, rawUrl: string) => string>();
  origin = '';
  private server: Server;

  constructor() {
    this.server = createServer((req, res) => this.handle(req, res));
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.origin = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }
  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
  api(): Seen[] {
    return this.seen.filter((s) => s.rawUrl.startsWith('/api/'));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const rawUrl = req.url ?? '';
    if (rawUrl === '/oauth2/v1/token') return this.token(req, res);
    this.seen.push({ method: req.method ?? '', rawUrl, authorization: req.headers.authorization, userAgent: req.headers['user-agent'], dpop: req.headers.dpop as string | undefined });
    if (this.dpopApiNonce !== null) {
      const proof = req.headers.dpop as string | undefined;
      const claims = proof ? JSON.parse(Buffer.from(proof.split('.')[1]!, 'base64url').toString()) : {};
      if (claims.nonce !== this.dpopApiNonce) {
        return this.error(res, 401, 'E0000011', 'Invalid token provided', { 'www-authenticate': 'DPoP error="use_dpop_nonce"', 'dpop-nonce': this.dpopApiNonce });
      }
      req.headers.authorization = (req.headers.authorization ?? '').replace(/^DPoP /, 'Bearer ');
    }
    const [rawPath = '', rawQuery = ''] = rawUrl.split('?');
    const query = new URLSearchParams(rawQuery);
    const seg = rawPath.split('/').slice(1).map(decodeURIComponent); // ['api','v1','users',id,...]
    const auth = req.headers.authorization ?? '';
    const authorised =
      auth === `SSWS ${API_TOKEN}` || (auth.startsWith('Bearer ') && !this.rejectAllBearer && this.validBearer.has(auth.slice(7)));
    if (!authorised) return this.error(res, 401, 'E0000011', 'Invalid token provided');
    const [api, v1, collection, id, sub] = seg;
    if (api !== 'api' || v1 !== 'v1') return this.error(res, 404, 'E0000008', 'The requested path was not found');

    if (collection === 'users' && id === undefined) {
      const users = ['00uA', '00uB', '00uC', '00uD', '00uE'].map((u) => ({ id: u, status: 'ACTIVE', profile: { login: `${u}@example.com` } }));
      return this.page(res, rawUrl, users, query);
    }
    if (collection === 'users' && id !== undefined) {
      if (id === '00uForbidden') return this.error(res, 403, 'E0000006', 'You do not have permission to perform the requested action');
      if (id === '00u429' || id === '00uConc') {
        const conc = id === '00uConc';
        return this.error(res, 429, 'E0000047', 'API call exceeded rate limit due to too many requests.', {
          'x-rate-limit-limit': conc ? '0' : '600',
          'x-rate-limit-remaining': '0',
        });
      }
      if (id === '00u503') return this.error(res, 503, 'E0000009', 'Internal Server Error');
      if (id === '00uReset') return void req.socket.destroy();
      if (id.startsWith('missing')) return this.error(res, 404, 'E0000007', `Not found: Resource not found: ${id} (User)`);
      if (sub === undefined) return this.json(res, 200, { id, status: 'ACTIVE', profile: { login: id.includes('@') ? id : `${id}@example.com` } });
      const grants = Array.from({ length: id === '00uMany' ? 7 : 2 }, (_, i) => grant(id, i));
      if (sub === 'clients' && seg.length === 5) {
        return this.page(res, rawUrl, [{ client_id: '0oaClient1', client_name: 'App One' }], query);
      }
      const grantId = sub === 'grants' ? seg[5] : seg[7];
      if (grantId === 'oagGone') return this.error(res, 404, 'E0000007', 'Not found: Resource not found: oagGone (OAuth2ScopeConsentGrant)');
      if (req.method === 'DELETE') return this.empty(res, 204);
      if (grantId !== undefined) return this.json(res, 200, { ...grant(id, 0), id: grantId });
      return this.page(res, rawUrl, grants, query);
    }
    if (collection === 'groups' || collection === 'apps') {
      return this.page(res, rawUrl, [{ id: '00uG1', status: 'ACTIVE', profile: { login: 'g1@example.com' } }], query);
    }
    return this.error(res, 404, 'E0000008', 'The requested path was not found');
  }

  /** Cursor pagination; Link headers vary by page to cover every shape the client must read. */
  private page(res: ServerResponse, rawUrl: string, items: unknown[], query: URLSearchParams): void {
    const limit = Number(query.get('limit') ?? 20);
    const after = query.get('after');
    const start = after === null ? 0 : Number.parseInt(after.split(',')[1] ?? '', 10); // cursor "c,<index>;x": commas and semicolons
    const pageIndex = Math.floor(start / limit);
    const rest = items.slice(start + limit);
    const self = `<${this.origin}${rawUrl}>; rel="self"`;
    const path = rawUrl.split('?')[0] ?? '';
    const override = this.nextOverride.get(path);
    let link: string | string[] = self;
    if (override) link = [self, `<${override(this.origin, rawUrl)}>; rel="next"`];
    else if (rest.length > 0) {
      const q = new URLSearchParams(query);
      q.set('after', `c,${start + limit};x`);
      const next = `${this.origin}${path}?${q.toString().replace(/%2C/g, ',').replace(/%3B/g, ';')}`;
      link = [
        [self, `<${next}>; rel="next"`], // one header per relation
        `${self}, <${next}>; title="page, two"; rel=next`, // comma-joined, params reordered, unquoted rel
        `<${next}>; rel="next last", ${self}`, // several rels, next first
      ][pageIndex % 3]!;
    }
    this.json(res, 200, items.slice(start, start + limit), { link });
  }

  private token(req: IncomingMessage, res: ServerResponse): void {
    req.resume();
    req.on('end', () => {
      this.tokenCalls++;
      const token = `at-${this.tokenCalls}`;
      this.validBearer.add(token);
      this.json(res, 200, { token_type: this.dpopApiNonce ? 'DPoP' : 'Bearer', expires_in: 3600, access_token: token, scope: 'okta.users.read' });
    });
  }

  private headers(extra: Record<string, string | string[]> = {}): Record<string, string | string[]> {
    return {
      'x-rate-limit-limit': '600',
      'x-rate-limit-remaining': '599',
      'x-rate-limit-reset': String(Math.floor(Date.now() / 1000) + 30),
      'x-okta-request-id': `req${this.seen.length}`,
      ...extra,
    };
  }
  private json(res: ServerResponse, status: number, body: unknown, extra?: Record<string, string | string[]>): void {
    res.writeHead(status, { 'content-type': 'application/json', ...this.headers(extra) });
    res.end(JSON.stringify(body));
  }
  private empty(res: ServerResponse, status: number): void {
    res.writeHead(status, this.headers());
    res.end();
  }
  private error(res: ServerResponse, status: number, code: string, summary: string, extra?: Record<string, string>): void {
    this.json(res, status, { errorCode: code, errorSummary: summary, errorLink: code, errorId: `oae${status}`, errorCauses: [] }, extra);
  }
}

/** Records what the client hands the shared budget. */
class RecordingGate implements RequestGate {
  log: Array<{ acquired: RequestDescriptor; released?: ResponseMeta | null }> = [];
  acquire(req: RequestDescriptor): Promise<GateLease> {
    const entry: { acquired: RequestDescriptor; released?: ResponseMeta | null } = { acquired: req };
    this.log.push(entry);
    return Promise.resolve({ release: (meta) => void (entry.released = meta) });
  }
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

// ---------------------------------------------------------------------------------------

describe('OktaClient over real HTTP (self-contained test server)', () => {
  let okta: FakeOkta;
  let gate: RecordingGate;
  let client: OktaClient;
  const extra: Array<{ close(): Promise<void> }> = [];

  const newClient = (auth: OktaAuth = new ApiTokenAuth(API_TOKEN)) => {
    const c = new OktaClient({ orgUrl: okta.origin, auth, gate, connections: 4, timeoutMs: 5_000 });
    extra.push(c);
    return c;
  };

  beforeEach(async () => {
    okta = await new FakeOkta().start();
    gate = new RecordingGate();
    client = newClient();
  });
  afterEach(async () => {
    for (const c of extra.splice(0)) await c.close();
    await okta.close();
  });

  describe('pagination', () => {
    it('follows next links over 4 pages in every Link shape and returns each grant once, in order', async () => {
      const statuses: number[] = [];
      const ctx: RequestContext = { runId: 'run-1', onResponse: (_d, m) => statuses.push(m.status) };
      const grants = await collect(client.listUserGrants('00uMany', { limit: 2 }, ctx));
      expect(grants.map((g) => g.id)).toEqual(Array.from({ length: 7 }, (_, i) => `oag00uMany${i}`));
      expect(okta.api().map((s) => s.rawUrl)).toEqual([
        '/api/v1/users/00uMany/grants?limit=2',
        '/api/v1/users/00uMany/grants?limit=2&after=c,2;x',
        '/api/v1/users/00uMany/grants?limit=2&after=c,4;x',
        '/api/v1/users/00uMany/grants?limit=2&after=c,6;x',
      ]);
      expect(statuses).toEqual([200, 200, 200, 200]);
    });

    it('takes one gate lease per page, in the user-grants bucket, released with the rate headers', async () => {
      await collect(client.listUserGrants('00uMany', { limit: 3 }, { runId: 'run-7' }));
      expect(gate.log).toHaveLength(3);
      for (const { acquired, released } of gate.log) {
        expect(acquired).toEqual({ method: 'GET', path: '/api/v1/users/00uMany/grants', bucket: 'user-grants', runId: 'run-7' });
        expect(released).toMatchObject({ status: 200, rate: { limit: 600, remaining: 599, concurrency: false } });
        expect(released!.rate.requestId).toMatch(/^req\d+$/);
      }
    });

    it('lists users over 3 pages with the search expression passed as one query parameter, never spliced', async () => {
      const search = 'profile.email eq "a&limit=1#x@example.com" or status eq "ACTIVE"';
      const users = await collect(client.listUsers({ search, limit: 2 }));
      expect(users.map((u) => u.id)).toEqual(['00uA', '00uB', '00uC', '00uD', '00uE']);
      const first = new URL(okta.api()[0]!.rawUrl, okta.origin);
      expect(first.pathname).toBe('/api/v1/users');
      expect([...first.searchParams.keys()]).toEqual(['search', 'limit']);
      expect(first.searchParams.get('search')).toBe(search);
      expect(first.searchParams.get('limit')).toBe('2');
      expect(gate.log.map((e) => e.acquired.bucket)).toEqual(['users-list', 'users-list', 'users-list']);
    });

    it('sends scopeId and expand as query parameters and reaches the client, group and app lists', async () => {
      await collect(client.listUserGrants('00u1', { scopeId: 'okta.users.read', expand: 'scope' }));
      await collect(client.listUserClientGrants('00u1', '0oaClient1', { expand: 'scope' }));
      expect((await collect(client.listUserClients('00u1')))[0]).toMatchObject({ client_id: '0oaClient1' });
      await collect(client.listGroupUsers('00g1'));
      await collect(client.listAppUsers('0oaApp1'));
      expect(okta.api().map((s) => `${s.method} ${s.rawUrl}`)).toEqual([
        'GET /api/v1/users/00u1/grants?scopeId=okta.users.read&expand=scope&limit=200',
        'GET /api/v1/users/00u1/clients/0oaClient1/grants?expand=scope&limit=200',
        'GET /api/v1/users/00u1/clients',
        'GET /api/v1/groups/00g1/users?limit=200',
        'GET /api/v1/apps/0oaApp1/users?limit=500&expand=user',
      ]);
      expect(gate.log.map((e) => e.acquired.bucket)).toEqual(['user-grants', 'user-grants', 'user-grants', 'groups', 'apps']);
    });

    it('refuses a next link to another origin and sends that origin nothing (it would get the token)', async () => {
      const other = await new FakeOkta().start();
      extra.push(other);
      const targets = [
        () => `${other.origin}/api/v1/users/00u1/grants?after=x`,
        (origin: string) => `${origin.replace('127.0.0.1', 'localhost')}/api/v1/users/00u1/grants?after=x`,
        (origin: string) => `${origin.replace('http://', 'http://user:pw@')}/api/v1/users/00u1/grants?after=x`,
      ];
      for (const target of targets) {
        okta.nextOverride.set('/api/v1/users/00u1/grants', target);
        const err = await rejection(collect(client.listUserGrants('00u1')));
        expect(err).toBeInstanceOf(OktaResponseError);
        expect((err as Error).message).toMatch(/refusing a next link/);
      }
      expect(other.seen).toEqual([]);
      expect(okta.api()).toHaveLength(3); // only the three first pages
    });

    it('stops with an error when a next link repeats a page instead of looping forever', async () => {
      okta.nextOverride.set('/api/v1/users/00u1/grants', (origin, rawUrl) => `${origin}${rawUrl}`);
      expect(await rejection(collect(client.listUserGrants('00u1')))).toBeInstanceOf(OktaResponseError);
      expect(okta.api()).toHaveLength(1);
    });
    // Every next link new (a cursor that moves), and the pages going nowhere: the first page again,
    // or, past the end of the list, nothing.
    it.each([
      ['the first page again', 0, /the next page repeats the page before/, 2],
      ['ten empty pages in a row', 100_000, /10 empty pages in a row, each with a next link/, 11],
    ] as const)('stops when a new cursor brings %s, instead of listing for ever', async (_, at, message, requests) => {
      let n = 0;
      okta.nextOverride.set('/api/v1/users/00u1/grants', (origin) => `${origin}/api/v1/users/00u1/grants?limit=20&after=c,${at};x${n++}`);
      const err = await rejection(collect(client.listUserGrants('00u1', { limit: 20 })));
      expect(err).toBeInstanceOf(OktaResponseError);
      expect((err as Error).message).toMatch(message);
      expect(okta.api()).toHaveLength(requests);
    });
  });

  describe('single calls', () => {
    it('gets a user by login (encoded as one segment) and sends SSWS and the grantsweep User-Agent', async () => {
      const user = await client.getUser('first.last+tag@example.com');
      expect(user.profile.login).toBe('first.last+tag@example.com');
      const [seen] = okta.api();
      expect(seen).toMatchObject({ method: 'GET', rawUrl: '/api/v1/users/first.last%2Btag%40example.com', authorization: `SSWS ${API_TOKEN}` });
      expect(seen!.userAgent).toMatch(/^grantsweep\/\d+\.\d+\.\d+/);
      expect(gate.log[0]!.acquired.bucket).toBe('user-get');
    });

    it('revokes with DELETE on exactly the intended paths and resolves on 204', async () => {
      await client.revokeUserGrant('00u1', 'oag1');
      await client.revokeUserClientGrants('00u1', '0oaClient1');
      await client.revokeUserGrants('00u1');
      expect(await client.getUserGrant('00u1', 'oag9', { expand: 'scope' })).toMatchObject({ id: 'oag9' });
      expect(okta.api().map((s) => `${s.method} ${s.rawUrl}`)).toEqual([
        'DELETE /api/v1/users/00u1/grants/oag1',
        'DELETE /api/v1/users/00u1/clients/0oaClient1/grants',
        'DELETE /api/v1/users/00u1/grants',
        'GET /api/v1/users/00u1/grants/oag9?expand=scope',
      ]);
    });
  });

  describe('error answers are thrown, classified and never retried by the client', () => {
    it('403 → forbidden with the Okta error fields', async () => {
      const err = await rejection(client.revokeUserGrants('00uForbidden'));
      expect(err).toBeInstanceOf(OktaApiError);
      expect(err).toMatchObject({ status: 403, kind: 'forbidden', errorCode: 'E0000006', errorId: 'oae403', method: 'DELETE', path: '/api/v1/users/00uForbidden/grants' });
      expect(okta.api()).toHaveLength(1);
    });

    it('404 on a user → not_found and isUserNotFound; 404 on a grant → not_found but not a missing user', async () => {
      const user = await rejection(client.getUser('missing@example.com'));
      expect(user).toMatchObject({ kind: 'not_found', path: '/api/v1/users/missing%40example.com' });
      expect(isUserNotFound(user)).toBe(true);
      const g = await rejection(client.revokeUserGrant('00u1', 'oagGone'));
      expect(g).toMatchObject({ kind: 'not_found', status: 404 });
      expect(isUserNotFound(g)).toBe(false);
    });

    it('429 → rate_limited with the reset information, sent once (the queue waits, not the client)', async () => {
      const err = (await rejection(client.listUserGrants('00u429')[Symbol.asyncIterator]().next())) as OktaApiError;
      expect(err.kind).toBe('rate_limited');
      expect(err.rate).toMatchObject({ limit: 600, remaining: 0, concurrency: false });
      expect(err.rate!.date).not.toBeNull();
      const wait = resetDelayMs(err.rate!, Date.now());
      expect(wait).toBeGreaterThan(0);
      expect(wait).toBeLessThanOrEqual(120_000);
      expect(okta.api()).toHaveLength(1);
      expect(gate.log[0]!.released).toMatchObject({ status: 429 });
    });

    it('429 with Limit 0 / Remaining 0 → concurrency_limited; 503 → transient; each sent once', async () => {
      expect(await rejection(client.getUser('00uConc'))).toMatchObject({ kind: 'concurrency_limited', status: 429 });
      expect(await rejection(client.getUser('00u503'))).toMatchObject({ kind: 'transient', status: 503 });
      expect(okta.api()).toHaveLength(2);
    });

    it('a dropped connection → OktaNetworkError, and the gate lease is released with null', async () => {
      const err = await rejection(client.getUser('00uReset'));
      expect(err).toBeInstanceOf(OktaNetworkError);
      expect(err).toMatchObject({ kind: 'transient', path: '/api/v1/users/00uReset' });
      expect(gate.log).toHaveLength(1);
      expect(gate.log[0]!.released).toBeNull();
    });

    it('401 with an API token → unauthorized after exactly one request (an API token cannot be renewed)', async () => {
      const bad = newClient(new ApiTokenAuth('wrong-token'));
      const err = await rejection(bad.getUser('00u1'));
      expect(err).toMatchObject({ kind: 'unauthorized', status: 401, errorCode: 'E0000011' });
      expect(JSON.stringify(err)).not.toContain('wrong-token');
      expect(String(err)).not.toContain('wrong-token');
      expect(okta.api()).toHaveLength(1);
    });
  });

  describe('OAuth 401: invalidate the token and retry exactly once', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const oauthClient = () => {
      const auth = new PrivateKeyJwtAuth({ orgUrl: okta.origin, clientId: '0oaSvc', privateKey: pem, scopes: ['okta.users.read'] });
      extra.push(auth);
      return newClient(auth);
    };

    it('a token revoked early is replaced once and the call succeeds', async () => {
      const c = oauthClient();
      await c.getUser('00u1');
      okta.validBearer.delete('at-1');
      const statuses: number[] = [];
      const user = await c.getUser('00u2', { onResponse: (_d, m) => statuses.push(m.status) });
      expect(user.id).toBe('00u2');
      expect(statuses).toEqual([401, 200]);
      expect(okta.api().map((s) => s.authorization)).toEqual(['Bearer at-1', 'Bearer at-1', 'Bearer at-2']);
      expect(okta.tokenCalls).toBe(2);
      expect(gate.log).toHaveLength(3); // the retry takes its own lease
    });

    it('a DPoP 401 asking for the API\'s nonce is answered once with a proof that carries it, same token', async () => {
      const c = oauthClient();
      okta.dpopApiNonce = 'rs-nonce-1';
      const statuses: number[] = [];
      const user = await c.getUser('00u3', { onResponse: (_d, m) => statuses.push(m.status) });
      expect(user.id).toBe('00u3');
      expect(statuses).toEqual([401, 200]);
      expect(okta.tokenCalls).toBe(1);
      const sent = okta.api();
      expect(sent.map((x) => x.authorization)).toEqual(['DPoP at-1', 'DPoP at-1']);
      const claims = sent.map((x) => JSON.parse(Buffer.from(x.dpop!.split('.')[1]!, 'base64url').toString()));
      expect(claims[0].nonce).toBeUndefined();
      expect(claims[1]).toMatchObject({ nonce: 'rs-nonce-1', htm: 'GET', htu: `${okta.origin}/api/v1/users/00u3` });
      // The nonce is kept: the next request needs no second try.
      await c.getUser('00u4');
      expect(okta.api()).toHaveLength(3);
    });

    it('a 401 that persists after a fresh token is thrown after exactly two requests', async () => {
      const c = oauthClient();
      okta.rejectAllBearer = true;
      const err = await rejection(c.revokeUserGrants('00u1'));
      expect(err).toMatchObject({ kind: 'unauthorized', status: 401 });
      expect(okta.api()).toHaveLength(2);
      expect(okta.tokenCalls).toBe(2);
    });
  });

  describe('crafted ids never reach the server or another path', () => {
    const crafted = [
      '../../apps/0oa1', '..', '.', 'a/b', '/', 'x?y=1', 'x#y', '%2e%2e', '%2F', 'me', 'ME', 'a\\b',
      'a\r\nX-Injected: 1', ' 00u1', '00u1 ', '00u1\u2028', '00u1\u0000', '',
    ];

    it.each(crafted.map((c) => [JSON.stringify(c), c]))('refuses %s in every path position with no request sent', async (_label, id) => {
      const calls: Array<() => unknown> = [
        () => client.getUser(id),
        () => client.revokeUserGrants(id),
        () => client.revokeUserGrant('00u1', id),
        () => client.revokeUserGrant(id, 'oag1'),
        () => client.revokeUserClientGrants('00u1', id),
        () => client.getUserGrant('00u1', id),
        () => client.listUserGrants(id),
        () => client.listUserClientGrants('00u1', id),
        () => client.listUserClients(id),
        () => client.listGroupUsers(id),
        () => client.listAppUsers(id),
      ];
      for (const call of calls) {
        let err: unknown;
        try {
          await call();
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(InvalidIdError);
      }
      expect(okta.seen).toEqual([]);
      expect(gate.log).toEqual([]);
    });

    it('any id either is refused with no request, or arrives as exactly one segment that decodes to itself (property, over HTTP)', async () => {
      const unit = fc.oneof(
        fc.constantFrom('.', '/', '\\', '?', '#', '%', '&', '=', '+', '@', ';', ',', ':', ' ', '\n', 'm', 'e', 'x', '2', 'F'),
        fc.integer({ min: 0, max: 0xffff }).map((n) => String.fromCharCode(n)),
      );
      let accepted = 0;
      await fc.assert(
        fc.asyncProperty(fc.string({ unit, maxLength: 12 }), async (id) => {
          const before = okta.seen.length;
          try {
            await client.revokeUserGrant('00u1', id);
          } catch (err) {
            expect(err).toBeInstanceOf(InvalidIdError);
            expect(okta.seen.length).toBe(before);
            return;
          }
          accepted++;
          expect(okta.seen.length).toBe(before + 1);
          const { method, rawUrl } = okta.seen[before]!;
          expect(method).toBe('DELETE');
          const parts = rawUrl.split('/');
          expect(parts.slice(0, 5)).toEqual(['', 'api', 'v1', 'users', '00u1']);
          expect(parts[5]).toBe('grants');
          expect(parts).toHaveLength(7);
          expect(decodeURIComponent(parts[6]!)).toBe(id);
        }),
        { numRuns: 300 },
      );
      expect(accepted).toBeGreaterThan(0);
      expect(okta.seen.every((s) => /^\/api\/v1\/users\/00u1\/grants\/[^/?#]+$/.test(s.rawUrl))).toBe(true);
    });
  });
});

// ---------------------------------------------------------------------------------------
// Against the project's Okta simulator, when it exists (it is written in parallel).
// ---------------------------------------------------------------------------------------

const simIndex = fileURLToPath(new URL('../../src/sim/index.ts', import.meta.url));

/** src/sim's `Simulator` (imported dynamically: the module may not exist yet). */
type SimHandle = Simulator;

describe.skipIf(!existsSync(simIndex))('OktaClient against the Okta simulator (src/sim)', () => {
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicJwk = { ...ec.publicKey.export({ format: 'jwk' }), kid: 'sim-key-1' };
  let sim: SimHandle;
  let client: OktaClient;

  beforeAll(async () => {
    const mod = (await import(/* @vite-ignore */ simIndex)) as { startSimulator(opts: unknown): Promise<SimHandle> };
    sim = await mod.startSimulator({
      seed: 11,
      users: 25,
      grantsPerUser: [2, 6],
      rateLimits: 'none',
      linkStyle: 'joined',
      oauthClients: [
        { clientId: '0oaSimSvc', publicJwk, scopes: ['okta.users.read', 'okta.users.manage'] },
        { clientId: '0oaSimDpop', publicJwk, scopes: ['okta.users.read', 'okta.users.manage'], dpop: true },
      ],
    });
    client = new OktaClient({ orgUrl: sim.url, auth: new ApiTokenAuth(sim.token), connections: 2 });
  });
  afterAll(async () => {
    await client?.close();
    await sim?.close();
  });

  it('pages through all users with comma-joined Link headers and sees each user once', async () => {
    let pages = 0;
    const users = await collect(client.listUsers({ limit: 5 }, { onResponse: () => pages++ }));
    expect(users.length).toBeGreaterThan(10);
    expect(new Set(users.map((u) => u.id)).size).toBe(users.length);
    expect(pages).toBeGreaterThanOrEqual(3);
  });

  it("lists a user's grants in pages as the simulator holds them, revokes one, and it is gone or REVOKED", async () => {
    const [user] = await collect(client.listUsers({ filter: 'status eq "ACTIVE"', limit: 1 }));
    expect(user).toBeDefined();
    const grants = await collect(client.listUserGrants(user!.id, { limit: 1 }));
    expect(grants.length).toBeGreaterThanOrEqual(2);
    expect(grants.map((g) => g.id)).toEqual(sim.org.grantsOf(user!.id)!.map((g) => g.id));
    await client.revokeUserGrant(user!.id, grants[0]!.id);
    const after = await client.getUserGrant(user!.id, grants[0]!.id).then(
      (g) => g.status,
      (e: unknown) => (e instanceof OktaApiError ? e.kind : e),
    );
    expect(['REVOKED', 'not_found']).toContain(after);
  });

  it('answers an unknown login with a 404 that reads as a missing user, and a bad token with 401', async () => {
    const err = await rejection(client.getUser('nobody-here@example.com'));
    expect(err).toMatchObject({ kind: 'not_found', status: 404 });
    expect(isUserNotFound(err)).toBe(true);
    const bad = new OktaClient({ orgUrl: sim.url, auth: new ApiTokenAuth('00wrong') });
    try {
      expect(await rejection(bad.getUser('nobody-here@example.com'))).toMatchObject({ kind: 'unauthorized' });
    } finally {
      await bad.close();
    }
  });

  it('gets a DPoP-bound token for an app that requires DPoP (nonce round trip) and signs a proof for every request', async () => {
    const auth = new PrivateKeyJwtAuth({
      orgUrl: sim.url,
      clientId: '0oaSimDpop',
      privateKey: JSON.stringify(ec.privateKey.export({ format: 'jwk' })),
      scopes: ['okta.users.read', 'okta.users.manage'],
    });
    const oauth = new OktaClient({ orgUrl: sim.url, auth });
    const tokenCalls = () => sim.log.snapshot().byEndpoint['POST /oauth2/v1/token'] ?? 0;
    const before = tokenCalls();
    try {
      expect((await auth.header()).startsWith('DPoP ')).toBe(true);
      // The first token request is answered use_dpop_nonce; the second, with the nonce, gets the token.
      expect(tokenCalls() - before).toBe(2);
      const u = sim.org.sampleUsers({ count: 1, status: 'ACTIVE', minGrants: 1 })[0]!;
      const grants = await collect(oauth.listUserGrants(u.id, { limit: 2 }));
      expect(grants.length).toBeGreaterThan(0);
      await oauth.revokeUserGrants(u.id);
      expect(await collect(oauth.listUserGrants(u.id))).toEqual([]);
      expect(sim.log.snapshot().byPrincipal['oauth:0oaSimDpop']?.requests).toBeGreaterThanOrEqual(3);
      expect(tokenCalls() - before).toBe(2);
      // The simulator accepted the proof of a request it then answered 500/503: the caller's
      // next try must carry a new proof (a replayed jti is refused with 401, which would halt a run).
      const v = sim.org.sampleUsers({ count: 2, status: 'ACTIVE', minGrants: 1 }).find((x) => x.id !== u.id)!;
      sim.configure({ faults: { errorRate: 1 } });
      try {
        expect(await rejection(oauth.revokeUserGrants(v.id))).toMatchObject({ kind: 'transient' });
      } finally {
        sim.configure({ faults: { errorRate: 0 } });
      }
      await oauth.revokeUserGrants(v.id);
      expect(await collect(oauth.listUserGrants(v.id))).toEqual([]);
      expect(JSON.stringify(auth)).not.toMatch(/"d"|nonce/);
    } finally {
      await oauth.close();
      await auth.close();
    }
  });

  it('gets a token from the simulated /oauth2/v1/token with a private_key_jwt assertion and uses it', async () => {
    const auth = new PrivateKeyJwtAuth({
      orgUrl: sim.url,
      clientId: '0oaSimSvc',
      privateKey: JSON.stringify({ ...ec.privateKey.export({ format: 'jwk' }), kid: 'sim-key-1' }),
      scopes: ['okta.users.read'],
    });
    const oauth = new OktaClient({ orgUrl: sim.url, auth });
    try {
      expect((await auth.header()).startsWith('Bearer ')).toBe(true);
      const users = await collect(oauth.listUsers({ limit: 3 }));
      expect(users.length).toBeGreaterThan(0);
    } finally {
      await oauth.close();
      await auth.close();
    }
  });
});
