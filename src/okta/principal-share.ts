import type { ProxySettings } from './http.ts';
import type { OktaAuth } from './auth.ts';
import { OktaApiError } from './errors.ts';

/** The scope a service app needs to read its own principal rate limit. */
export const PRINCIPAL_LIMITS_SCOPE = 'okta.principalRateLimits.read';

/** `refused`: the app may not read it (the token endpoint or the API said no). */
/** `none`: the app has no entry, and Okta's default applies. */
export type PrincipalShare = { percent: number } | { unknown: string; refused?: true; none?: true };

/**
 * The share of every bucket an admin gave this service app (its principal rate limit,
 * docs/okta-api.md §4.4), read once with a token of its own scope: an app not granted
 * okta.principalRateLimits.read gets `unknown`, and its runs' real token is untouched.
 * An app with no entity is `unknown` too: Okta's default (50 %) is then learned from the
 * first 429 that comes while the bucket has room (release-3.lua), not assumed.
 */
export async function readPrincipalShare(o: { orgUrl: string; clientId: string; auth: OktaAuth; proxy?: ProxySettings | null; timeoutMs: number }): Promise<PrincipalShare> {
  const { OktaClient } = await import('./client.ts');
  const client = new OktaClient({ orgUrl: o.orgUrl, auth: o.auth, timeoutMs: o.timeoutMs, proxy: o.proxy, readAttempts: 2 });
  try {
    for await (const e of client.listPrincipalRateLimits('OAUTH_CLIENT')) {
      if (e.principalId === o.clientId && Number.isFinite(e.defaultPercentage) && e.defaultPercentage > 0) return { percent: Math.min(100, e.defaultPercentage) };
    }
    return { unknown: 'no principal rate limit is set for this app (Okta applies its default, 50 %)', none: true };
  } catch (err) {
    // 401/403 at the API, or the token endpoint refusing the scope.
    const refused = err instanceof OktaApiError && (err.status === 401 || err.status === 403 || err.errorCode === 'invalid_scope');
    return refused ? { unknown: `the app may not read it (grant it ${PRINCIPAL_LIMITS_SCOPE})`, refused: true } : { unknown: (err as Error).message.split('\n')[0]!.slice(0, 160) };
  } finally {
    // The token request's own socket too: left open, it would hold the command's exit.
    await client.close();
    await o.auth.close?.();
  }
}
