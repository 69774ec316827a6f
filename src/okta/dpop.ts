import { createHash, generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';

/**
 * DPoP proofs (RFC 9449) for a service app whose tokens Okta binds to a key: "Require
 * Demonstrating Proof of Possession" is on by default for new API Services apps.
 * The key pair is made here, once per process, and never leaves its memory: Okta
 * learns the public half from the proofs. Signed with node:crypto, synchronously,
 * because a DPoP-bound token needs a fresh proof on every API request.
 */
export class DpopProver {
  readonly #key: KeyObject;
  /** The proof's JOSE header, base64url, the same for every proof of this key. */
  readonly #header: string;

  constructor(private readonly now: () => number = Date.now) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const { kty, crv, x, y } = publicKey.export({ format: 'jwk' });
    this.#key = privateKey;
    this.#header = b64(JSON.stringify({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty, crv, x, y } }));
  }

  /**
   * A proof for one request. `url` loses its query and fragment (htu); `accessToken`
   * (API calls) adds its hash (ath); `nonce` is the server's latest DPoP-Nonce.
   */
  proof(method: string, url: string, opts: { accessToken?: string; nonce?: string | null } = {}): string {
    const u = new URL(url);
    const payload: Record<string, unknown> = {
      htm: method,
      htu: `${u.origin}${u.pathname}`,
      iat: Math.floor(this.now() / 1000),
      jti: randomUUID(),
    };
    if (opts.nonce) payload.nonce = opts.nonce;
    if (opts.accessToken !== undefined) payload.ath = createHash('sha256').update(opts.accessToken).digest('base64url');
    const input = `${this.#header}.${b64(JSON.stringify(payload))}`;
    const signature = sign('sha256', Buffer.from(input), { key: this.#key, dsaEncoding: 'ieee-p1363' });
    return `${input}.${signature.toString('base64url')}`;
  }

  toJSON() {
    return { kind: 'dpop' };
  }
}

const b64 = (s: string) => Buffer.from(s).toString('base64url');

/** The server's DPoP-Nonce, if a response carries one (a header may arrive as a list). */
export function dpopNonceOf(headers: Record<string, string | string[] | undefined>): string | null {
  const v = headers['dpop-nonce'];
  const s = Array.isArray(v) ? v[0] : v;
  return s ? s : null;
}

/** Whether a 401 from a resource server asks for a proof with its nonce (RFC 9449 §9). */
export function asksForDpopNonce(headers: Record<string, string | string[] | undefined>): boolean {
  const v = headers['www-authenticate'];
  const s = Array.isArray(v) ? v.join(', ') : v ?? '';
  return /use_dpop_nonce/.test(s) && dpopNonceOf(headers) !== null;
}
