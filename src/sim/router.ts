import type { BucketName } from '../okta/types.ts';
import type { Handler } from './context.ts';
import * as grants from './handlers-grants.ts';
import * as rateLimits from './handlers-rate-limits.ts';
import * as users from './handlers-users.ts';
import { handleToken } from './token-endpoint.ts';

/**
 * The route table. Each template names the rate-limit bucket Okta would count it
 * in (docs/okta-api.md §4.2) and the OAuth scope each method needs.
 */

export interface MethodSpec {
  handler: Handler;
  /** OAuth scope required; null = no API auth (the token endpoint). */
  scope: string | null;
}

export interface Route {
  template: string;
  bucket: BucketName;
  methods: Record<string, MethodSpec>;
  segments: string[];
}

const READ = 'okta.users.read';
const MANAGE = 'okta.users.manage';

function route(template: string, bucket: BucketName, methods: Record<string, MethodSpec>): Route {
  return { template, bucket, methods, segments: template.split('/') };
}

const ROUTES: Route[] = [
  route('/api/v1/users', 'users-list', { GET: { handler: users.listUsers, scope: READ } }),
  route('/api/v1/users/{idOrLogin}', 'user-get', { GET: { handler: users.getUser, scope: READ } }),
  // UNCONFIRMED which bucket Okta counts the grants endpoints in; see options.ts DEFAULT_LIMITS.
  route('/api/v1/users/{userId}/grants', 'user-grants', {
    GET: { handler: grants.listGrants, scope: READ },
    DELETE: { handler: grants.revokeAllGrants, scope: MANAGE },
  }),
  route('/api/v1/users/{userId}/grants/{grantId}', 'user-grants', {
    GET: { handler: grants.getGrant, scope: READ },
    DELETE: { handler: grants.revokeGrant, scope: MANAGE },
  }),
  route('/api/v1/users/{userId}/clients', 'user-grants', { GET: { handler: grants.listClients, scope: READ } }),
  route('/api/v1/users/{userId}/clients/{clientId}/grants', 'user-grants', {
    GET: { handler: grants.listClientGrants, scope: READ },
    DELETE: { handler: grants.revokeClientGrants, scope: MANAGE },
  }),
  route('/api/v1/users/{userId}/clients/{clientId}/tokens', 'user-grants', {
    GET: { handler: grants.listClientTokens, scope: READ },
    DELETE: { handler: grants.revokeClientTokens, scope: MANAGE },
  }),
  route('/api/v1/groups/{groupId}/users', 'groups', { GET: { handler: users.listGroupUsers, scope: 'okta.groups.read' } }),
  route('/api/v1/apps/{appId}/users', 'apps', { GET: { handler: users.listAppUsers, scope: 'okta.apps.read' } }),
  route('/api/v1/principal-rate-limits', 'other', { GET: { handler: rateLimits.listPrincipalRateLimits, scope: 'okta.principalRateLimits.read' } }),
  route('/oauth2/v1/token', 'other', { POST: { handler: handleToken, scope: null } }),
];

export interface RouteMatch {
  route: Route;
  params: string[];
}

/** Matches a path (no query) against the table; path parameters come back URL-decoded. */
export function matchRoute(path: string): RouteMatch | null {
  const segs = path.split('/');
  for (const r of ROUTES) {
    if (r.segments.length !== segs.length) continue;
    const params: string[] = [];
    let ok = true;
    for (let i = 0; i < segs.length && ok; i++) {
      const want = r.segments[i] as string;
      const got = segs[i] as string;
      if (want.startsWith('{')) {
        if (got === '') ok = false;
        else {
          try {
            params.push(decodeURIComponent(got));
          } catch {
            ok = false;
          }
        }
      } else ok = want === got;
    }
    if (ok) return { route: r, params };
  }
  return null;
}

/** Bucket for a path no route matched: the narrowest family it falls under. */
export function bucketForUnknown(path: string): BucketName {
  if (path.startsWith('/api/v1/groups')) return 'groups';
  if (path.startsWith('/api/v1/apps')) return 'apps';
  return 'other';
}
