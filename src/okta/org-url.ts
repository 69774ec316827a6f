import { UsageError } from '../errors.ts';

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * The org's origin (`https://example.okta.com`). Credentials go to this origin only, so
 * plain http is allowed just for a simulator on this machine.
 */
export function parseOrgUrl(orgUrl: string): URL {
  let u: URL;
  try {
    u = new URL(orgUrl);
  } catch {
    throw new UsageError(`OKTA_ORG_URL is not a URL: expected https://<your-org>.okta.com`);
  }
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && LOOPBACK.has(u.hostname))) {
    throw new UsageError(
      `OKTA_ORG_URL must use https:// (http:// is allowed only for localhost, 127.0.0.1 or [::1]), got ${u.protocol}//${u.host}`,
    );
  }
  if (u.username || u.password) throw new UsageError('OKTA_ORG_URL must not contain a user name or password');
  if ((u.pathname !== '/' && u.pathname !== '') || u.search || u.hash) {
    throw new UsageError(`OKTA_ORG_URL must be the org's origin only (like https://example.okta.com), got a path or query`);
  }
  return new URL(u.origin);
}
