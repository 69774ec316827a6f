import { createHash, randomUUID, type KeyObject } from 'node:crypto';
import { inspect } from 'node:util';
import { UsageError } from '../errors.ts';
import { asksForDpopNonce, dpopNonceOf, DpopProver } from './dpop.ts';
import { errorFromResponse, OktaResponseError } from './errors.ts';
import type { ProxySettings, Transport } from './http.ts';
import { parseOrgUrl } from './org-url.ts';
import { readPrivateKey } from './private-key.ts';
import { parseRateHeaders } from './rate-headers.ts';

/**
 * Where the Authorization header comes from. Implementations keep the secret in private
 * fields and define toJSON / toString / inspect so that logging the object (pino, an
 * error's `cause`) cannot print it.
 */
export interface OktaAuth {
  header(): Promise<string>;
  /**
   * Drop the cached credential (the client calls this on a 401, then retries once).
   * Pass the header that was rejected: a late 401 then keeps a token fetched since.
   */
  invalidate(rejected?: string): void;
  readonly kind: 'ssws' | 'oauth';
  /**
   * Which credential this is, safe to store and show: `app:` and the service app's client
   * id, or `token:` and a hash of the API token (never the token). Okta's per-token cap
   * is learned per principal (see release-3.lua).
   */
  readonly principal: string;
  /**
   * Headers a request needs besides Authorization: a DPoP proof when the token is
   * DPoP-bound (`authorization` is what header() gave for this request).
   */
  proofHeaders?(method: string, url: string, authorization: string): Record<string, string> | undefined;
  /**
   * A resource server's DPoP-Nonce on a response. True when the response was a 401
   * asking for it: the request goes again with a fresh proof, same token.
   */
  noteNonce?(status: number, headers: Record<string, string | string[] | undefined>): boolean;
  /** Releases sockets the auth opened itself. */
  close?(): Promise<void>;
}

const INVISIBLE = /[\s\p{Cc}\p{Cf}]/u;
const PRINTABLE_ASCII = /^[\x21-\x7e]+$/;

/** `Authorization: SSWS <token>`. A rejected API token cannot be renewed, so invalidate is a no-op. */
export class ApiTokenAuth implements OktaAuth {
  readonly kind = 'ssws' as const;
  readonly principal: string;
  readonly #header: string;

  constructor(token: string) {
    const t = typeof token === 'string' ? token.trim() : '';
    if (t === '') throw new UsageError('OKTA_API_TOKEN is empty');
    if (INVISIBLE.test(t)) throw new UsageError('OKTA_API_TOKEN contains whitespace or control characters');
    if (!PRINTABLE_ASCII.test(t)) throw new UsageError('OKTA_API_TOKEN contains a non-ASCII character');
    this.#header = `SSWS ${t}`;
    // 96 bits of a SHA-256: tells two tokens apart, says nothing of either.
    this.principal = `token:${createHash('sha256').update(t).digest('base64url').slice(0, 16)}`;
  }

  header(): Promise<string> {
    return Promise.resolve(this.#header);
  }
  invalidate(): void {}
  toJSON() {
    return { kind: this.kind };
  }
  toString(): string {
    return 'ApiTokenAuth(SSWS [hidden])';
  }
  [inspect.custom](): string {
    return this.toString();
  }
}

/** The scopes a service app's token asks for to find users and revoke their grants. */
export const REVOKE_SCOPES: readonly string[] = ['okta.users.read', 'okta.users.manage'];

export interface PrivateKeyJwtOptions {
  orgUrl: string;
  clientId: string;
  /** PEM (PKCS#8, PKCS#1 or SEC1, unencrypted) or a private JWK as JSON. */
  privateKey: string;
  /** `kid` for the assertion header; defaults to the JWK's kid. */
  keyId?: string;
  scopes: string[];
  /** Transport for the token request; by default the auth opens its own (see close()). */
  fetchToken?: Pick<Transport, 'send'>;
  /** The proxy its own transport goes through. */
  proxy?: ProxySettings | null;
  now?: () => number;
}

/** Refetch this long before the token expires, so no request goes out with a token about to lapse. */
const REFRESH_MARGIN_MS = 60_000;
const ASSERTION_LIFETIME_S = 300;
/**
 * OAuth 2.0 client credentials with a private_key_jwt assertion against the org
 * authorization server (the only flow Okta allows for Okta-scoped service tokens).
 */
export class PrivateKeyJwtAuth implements OktaAuth {
  readonly kind = 'oauth' as const;
  readonly clientId: string;
  readonly principal: string;
  readonly tokenUrl: string;
  readonly scopes: readonly string[];
  readonly #key: KeyObject;
  readonly #alg: 'RS256' | 'ES256' | 'ES384' | 'ES512';
  readonly #kid: string | undefined;
  readonly #now: () => number;
  #transport: Pick<Transport, 'send'> | null;
  readonly #proxy: ProxySettings | null;
  #ownTransport: Transport | null = null;
  #cached: { header: string; refreshAt: number } | null = null;
  #inflight: Promise<string> | null = null;
  /** Made on the first token request; used only if Okta binds the token to it (token_type DPoP). */
  #dpop: DpopProver | null = null;
  #tokenNonce: string | null = null;
  #apiNonce: string | null = null;

  constructor(opts: PrivateKeyJwtOptions) {
    if (typeof opts.clientId !== 'string' || opts.clientId === '' || INVISIBLE.test(opts.clientId)) {
      throw new UsageError('OKTA_CLIENT_ID must be a non-empty client_id without whitespace');
    }
    if (!Array.isArray(opts.scopes) || opts.scopes.length === 0) throw new UsageError('OAuth scopes must not be empty');
    for (const s of opts.scopes) {
      if (typeof s !== 'string' || s === '' || INVISIBLE.test(s)) throw new UsageError(`invalid OAuth scope "${String(s)}"`);
    }
    this.clientId = opts.clientId;
    this.principal = `app:${opts.clientId}`;
    this.scopes = [...opts.scopes];
    this.tokenUrl = new URL('/oauth2/v1/token', parseOrgUrl(opts.orgUrl)).href;
    const read = readPrivateKey(opts.privateKey);
    // No cause attached: crypto's message could quote part of the input.
    if ('problem' in read) throw new UsageError(`OKTA_PRIVATE_KEY ${read.problem}`);
    this.#key = read.key;
    this.#alg = read.alg;
    this.#kid = opts.keyId ?? read.kid ?? undefined;
    this.#now = opts.now ?? Date.now;
    this.#transport = opts.fetchToken ?? null;
    this.#proxy = opts.proxy ?? null;
  }

  header(): Promise<string> {
    const cached = this.#cached;
    if (cached && this.#now() < cached.refreshAt) return Promise.resolve(cached.header);
    // Concurrent callers share one token request instead of each minting a token.
    this.#inflight ??= this.#fetchToken().finally(() => {
      this.#inflight = null;
    });
    return this.#inflight;
  }

  invalidate(rejected?: string): void {
    if (rejected === undefined || this.#cached?.header === rejected) this.#cached = null;
  }

  proofHeaders(method: string, url: string, authorization: string): Record<string, string> | undefined {
    if (!authorization.startsWith('DPoP ') || !this.#dpop) return undefined;
    return { dpop: this.#dpop.proof(method, url, { accessToken: authorization.slice(5), nonce: this.#apiNonce }) };
  }

  noteNonce(status: number, headers: Record<string, string | string[] | undefined>): boolean {
    const nonce = dpopNonceOf(headers);
    if (nonce) this.#apiNonce = nonce;
    return status === 401 && this.#dpop !== null && asksForDpopNonce(headers);
  }

  async close(): Promise<void> {
    await this.#ownTransport?.close();
    this.#ownTransport = null;
  }

  toJSON() {
    return { kind: this.kind, clientId: this.clientId, tokenUrl: this.tokenUrl, scopes: this.scopes, keyId: this.#kid ?? null };
  }
  toString(): string {
    return `PrivateKeyJwtAuth(clientId=${this.clientId}, key [hidden])`;
  }
  [inspect.custom](): string {
    return this.toString();
  }

  async #assertion(): Promise<string> {
    const nowS = Math.floor(this.#now() / 1000);
    // jose and the HTTP stack load on the first token, not with every command that may need one.
    const { SignJWT } = await import('jose');
    return new SignJWT({})
      .setProtectedHeader(this.#kid ? { alg: this.#alg, kid: this.#kid } : { alg: this.#alg })
      .setIssuer(this.clientId)
      .setSubject(this.clientId)
      .setAudience(this.tokenUrl)
      .setIssuedAt(nowS)
      .setExpirationTime(nowS + ASSERTION_LIFETIME_S)
      .setJti(randomUUID())
      .sign(this.#key);
  }

  async #fetchToken(): Promise<string> {
    const startedAt = this.#now();
    this.#transport ??= this.#ownTransport = (await import('./http.ts')).createTransport({ connections: 1, timeoutMs: 10_000, proxy: this.#proxy });
    // Every token request carries a DPoP proof, as Okta's SDK does: an app that does not
    // require DPoP ignores it and gets a Bearer token. One that does may first answer
    // 400 use_dpop_nonce with the nonce to put in the proof; the assertion is made again
    // (Okta refuses a reused jti).
    this.#dpop ??= new DpopProver(this.#now);
    let res;
    for (let attempt = 1; ; attempt++) {
      const body = new URLSearchParams({
        grant_type: 'client_credentials',
        scope: this.scopes.join(' '),
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: await this.#assertion(),
      }).toString();
      res = await this.#transport.send({
        method: 'POST',
        url: this.tokenUrl,
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
          dpop: this.#dpop.proof('POST', this.tokenUrl, { nonce: this.#tokenNonce }),
        },
        body,
      });
      const nonce = dpopNonceOf(res.headers);
      if (nonce) this.#tokenNonce = nonce;
      if (!(attempt === 1 && res.status === 400 && nonce && /"use_dpop_nonce"/.test(res.body))) break;
    }
    const rate = parseRateHeaders((name) => res.headers[name], res.status);
    if (res.status < 200 || res.status >= 300) {
      throw errorFromResponse({ status: res.status, body: res.body, rate, method: 'POST', url: this.tokenUrl });
    }
    const parsed = parseTokenResponse(res.body);
    if (!parsed) throw new OktaResponseError('token endpoint returned no usable access_token', 'POST', this.tokenUrl);
    // Okta fixes service-token lifetime at one hour; trust expires_in when present.
    this.#cached = {
      header: `${parsed.dpop ? 'DPoP' : 'Bearer'} ${parsed.token}`,
      refreshAt: startedAt + (parsed.expiresIn ?? 3600) * 1000 - REFRESH_MARGIN_MS,
    };
    return this.#cached.header;
  }
}

function parseTokenResponse(body: string): { token: string; dpop: boolean; expiresIn: number | null } | null {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(body) as Record<string, unknown>;
  } catch {
    return null;
  }
  const token = json?.access_token;
  const type = typeof json?.token_type === 'string' ? json.token_type.toLowerCase() : 'bearer';
  if (typeof token !== 'string' || token === '' || INVISIBLE.test(token) || (type !== 'bearer' && type !== 'dpop')) return null;
  const exp = json.expires_in;
  return { token, dpop: type === 'dpop', expiresIn: typeof exp === 'number' && Number.isFinite(exp) && exp > 0 ? exp : null };
}
