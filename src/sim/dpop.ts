import { createHash, createPublicKey, verify } from 'node:crypto';

/**
 * Checks a DPoP proof (RFC 9449 §4.3) the way the org authorization server and the
 * Okta API do for a DPoP-bound service app: a `dpop+jwt` signed by the public key in
 * its own header, for this method and URL, recent, with the server's nonce where one
 * is required and the access token's hash on API calls. Synchronous (node:crypto),
 * since the API's auth check runs before every handler.
 */

const HASH: Record<string, { hash: string; ec: boolean }> = {
  ES256: { hash: 'sha256', ec: true },
  ES384: { hash: 'sha384', ec: true },
  ES512: { hash: 'sha512', ec: true },
  RS256: { hash: 'sha256', ec: false },
  RS384: { hash: 'sha384', ec: false },
  RS512: { hash: 'sha512', ec: false },
};
/** How far a proof's iat may be from the server's clock. */
const IAT_WINDOW_SEC = 300;
/** How long a proof's jti is remembered against replay: as long as its iat could pass. */
export const PROOF_JTI_KEEP_MS = 2 * IAT_WINDOW_SEC * 1000;

export interface ProofCheck {
  htm: string;
  /** The request's URL without query or fragment. */
  htu: string;
  nowMs: number;
  /** Required nonce, when the server asks for one. */
  nonce?: string;
  /** The access token the proof must be bound to (API calls). */
  accessToken?: string;
}

export type ProofResult = { ok: true; jkt: string; jti: string } | { ok: false; error: 'invalid_dpop_proof' | 'use_dpop_nonce'; description: string };

const fail = (description: string): ProofResult => ({ ok: false, error: 'invalid_dpop_proof', description });

export function checkDpopProof(proof: string | undefined, c: ProofCheck): ProofResult {
  if (!proof) return fail('The DPoP proof JWT header is missing.');
  const parts = proof.split('.');
  if (parts.length !== 3) return fail('The DPoP proof JWT is malformed.');
  let header: { typ?: unknown; alg?: unknown; jwk?: Record<string, unknown> };
  let payload: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8'));
    payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
  } catch {
    return fail('The DPoP proof JWT is malformed.');
  }
  const alg = typeof header.alg === 'string' ? HASH[header.alg] : undefined;
  if (header.typ !== 'dpop+jwt' || !alg || !header.jwk || typeof header.jwk !== 'object') {
    return fail("The DPoP proof JWT header must have typ 'dpop+jwt', an asymmetric alg and a jwk.");
  }
  if ('d' in header.jwk) return fail('The DPoP proof jwk must not contain a private key.');
  let valid = false;
  try {
    const key = createPublicKey({ key: header.jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
    valid = verify(alg.hash, Buffer.from(`${parts[0]}.${parts[1]}`), alg.ec ? { key, dsaEncoding: 'ieee-p1363' } : key, Buffer.from(parts[2]!, 'base64url'));
  } catch {
    valid = false;
  }
  if (!valid) return fail('The DPoP proof signature is invalid.');
  if (payload.htm !== c.htm) return fail("The DPoP proof 'htm' does not match the request method.");
  if (payload.htu !== c.htu) return fail("The DPoP proof 'htu' does not match the request URL.");
  const iat = payload.iat;
  if (typeof iat !== 'number' || Math.abs(iat - c.nowMs / 1000) > IAT_WINDOW_SEC) return fail("The DPoP proof 'iat' is missing or too far from now.");
  if (typeof payload.jti !== 'string' || payload.jti === '') return fail("The DPoP proof 'jti' is missing.");
  if (c.accessToken !== undefined && payload.ath !== createHash('sha256').update(c.accessToken).digest('base64url')) {
    return fail("The DPoP proof 'ath' does not match the access token.");
  }
  if (c.nonce !== undefined && payload.nonce !== c.nonce) {
    return { ok: false, error: 'use_dpop_nonce', description: 'Authorization server requires nonce in DPoP proof.' };
  }
  return { ok: true, jkt: thumbprint(header.jwk), jti: payload.jti };
}

/** RFC 7638: the SHA-256 of the key's required members, in lexicographic order. */
export function thumbprint(jwk: Record<string, unknown>): string {
  const members = jwk.kty === 'EC' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : { e: jwk.e, kty: jwk.kty, n: jwk.n };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}
