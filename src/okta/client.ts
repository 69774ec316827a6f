import pkg from '../../package.json' with { type: 'json' };
import { UsageError } from '../errors.ts';
import type { OktaAuth } from './auth.ts';
import { errorFromResponse, looksLikeOkta, NotOktaError, OktaApiError, OktaNetworkError, OktaResponseError, pathOnly, type HttpMethod } from './errors.ts';
import { RETRY_POLICY, retryDelayMs } from './retry-policy.ts';
import { createTransport, type ProxySettings, type Transport, type TransportResponse } from './http.ts';
import { parseOrgUrl } from './org-url.ts';
import { pathSegment } from './ids.ts';
import { nextLink } from './link-header.ts';
import { parseRateHeaders } from './rate-headers.ts';
import type { AppUser, BucketName, Grant, OAuthClientRef, OktaUser, PrincipalRateLimit, RefreshToken, RequestDescriptor, RequestGate, ResponseMeta } from './types.ts';

export interface OktaClientOptions {
  /** The org's origin, e.g. https://example.okta.com (http only for localhost). */
  orgUrl: string;
  auth: OktaAuth;
  /** Connect, response-headers and body timeouts, each. Default 10 000. */
  timeoutMs?: number;
  /** Keep-alive sockets; match the number of requests this process runs at once. Default 8. */
  connections?: number;
  /** The shared budget: every request, retries included, takes a lease from it. */
  gate?: RequestGate;
  /** Reach Okta through this proxy. */
  proxy?: ProxySettings | null;
  userAgent?: string;
  /**
   * Retry GETs (reads are idempotent) on a 429 or a transient failure, up to this many
   * attempts. For the producer's directory listing, which has no queue to retry it;
   * workers leave it unset so that the queue retries, shared across processes.
   */
  readAttempts?: number;
}

export interface RequestContext {
  runId?: string;
  /** A stop of the caller: a request still waiting for its rate-limit slot is withdrawn (RequestDescriptor.signal). */
  signal?: AbortSignal;
  /** Called once per HTTP response (each page, each 401 retry), after the gate's release. */
  onResponse?: (req: RequestDescriptor, meta: ResponseMeta) => void;
  /** Called for a request that got no answer but may have reached Okta (a reset, a timeout): Okta counts it too. */
  onNoAnswer?: (req: RequestDescriptor) => void;
  /** Called as a request leaves, its slot granted and its credential ready: from here Okta may act on it. */
  onSend?: (req: RequestDescriptor) => void;
}

export interface ListGrantsOptions {
  scopeId?: string;
  expand?: 'scope';
  limit?: number;
}

/** Which rate-limit bucket a request falls in (see BucketName for why these groups). */
export function bucketFor(method: HttpMethod, path: string): BucketName {
  const [, api, v1, collection, id, sub] = path.split('/');
  if (api !== 'api' || v1 !== 'v1') return 'other';
  if (collection === 'users') {
    if (id === undefined) return method === 'GET' ? 'users-list' : 'other';
    if (sub === undefined) return method === 'GET' ? 'user-get' : 'other';
    return sub === 'grants' || sub === 'clients' ? 'user-grants' : 'other';
  }
  if (collection === 'groups') return 'groups';
  if (collection === 'apps') return 'apps';
  return 'other';
}

function checkLimit(what: string, value: number | undefined, fallback: number, max: number): string {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1 || v > max) {
    throw new RangeError(`${what}: limit must be an integer from 1 to ${max}, got ${String(value)}`);
  }
  return String(v);
}

function checkExpand(expand: unknown): void {
  if (expand !== undefined && expand !== 'scope') throw new RangeError(`expand must be "scope", got ${String(expand)}`);
}

/** A query value (it goes through URLSearchParams, so only emptiness and invisible characters matter). */
function checkQueryValue(what: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '' || /\p{Cc}/u.test(value)) {
    throw new UsageError(`${what} must be a non-empty string without control characters`);
  }
  return value;
}

/** Empty pages in a row, each with a next link, that end a listing as Okta's error. */
const MAX_EMPTY_PAGES = 10;

/**
 * Okta Management API calls used by grantsweep. A DELETE, and a worker's reads, go once
 * (plus one retry on an OAuth 401): a 429 or a 5xx goes back to the queue, so that every
 * process sharing the org's budget backs off together. Reads outside a run (a directory
 * listing, `check`, the principal share) are retried here, up to `readAttempts` times on
 * RETRY_POLICY's waits, since no queue stands behind them.
 */
export class OktaClient {
  readonly orgUrl: string;
  readonly #auth: OktaAuth;
  readonly #gate: RequestGate | undefined;
  readonly #transport: Transport;
  readonly #userAgent: string;
  readonly #readAttempts: number;

  constructor(opts: OktaClientOptions) {
    this.#readAttempts = opts.readAttempts ?? 1;
    this.orgUrl = parseOrgUrl(opts.orgUrl).origin;
    this.#auth = opts.auth;
    this.#gate = opts.gate;
    this.#userAgent = opts.userAgent ?? `grantsweep/${pkg.version}`;
    this.#transport = createTransport({ connections: opts.connections ?? 8, timeoutMs: opts.timeoutMs ?? 10_000, proxy: opts.proxy });
  }

  listUserGrants(userId: string, opts: ListGrantsOptions = {}, ctx?: RequestContext): AsyncIterable<Grant> {
    const path = `/api/v1/users/${pathSegment('userId', userId)}/grants`;
    const q = new URLSearchParams();
    if (opts.scopeId !== undefined) q.set('scopeId', checkQueryValue('scopeId', opts.scopeId));
    checkExpand(opts.expand);
    if (opts.expand) q.set('expand', opts.expand);
    q.set('limit', checkLimit('listUserGrants', opts.limit, 200, 200));
    return this.#paginate<Grant>(this.#url(path, q), ctx);
  }

  listUserClientGrants(
    userId: string,
    clientId: string,
    opts: Omit<ListGrantsOptions, 'scopeId'> = {},
    ctx?: RequestContext,
  ): AsyncIterable<Grant> {
    const path = `/api/v1/users/${pathSegment('userId', userId)}/clients/${pathSegment('clientId', clientId)}/grants`;
    const q = new URLSearchParams();
    checkExpand(opts.expand);
    if (opts.expand) q.set('expand', opts.expand);
    q.set('limit', checkLimit('listUserClientGrants', opts.limit, 200, 200));
    return this.#paginate<Grant>(this.#url(path, q), ctx);
  }

  async getUserGrant(userId: string, grantId: string, opts: { expand?: 'scope' } = {}, ctx?: RequestContext): Promise<Grant> {
    const path = `/api/v1/users/${pathSegment('userId', userId)}/grants/${pathSegment('grantId', grantId)}`;
    checkExpand(opts.expand);
    return this.#getObject<Grant>(this.#url(path, new URLSearchParams(opts.expand ? { expand: opts.expand } : {})), ctx);
  }

  async revokeUserGrant(userId: string, grantId: string, ctx?: RequestContext): Promise<void> {
    const path = `/api/v1/users/${pathSegment('userId', userId)}/grants/${pathSegment('grantId', grantId)}`;
    await this.#call('DELETE', this.#url(path), ctx);
  }

  async revokeUserClientGrants(userId: string, clientId: string, ctx?: RequestContext): Promise<void> {
    const path = `/api/v1/users/${pathSegment('userId', userId)}/clients/${pathSegment('clientId', clientId)}/grants`;
    await this.#call('DELETE', this.#url(path), ctx);
  }

  async revokeUserGrants(userId: string, ctx?: RequestContext): Promise<void> {
    await this.#call('DELETE', this.#url(`/api/v1/users/${pathSegment('userId', userId)}/grants`), ctx);
  }

  listUserClients(userId: string, ctx?: RequestContext): AsyncIterable<OAuthClientRef> {
    return this.#paginate<OAuthClientRef>(this.#url(`/api/v1/users/${pathSegment('userId', userId)}/clients`), ctx);
  }

  /** The user's refresh tokens for one client (OAuth2RefreshToken; `limit` 1..200). */
  listUserClientTokens(userId: string, clientId: string, opts: { limit?: number } = {}, ctx?: RequestContext): AsyncIterable<RefreshToken> {
    const path = `/api/v1/users/${pathSegment('userId', userId)}/clients/${pathSegment('clientId', clientId)}/tokens`;
    const q = new URLSearchParams({ limit: checkLimit('listUserClientTokens', opts.limit, 200, 200) });
    return this.#paginate<RefreshToken>(this.#url(path, q), ctx);
  }

  /** Revokes every refresh token the user holds for the client: a separate call from its grants' (docs/okta-api.md §1.4). */
  async revokeUserClientTokens(userId: string, clientId: string, ctx?: RequestContext): Promise<void> {
    const path = `/api/v1/users/${pathSegment('userId', userId)}/clients/${pathSegment('clientId', clientId)}/tokens`;
    await this.#call('DELETE', this.#url(path), ctx);
  }

  /** By id, or by login when the value contains "@" (logins allow longer values). */
  async getUser(idOrLogin: string, ctx?: RequestContext): Promise<OktaUser> {
    const kind = typeof idOrLogin === 'string' && idOrLogin.includes('@') ? 'login' : 'userId';
    return this.#getObject<OktaUser>(this.#url(`/api/v1/users/${pathSegment(kind, idOrLogin)}`), ctx);
  }

  listUsers(opts: { search?: string; filter?: string; limit?: number } = {}, ctx?: RequestContext): AsyncIterable<OktaUser> {
    if (opts.search !== undefined && opts.filter !== undefined) {
      throw new UsageError('listUsers takes a search or a filter expression, not both');
    }
    const q = new URLSearchParams();
    if (opts.search !== undefined) q.set('search', checkQueryValue('search', opts.search));
    if (opts.filter !== undefined) q.set('filter', checkQueryValue('filter', opts.filter));
    q.set('limit', checkLimit('listUsers', opts.limit, 200, 200));
    return this.#paginate<OktaUser>(this.#url('/api/v1/users', q), ctx);
  }

  /** The principal rate limits of one kind of credential (scope okta.principalRateLimits.read). */
  listPrincipalRateLimits(principalType: PrincipalRateLimit['principalType'], ctx?: RequestContext): AsyncIterable<PrincipalRateLimit> {
    // Okta requires the filter (UNCONFIRMED: its grammar beyond this one form).
    const q = new URLSearchParams({ filter: `principalType eq "${principalType}"` });
    return this.#paginate<PrincipalRateLimit>(this.#url('/api/v1/principal-rate-limits', q), ctx);
  }

  listGroupUsers(groupId: string, opts: { limit?: number } = {}, ctx?: RequestContext): AsyncIterable<OktaUser> {
    const path = `/api/v1/groups/${pathSegment('groupId', groupId)}/users`;
    // The maximum is UNCONFIRMED; 1000 is Okta's own default, so it is known to be accepted.
    const q = new URLSearchParams({ limit: checkLimit('listGroupUsers', opts.limit, 200, 1000) });
    return this.#paginate<OktaUser>(this.#url(path, q), ctx);
  }

  listAppUsers(appId: string, opts: { limit?: number } = {}, ctx?: RequestContext): AsyncIterable<AppUser> {
    const path = `/api/v1/apps/${pathSegment('appId', appId)}/users`;
    // expand=user embeds the Okta user: its login, where an app user's own userName can be anything the app uses.
    const q = new URLSearchParams({ limit: checkLimit('listAppUsers', opts.limit, 500, 500), expand: 'user' });
    return this.#paginate<AppUser>(this.#url(path, q), ctx);
  }

  /**
   * Closes this client's sockets once the requests in flight are answered, or at once
   * with `force` (they fail). The auth is the caller's to close (it may be shared).
   */
  close(force = false): Promise<void> {
    return this.#transport.close(force);
  }

  #url(path: string, query?: URLSearchParams): string {
    const qs = query?.toString();
    return `${this.orgUrl}${path}${qs ? `?${qs}` : ''}`;
  }

  async #getObject<T>(url: string, ctx: RequestContext | undefined): Promise<T> {
    const value = parseJson(await this.#read(url, ctx), url);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new OktaResponseError('expected a JSON object', 'GET', url);
    }
    return value as T;
  }

  async *#paginate<T>(firstUrl: string, ctx: RequestContext | undefined): AsyncGenerator<T> {
    const seen = new Set<string>();
    let url: string | null = firstUrl;
    // A cursor that moves while the items do not would list for ever: the first item's id
    // repeated from the page before, or page after page of nothing, is Okta going round.
    let firstIdBefore: unknown;
    let emptyInARow = 0;
    while (url !== null) {
      seen.add(url);
      const res = await this.#read(url, ctx);
      const items = parseJson(res, url);
      // Every item an object: a null or a number among them would fail far from here, as a bug.
      if (!Array.isArray(items) || items.some((i) => i === null || typeof i !== 'object' || Array.isArray(i))) {
        throw new OktaResponseError('expected a JSON array of objects', 'GET', url);
      }
      const next = nextLink(res.headers['link']);
      const nextUrl: string | null = next === null ? null : this.#checkNext(next, url);
      if (nextUrl !== null && seen.has(nextUrl)) {
        throw new OktaResponseError('the next link points to a page already read', 'GET', url);
      }
      const firstId = (items[0] as { id?: unknown } | undefined)?.id;
      if (firstId !== undefined && firstId === firstIdBefore) throw new OktaResponseError('the next page repeats the page before', 'GET', url);
      emptyInARow = items.length === 0 ? emptyInARow + 1 : 0;
      if (nextUrl !== null && emptyInARow >= MAX_EMPTY_PAGES) throw new OktaResponseError(`${MAX_EMPTY_PAGES} empty pages in a row, each with a next link`, 'GET', url);
      firstIdBefore = firstId;
      yield* items as T[];
      url = nextUrl;
    }
  }

  /**
   * Next links are followed as sent (the cursor is Okta's business), but only on the
   * org's own origin: the request carries the Authorization header, and a link to any
   * other host would hand it the token.
   */
  #checkNext(next: string, current: string): string {
    let u: URL;
    try {
      u = new URL(next, current);
    } catch {
      throw new OktaResponseError('the next link is not a URL', 'GET', current);
    }
    if (u.origin !== this.orgUrl || u.username !== '' || u.password !== '') {
      throw new OktaResponseError(`refusing a next link to ${u.origin}: requests go only to ${this.orgUrl}`, 'GET', current);
    }
    return u.href;
  }

  async #read(url: string, ctx: RequestContext | undefined): Promise<TransportResponse> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#call('GET', url, ctx);
      } catch (err) {
        const kind = err instanceof OktaApiError || err instanceof OktaNetworkError ? err.kind : null;
        if (kind === null || attempt >= this.#readAttempts || !RETRY_POLICY[kind].retry) throw err;
        const rate = err instanceof OktaApiError ? err.rate : null;
        await new Promise((r) => setTimeout(r, retryDelayMs(kind, attempt, rate, Date.now())));
      }
    }
  }

  async #call(method: HttpMethod, url: string, ctx: RequestContext | undefined): Promise<TransportResponse> {
    const path = pathOnly(url);
    const desc: RequestDescriptor = { method, path, bucket: bucketFor(method, path) };
    if (ctx?.runId !== undefined) desc.runId = ctx.runId;
    if (ctx?.signal !== undefined) desc.signal = ctx.signal;
    let nonceRetried = false;
    for (let attempt = 1; ; attempt++) {
      const lease = this.#gate ? await this.#gate.acquire(desc) : undefined;
      let res: TransportResponse;
      let authorization: string;
      let started = 0;
      try {
        authorization = await this.#auth.header();
        const proof = this.#auth.proofHeaders?.(method, url, authorization);
        const headers = { authorization, accept: 'application/json', 'user-agent': this.#userAgent };
        started = performance.now();
        ctx?.onSend?.(desc);
        res = await this.#transport.send({ method, url, headers: proof ? { ...headers, ...proof } : headers });
      } catch (err) {
        lease?.release(null);
        if (started > 0 && err instanceof OktaNetworkError && !err.neverSent) ctx?.onNoAnswer?.(desc);
        throw err;
      }
      const meta: ResponseMeta = {
        status: res.status,
        rate: parseRateHeaders((name) => res.headers[name], res.status),
        durationMs: performance.now() - started,
      };
      lease?.release(meta);
      ctx?.onResponse?.(desc, meta);
      // A resource server that wants its DPoP nonce in the proof says so with a 401: once more, same token.
      if (this.#auth.noteNonce?.(res.status, res.headers) && !nonceRetried) {
        nonceRetried = true;
        attempt--;
        continue;
      }
      // An OAuth token can expire or be revoked before its expires_in; one fresh token
      // settles it. An API token cannot be renewed, so its 401 is final.
      if (res.status === 401 && this.#auth.kind === 'oauth' && attempt === 1) {
        this.#auth.invalidate(authorization);
        continue;
      }
      const contentType = headerOf(res, 'content-type');
      if (!looksLikeOkta(res.status, contentType, res.body, meta.rate.requestId)) throw new NotOktaError(res.status, contentType, method, url);
      if (res.status < 200 || res.status >= 300) {
        throw errorFromResponse({ status: res.status, body: res.body, rate: meta.rate, method, url });
      }
      return res;
    }
  }
}

function parseJson(res: TransportResponse, url: string): unknown {
  try {
    return JSON.parse(res.body);
  } catch {
    throw new OktaResponseError(`HTTP ${res.status} body is not JSON`, 'GET', url);
  }
}

function headerOf(res: TransportResponse, name: string): string | null {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] ?? null : v ?? null;
}
