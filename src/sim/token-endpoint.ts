import { createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { decodeJwt, errors as joseErrors, jwtVerify } from 'jose';
import { OKTA_SCOPES, type AuthRegistry } from './auth.ts';
import { checkDpopProof, PROOF_JTI_KEEP_MS } from './dpop.ts';
import { ReplayGuard } from './replay-guard.ts';
import type { RequestCtx } from './context.ts';
import { json, oauthError, type SimResponse } from './sim-errors.ts';

/**
 * POST /oauth2/v1/token for service apps: client_credentials with a private_key_jwt
 * assertion (docs/okta-api.md §6.2). Errors use the OAuth `{error, error_description}` form.
 */

export interface OAuthClientConfig {
  clientId: string;
  publicJwk: Record<string, unknown>;
  /** Scopes granted to the app; defaults to the four grantsweep needs. */
  scopes?: string[];
  /** "Require DPoP": token requests need a DPoP proof with the server's nonce, and tokens are DPoP-bound. */
  dpop?: boolean;
}

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512'];
const MAX_ASSERTION_LIFETIME_SEC = 3600;

interface Client {
  key: KeyObject;
  scopes: Set<string>;
  dpop: boolean;
}

export class TokenEndpoint {
  private readonly clients = new Map<string, Client>();
  /** Client assertions' jti values (per client, until the assertion expires): a replayed assertion is refused. */
  private readonly assertions = new ReplayGuard();
  /** DPoP proofs' jti values accepted here. */
  private readonly proofs = new ReplayGuard();

  constructor(
    clients: OAuthClientConfig[],
    private readonly auth: AuthRegistry,
    private readonly now: () => number,
    private readonly ttlSec: () => number,
  ) {
    for (const c of clients) {
      const key = createPublicKey({ key: c.publicJwk as import('node:crypto').JsonWebKey, format: 'jwk' });
      this.clients.set(c.clientId, { key, scopes: new Set(c.scopes ?? OKTA_SCOPES), dpop: c.dpop === true });
    }
  }

  /** The nonce a DPoP proof must carry at this endpoint (Okta rotates its nonces daily). */
  private readonly dpopNonce = `nonce-${randomBytes(12).toString('base64url')}`;

  /** `dpopProof`: the request's DPoP header (ignored for an app that does not require DPoP, as Okta does). */
  async handle(body: string, audience: string, dpopProof?: string | string[]): Promise<SimResponse> {
    const form = new URLSearchParams(body);
    if (form.get('grant_type') !== 'client_credentials') {
      return oauthError(400, 'unsupported_grant_type', 'The authorization grant type is not supported by the authorization server.');
    }
    const assertion = form.get('client_assertion');
    if (form.get('client_assertion_type') !== ASSERTION_TYPE || !assertion) {
      return oauthError(401, 'invalid_client', 'No client credentials found.');
    }
    let clientId: string | undefined;
    try {
      clientId = decodeJwt(assertion).iss;
    } catch {
      return oauthError(401, 'invalid_client', 'The client_assertion is not a valid JWT.');
    }
    const formClientId = form.get('client_id');
    const client = clientId ? this.clients.get(clientId) : undefined;
    if (!clientId || !client || (formClientId !== null && formClientId !== clientId)) {
      return oauthError(401, 'invalid_client', "Invalid value for 'client_id' parameter.");
    }
    let jkt: string | null = null;
    if (client.dpop) {
      const checked = checkDpopProof(Array.isArray(dpopProof) ? undefined : dpopProof, { htm: 'POST', htu: audience, nowMs: this.now(), nonce: this.dpopNonce });
      if (!checked.ok) {
        const res = oauthError(400, checked.error, checked.description);
        return checked.error === 'use_dpop_nonce' ? { ...res, headers: { 'DPoP-Nonce': this.dpopNonce } } : res;
      }
      if (this.proofs.seenBefore(checked.jti, this.now(), this.now() + PROOF_JTI_KEEP_MS)) return oauthError(400, 'invalid_dpop_proof', "The DPoP proof 'jti' has already been used.");
      jkt = checked.jkt;
    }
    const nowSec = Math.floor(this.now() / 1000);
    let exp: number;
    let jti: string | undefined;
    try {
      const { payload } = await jwtVerify(assertion, client.key, {
        audience,
        issuer: clientId,
        subject: clientId,
        algorithms: ALGORITHMS,
        requiredClaims: ['exp'],
        currentDate: new Date(this.now()),
      });
      exp = payload.exp ?? 0;
      jti = payload.jti;
    } catch (e) {
      return oauthError(401, 'invalid_client', assertionProblem(e));
    }
    if (exp - nowSec > MAX_ASSERTION_LIFETIME_SEC) {
      return oauthError(401, 'invalid_client', 'The client_assertion token has an expiration too far in the future.');
    }
    if (jti !== undefined) {
      if (this.assertions.seenBefore(`${clientId}:${jti}`, nowSec * 1000, exp * 1000)) {
        return oauthError(401, 'invalid_client', 'The client_assertion token has already been used.');
      }
    }
    const requested = (form.get('scope') ?? '').split(' ').filter(Boolean);
    if (requested.length === 0) return oauthError(400, 'invalid_scope', 'No scopes were requested.');
    const refused = requested.filter((s) => !client.scopes.has(s));
    if (refused.length) return oauthError(400, 'invalid_scope', `The following scopes are not allowed: ${refused.join(', ')}.`);
    const ttl = this.ttlSec();
    return json(
      200,
      { token_type: jkt ? 'DPoP' : 'Bearer', expires_in: ttl, access_token: this.auth.mint(clientId, requested, ttl, jkt), scope: requested.join(' ') },
      { 'Cache-Control': 'no-store', Pragma: 'no-cache' },
    );
  }
}

function assertionProblem(e: unknown): string {
  if (e instanceof joseErrors.JWTExpired) return 'The client_assertion token is expired.';
  if (e instanceof joseErrors.JWTClaimValidationFailed) return `The client_assertion claim '${e.claim}' is invalid.`;
  if (e instanceof joseErrors.JWSSignatureVerificationFailed) return 'The client_assertion signature is invalid.';
  return 'The client_assertion could not be verified.';
}

/** Route handler: the audience an assertion must name is this simulator's own token URL. */
export function handleToken(ctx: RequestCtx): Promise<SimResponse> {
  return ctx.sim.tokens.handle(ctx.body, `${ctx.sim.base}/oauth2/v1/token`, ctx.headers.dpop);
}
