import { createPrivateKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';

/**
 * Cross-field rules: each is a small named function that returns the problems it found,
 * so load.ts can report every one of them at once. A problem names the variable or flag;
 * its message never contains a secret.
 */
export interface Problem {
  name: string;
  message: string;
}

/** The credential variables, trimmed, with empty ones already dropped. */
export interface CredentialEnv {
  OKTA_API_TOKEN?: string | undefined;
  OKTA_CLIENT_ID?: string | undefined;
  OKTA_PRIVATE_KEY?: string | undefined;
  OKTA_PRIVATE_KEY_FILE?: string | undefined;
  OKTA_KEY_ID?: string | undefined;
}

/** An API token, or a service app's client id with its key (given one way): exactly one of the two. */
export function credentialsExactlyOneWay(env: CredentialEnv): Problem[] {
  const token = env.OKTA_API_TOKEN !== undefined;
  const client = env.OKTA_CLIENT_ID !== undefined;
  const keys = (['OKTA_PRIVATE_KEY', 'OKTA_PRIVATE_KEY_FILE'] as const).filter((k) => env[k] !== undefined);
  if (!token && !client && keys.length === 0) {
    return [{ name: 'OKTA_API_TOKEN or OKTA_CLIENT_ID with OKTA_PRIVATE_KEY/OKTA_PRIVATE_KEY_FILE', message: 'one is required' }];
  }
  if (token && (client || keys.length > 0)) {
    const oauth = [...(client ? ['OKTA_CLIENT_ID'] : []), ...keys];
    return [{ name: ['OKTA_API_TOKEN', ...oauth].join(', '), message: 'both ways to authenticate are set; keep the API token or the service app, not both' }];
  }
  if (token) return [];
  const problems: Problem[] = [];
  if (keys.length === 2) problems.push({ name: keys.join(', '), message: 'both are set; give the private key one way' });
  if (client && keys.length === 0) problems.push({ name: 'OKTA_PRIVATE_KEY or OKTA_PRIVATE_KEY_FILE', message: 'required with OKTA_CLIENT_ID' });
  if (!client && keys.length > 0) problems.push({ name: 'OKTA_CLIENT_ID', message: `required with ${keys.join(' and ')}` });
  return problems;
}

/** Real key files are a few KB; refusing big ones keeps a wrong path (a log, a disk image) out of memory. */
const MAX_KEY_FILE_BYTES = 64 * 1024;

export function readPrivateKeyFile(path: string): { text: string } | { problem: Problem } {
  const bad = (message: string) => ({ problem: { name: 'OKTA_PRIVATE_KEY_FILE', message } });
  try {
    const stats = statSync(path);
    if (stats.isDirectory()) return bad(`${path} is a directory, not a key file`);
    if (stats.size > MAX_KEY_FILE_BYTES) return bad(`${path} is ${stats.size} bytes; a private key file is a few KB`);
    return { text: readFileSync(path, 'utf8') };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return bad(code === 'ENOENT' ? `no such file: ${path}` : `cannot read ${path} (${code ?? 'error'})`);
  }
}

/** CI systems often store a PEM on one line with literal `\n`; turn those back into line breaks. */
export function unescapeKeyNewlines(text: string): string {
  return !text.includes('\n') && text.includes('\\n') ? text.replaceAll('\\n', '\n') : text;
}

const EC_CURVES = new Set(['prime256v1', 'secp384r1', 'secp521r1']);

/**
 * The key must load with node:crypto (PEM, or JWK via `format: 'jwk'`) and be one Okta
 * signs client assertions with: RSA of 2048 bits or more (RS256/384/512) or EC P-256/384/521
 * (ES256/384/512). Messages describe the key, never quote it (parser errors can echo input).
 */
export function privateKeyParses(text: string, name: string): { kid: string | null } | { problem: Problem } {
  const bad = (message: string) => ({ problem: { name, message } });
  const body = text.trim();
  let key: KeyObject;
  let kid: string | null = null;
  try {
    if (body.startsWith('{')) {
      const jwk = JSON.parse(body) as JsonWebKey & { kid?: unknown };
      if (typeof jwk !== 'object' || jwk === null || jwk.d === undefined) {
        return bad('is a public JWK (it has no "d"); the private key is needed');
      }
      kid = typeof jwk.kid === 'string' && jwk.kid !== '' ? jwk.kid : null;
      key = createPrivateKey({ key: jwk, format: 'jwk' });
    } else {
      if (/ENCRYPTED/.test(body)) return bad('is an encrypted PEM; give the key unencrypted (PKCS#8 or PKCS#1)');
      if (/-----BEGIN (PUBLIC KEY|RSA PUBLIC KEY|CERTIFICATE)-----/.test(body)) {
        return bad('is a public key or certificate; the private key is needed');
      }
      key = createPrivateKey({ key: body, format: 'pem' });
    }
  } catch {
    return bad('does not parse as a PEM or JWK private key');
  }
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') {
    const bits = details.modulusLength ?? 0;
    return bits >= 2048 ? { kid } : bad(`is a ${bits}-bit RSA key; Okta requires at least 2048 bits`);
  }
  if (key.asymmetricKeyType === 'ec' && EC_CURVES.has(details.namedCurve ?? '')) return { kid };
  const what = key.asymmetricKeyType === 'ec' ? `an EC key on ${details.namedCurve}` : `a ${key.asymmetricKeyType} key`;
  return bad(`is ${what}; Okta accepts RSA (RS256/384/512) or EC P-256/P-384/P-521 (ES256/384/512) keys`);
}

/** OKTA_KEY_ID and the JWK's own kid must agree: Okta picks the verifying key by kid. */
export function keyIdMatchesJwk(keyId: string | undefined, jwkKid: string | null): Problem[] {
  if (keyId === undefined || jwkKid === null || keyId === jwkKid) return [];
  return [{ name: 'OKTA_KEY_ID', message: `"${keyId}" differs from the JWK's kid "${jwkKid}"; unset one of them` }];
}

const OKTA_DOMAINS = /^(.+)-admin\.(okta|oktapreview|okta-emea|okta-gov|trexcloud)\.com$/;

/** `acme-admin.okta.com` is the Admin Console; the API lives at `acme.okta.com`. */
export function orgUrlNotAdminConsole(orgUrl: string | null, name: string): Problem[] {
  if (orgUrl === null) return [];
  const u = new URL(orgUrl);
  const m = OKTA_DOMAINS.exec(u.hostname);
  if (!m) return [];
  return [{ name, message: `is the Admin Console URL; use the org URL ${u.protocol}//${m[1]}.${m[2]}.com` }];
}

/** Settings a command cannot run without (status needs Redis only; run needs Okta too). */
export function requiredForCommand(present: boolean, name: string, expected: string): Problem[] {
  return present ? [] : [{ name, message: `required for this command; expected ${expected}` }];
}
