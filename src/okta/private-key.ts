import { createPrivateKey, type JsonWebKey, type KeyObject } from 'node:crypto';

/** The algorithms Okta verifies client assertions with, by key. */
export type SigningAlg = 'RS256' | 'ES256' | 'ES384' | 'ES512';

const CURVE_ALG: Record<string, SigningAlg> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' };

/** CI systems often store a PEM on one line with literal `\n`; turn those back into line breaks. */
export function unescapeKeyNewlines(text: string): string {
  return !text.includes('\n') && text.includes('\\n') ? text.replaceAll('\\n', '\n') : text;
}

/**
 * A private key as OKTA_PRIVATE_KEY (or its file) holds it: a PEM (PKCS#8, PKCS#1, SEC1) or a
 * private JWK, which must be one Okta signs client assertions with: RSA of 2048 bits or more
 * (RS256) or EC P-256/384/521 (ES256/384/512). The one reader of keys, for the configuration's
 * check and for the auth that signs with it. A problem describes the key, never quotes it
 * (parser errors can echo input); it reads after the key's name: "OKTA_PRIVATE_KEY <problem>".
 */
export function readPrivateKey(text: string): { key: KeyObject; kid: string | null; alg: SigningAlg } | { problem: string } {
  const body = unescapeKeyNewlines(typeof text === 'string' ? text : '').trim();
  let key: KeyObject;
  let kid: string | null = null;
  try {
    if (body.startsWith('{')) {
      const jwk = JSON.parse(body) as JsonWebKey & { kid?: unknown };
      if (typeof jwk !== 'object' || jwk === null || jwk.d === undefined) {
        return { problem: 'is a public JWK (it has no "d"); the private key is needed' };
      }
      kid = typeof jwk.kid === 'string' && jwk.kid !== '' ? jwk.kid : null;
      key = createPrivateKey({ key: jwk, format: 'jwk' });
    } else {
      if (/ENCRYPTED/.test(body)) return { problem: 'is an encrypted PEM; give the key unencrypted (PKCS#8 or PKCS#1)' };
      if (/-----BEGIN (PUBLIC KEY|RSA PUBLIC KEY|CERTIFICATE)-----/.test(body)) {
        return { problem: 'is a public key or certificate; the private key is needed' };
      }
      key = createPrivateKey({ key: body, format: 'pem' });
    }
  } catch {
    return { problem: 'does not parse as a PEM or JWK private key' };
  }
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') {
    const bits = details.modulusLength ?? 0;
    return bits >= 2048 ? { key, kid, alg: 'RS256' } : { problem: `is a ${bits}-bit RSA key; Okta requires at least 2048 bits` };
  }
  const alg = key.asymmetricKeyType === 'ec' ? CURVE_ALG[details.namedCurve ?? ''] : undefined;
  if (alg) return { key, kid, alg };
  const what = key.asymmetricKeyType === 'ec' ? `an EC key on ${details.namedCurve}` : `a ${key.asymmetricKeyType} key`;
  return { problem: `is ${what}; Okta accepts RSA (RS256/384/512) or EC P-256/P-384/P-521 (ES256/384/512) keys` };
}
