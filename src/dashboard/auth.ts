import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

/**
 * Who may use the dashboard. Its buttons revoke grants again (retry) and stop runs (cancel),
 * and its reports list users: anyone who can reach it must either be on this machine
 * (a loopback bind) or hold its token.
 */

export const TOKEN_ENV = 'GRANTSWEEP_DASHBOARD_TOKEN';
export const MIN_TOKEN_LENGTH = 16;
export const COOKIE_NAME = 'grantsweep_dashboard';

/** 127.0.0.0/8, ::1 (and its IPv4-mapped form), `localhost`. Any other name may resolve anywhere. */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) {
    // The URL parser writes every spelling of an address one way: 0:0::1 → [::1].
    const canonical = new URL(`http://[${h}]/`).hostname;
    return canonical === '[::1]' || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(canonical);
  }
  return false;
}

export interface BindRule {
  /** Whether requests must carry the token (a token, once given, is always checked). */
  tokenRequired: boolean;
  /** Why the dashboard must not start, or null. */
  problem: string | null;
}

/**
 * The rule the dashboard starts by: bound to a loopback address it may run open; bound
 * anywhere else (or with `requireToken`) it refuses to start without a token.
 */
export function bindRule(opts: { host: string; token: string | null; requireToken?: boolean }): BindRule {
  const token = opts.token;
  if (token !== null && token.length < MIN_TOKEN_LENGTH) {
    return { tokenRequired: true, problem: `${TOKEN_ENV}: expected at least ${MIN_TOKEN_LENGTH} characters (try \`openssl rand -hex 32\`), got ${token.length}` };
  }
  const loopback = isLoopbackHost(opts.host);
  if (token === null && (!loopback || opts.requireToken)) {
    const why = opts.requireToken ? '--require-token was given' : `--host ${opts.host} is not a loopback address: anyone who can reach it could retry and cancel runs`;
    return { tokenRequired: true, problem: `${why}; set ${TOKEN_ENV} to a secret of at least ${MIN_TOKEN_LENGTH} characters` };
  }
  return { tokenRequired: token !== null, problem: null };
}

/** Constant-time comparison, whatever the lengths (both sides are hashed to 32 bytes first). */
export function safeEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The cookie holds a value derived from the token, not the token itself. */
export function cookieValueFor(token: string): string {
  return createHmac('sha256', token).update('grantsweep dashboard session').digest('base64url');
}

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    const name = part.slice(0, i).trim();
    const value = part.slice(i + 1).trim();
    if (name && !out.has(name)) out.set(name, value);
  }
  return out;
}

export type Credential = 'bearer' | 'cookie' | 'none';

/** How a request proved it holds the token; `none` when it did not. */
export function credentialOf(token: string, headers: { authorization?: string | undefined; cookie?: string | undefined }): Credential {
  const auth = headers.authorization ?? '';
  const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
  if (m && safeEqual(m[1]!, token)) return 'bearer';
  const cookie = parseCookies(headers.cookie).get(COOKIE_NAME);
  if (cookie !== undefined && safeEqual(cookie, cookieValueFor(token))) return 'cookie';
  return 'none';
}

/**
 * The hosts a browser may name in its Host header when the dashboard runs without a token
 * on loopback: anything else is a DNS-rebinding page pretending to be same-origin.
 */
export function hostHeaderIsLoopback(hostHeader: string | undefined): boolean {
  if (!hostHeader) return false;
  try {
    return isLoopbackHost(new URL(`http://${hostHeader}/`).hostname);
  } catch {
    return false;
  }
}

/**
 * The CSRF guard for state-changing requests from a browser: the Origin (or, without
 * one, the Referer) must name the host the request was sent to. A request without
 * either is refused: every current browser sends Origin on a POST.
 */
export function sameOrigin(headers: { origin?: string | undefined; referer?: string | undefined; host?: string | undefined }): boolean {
  const host = headers.host;
  if (!host) return false;
  const source = headers.origin ?? headers.referer;
  if (!source || source === 'null') return false;
  try {
    const from = new URL(source);
    // Parsed with the source's scheme, so that a default port written out (":443") compares equal.
    return from.host === new URL(`${from.protocol}//${host}`).host;
  } catch {
    return false;
  }
}
