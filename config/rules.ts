import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { readPrivateKey } from '../src/okta/private-key.ts';

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
    // Read to at most the bound: a pipe (`<(vault read …)`) is fine, a device that never ends (/dev/zero) is not a key.
    const fd = openSync(path, 'r');
    try {
      const buf = Buffer.alloc(MAX_KEY_FILE_BYTES + 1);
      let n = 0;
      for (let got; n < buf.length && (got = readSync(fd, buf, n, buf.length - n, null)) > 0; ) n += got;
      if (n > MAX_KEY_FILE_BYTES) return bad(`${path} gave more than ${MAX_KEY_FILE_BYTES} bytes; a private key file is a few KB`);
      return { text: buf.toString('utf8', 0, n) };
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return bad(code === 'ENOENT' ? `no such file: ${path}` : `cannot read ${path} (${code ?? 'error'})`);
  }
}

/** The key must be one Okta signs client assertions with (src/okta/private-key.ts, the one reader of keys). */
export function privateKeyParses(text: string, name: string): { kid: string | null } | { problem: Problem } {
  const r = readPrivateKey(text);
  return 'problem' in r ? { problem: { name, message: r.problem } } : { kid: r.kid };
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
