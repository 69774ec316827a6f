import type { AppUser, Grant, OAuthClientRef, OktaUser, RefreshToken } from '../okta/types.ts';
import { isOrgScope, scopeInfo } from './org-data.ts';
import type { GrantSlot, SimOrg, TokenSlot, UserFacts } from './org.ts';

/** JSON shapes exactly as Okta's Management API writes them (docs/okta-api.md §1.3, §1.4, §5.3). */

export const iso = (ms: number): string => new Date(ms).toISOString();

const ORG_AS = 0;
const CUSTOM_AS = 1;

/**
 * A grant's `scopeId` as Okta writes it (docs/okta-api.md §1.3): the scope's name for an Okta API
 * scope (`okta.users.read`), the scope object's id (`scp…`) for a custom authorization server's.
 */
export function grantScopeId(org: SimOrg, scope: number): string {
  const name = org.scopes[scope] ?? 'openid';
  return isOrgScope(name) ? name : org.ids.scope.encode(scope);
}

export function renderGrant(org: SimOrg, base: string, user: UserFacts, g: GrantSlot, expandScope: boolean): Grant {
  const id = org.grantId(g);
  const clientId = org.ids.client.encode(g.client);
  const name = org.scopes[g.scope] ?? 'openid';
  const scopeId = grantScopeId(org, g.scope);
  const orgScope = isOrgScope(name);
  const ausId = org.ids.authServer.encode(orgScope ? ORG_AS : CUSTOM_AS);
  const appTitle = org.clientName(g.client);
  const info = scopeInfo(name);
  const grant: Grant = {
    id,
    status: 'ACTIVE',
    created: iso(g.created),
    lastUpdated: iso(g.created),
    createdBy: { id: user.id, type: 'User' },
    issuer: orgScope ? base : `${base}/oauth2/${ausId}`,
    clientId,
    userId: user.id,
    scopeId,
    source: 'END_USER',
  };
  // Both shapes Okta has documented for the embedded scope (docs/okta-api.md §1.3, UNCONFIRMED which is current).
  if (expandScope) grant._embedded = { scope: { id: scopeId, name, ...info } };
  grant._links = {
    self: { href: `${base}/api/v1/users/${user.id}/grants/${id}`, hints: { allow: ['GET', 'DELETE'] } },
    app: { href: `${base}/api/v1/apps/${clientId}`, title: appTitle },
    client: { href: `${base}/oauth2/v1/clients/${clientId}`, title: appTitle },
    scope: { href: `${base}/api/v1/authorizationServers/${ausId}/scopes/${org.ids.scope.encode(g.scope)}`, title: info.displayName },
    user: { href: `${base}/api/v1/users/${user.id}`, title: `${user.firstName} ${user.lastName}` },
    authorizationServer: { href: `${base}/api/v1/authorizationServers/${ausId}`, title: orgScope ? 'Okta Org Authorization Server' : 'default' },
  };
  return grant;
}

export function renderUser(org: SimOrg, base: string, u: UserFacts): OktaUser {
  return {
    id: u.id,
    status: u.status,
    created: iso(u.created),
    activated: u.status === 'STAGED' ? null : iso(u.created),
    statusChanged: iso(u.lastUpdated),
    lastLogin: u.status === 'ACTIVE' ? iso(u.lastUpdated) : null,
    lastUpdated: iso(u.lastUpdated),
    passwordChanged: u.status === 'STAGED' ? null : iso(u.created),
    type: { id: org.ids.userType.encode(0) },
    profile: {
      firstName: u.firstName,
      lastName: u.lastName,
      mobilePhone: null,
      secondEmail: null,
      login: u.login,
      email: u.login,
      department: u.department,
    },
    credentials: { provider: { type: 'OKTA', name: 'OKTA' } },
    _links: { self: { href: `${base}/api/v1/users/${u.id}` } },
  } as OktaUser;
}

export function renderToken(org: SimOrg, base: string, userId: string, t: TokenSlot): RefreshToken {
  const id = org.tokenId(t);
  const clientId = org.ids.client.encode(t.client);
  return {
    id,
    status: 'ACTIVE',
    created: iso(t.created),
    expiresAt: null,
    clientId,
    userId,
    scopes: ['offline_access'],
    _links: {
      self: { href: `${base}/api/v1/users/${userId}/clients/${clientId}/tokens/${id}` },
      revoke: { href: `${base}/api/v1/users/${userId}/clients/${clientId}/tokens/${id}`, hints: { allow: ['DELETE'] } },
      client: { href: `${base}/oauth2/v1/clients/${clientId}`, title: org.clientName(t.client) },
    },
  };
}

export function renderClient(org: SimOrg, base: string, userId: string, client: number): OAuthClientRef {
  const clientId = org.ids.client.encode(client);
  return {
    client_id: clientId,
    client_name: org.clientName(client),
    client_uri: null,
    logo_uri: null,
    _links: {
      app: { href: `${base}/api/v1/apps/${clientId}`, title: org.clientName(client) },
      grants: { href: `${base}/api/v1/users/${userId}/clients/${clientId}/grants` },
      tokens: { href: `${base}/api/v1/users/${userId}/clients/${clientId}/tokens` },
    },
  };
}

export function renderAppUser(org: SimOrg, base: string, appId: string, u: UserFacts, expandUser: boolean): AppUser {
  const appUser: AppUser & Record<string, unknown> = {
    id: u.id,
    externalId: null,
    created: iso(u.created),
    lastUpdated: iso(u.lastUpdated),
    scope: 'USER',
    status: u.status === 'ACTIVE' ? 'ACTIVE' : 'INACTIVE',
    statusChanged: iso(u.lastUpdated),
    syncState: 'DISABLED',
    credentials: { userName: u.login },
    profile: {},
    _links: { app: { href: `${base}/api/v1/apps/${appId}` }, user: { href: `${base}/api/v1/users/${u.id}` } },
  };
  if (expandUser) appUser._embedded = { user: renderUser(org, base, u) };
  return appUser;
}
