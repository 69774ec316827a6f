import type { RequestCtx } from './context.ts';
import type { GrantSlot } from './org.ts';
import { badCursor, decodeCursor, linkHeader, parseLimit } from './pagination.ts';
import { grantScopeId, renderClient, renderGrant, renderToken } from './render.ts';
import { json, noContent, notFound, type SimResponse } from './sim-errors.ts';

/** /api/v1/users/{userId}/grants… and /clients…, grants and refresh tokens (docs/okta-api.md §1). */

const GRANT_LIMIT = { def: 20, max: 200 };

/**
 * Grants paths take a user id only. Whether Okta also accepts a login there is
 * UNCONFIRMED; refusing it makes clients resolve logins first, which works either way.
 * `me` is refused too: an SSWS token's owner is not a simulated user.
 */
function userIndex(ctx: RequestCtx): number | SimResponse {
  const id = ctx.params[0] as string;
  const i = ctx.sim.org.userIndexById(id);
  return i < 0 ? notFound(id, 'User') : i;
}

function grantPage(ctx: RequestCtx, i: number, grants: GrantSlot[]): SimResponse {
  const limit = parseLimit(ctx.query.get('limit'), GRANT_LIMIT);
  if (typeof limit !== 'number') return limit;
  const after = decodeCursor(ctx.query.get('after'));
  if (after === null) return badCursor();
  const rest = grants.filter((g) => g.slot > after);
  const page = rest.slice(0, limit);
  const next = rest.length > limit ? (page[page.length - 1]?.slot ?? null) : null;
  const { org, base } = ctx.sim;
  const user = org.user(i);
  const expand = ctx.query.get('expand') === 'scope';
  const body = page.map((g) => renderGrant(org, base, user, g, expand));
  return json(200, body, { Link: linkHeader(base, ctx.path, ctx.query, next, ctx.sim.config().linkStyle) });
}

export function listGrants(ctx: RequestCtx): SimResponse {
  const i = userIndex(ctx);
  if (typeof i !== 'number') return i;
  const scopeId = ctx.query.get('scopeId');
  let grants = ctx.sim.org.activeGrants(i);
  // Okta filters on the grant's scopeId: a custom scope's id (scp…), not its name.
  if (scopeId !== null) grants = grants.filter((g) => grantScopeId(ctx.sim.org, g.scope) === scopeId);
  return grantPage(ctx, i, grants);
}

export function getGrant(ctx: RequestCtx): SimResponse {
  const i = userIndex(ctx);
  if (typeof i !== 'number') return i;
  const grantId = ctx.params[1] as string;
  const g = ctx.sim.org.findGrant(i, grantId);
  // UNCONFIRMED: the type name Okta puts in this 404 (docs/okta-api.md §2.2).
  if (!g) return notFound(grantId, 'OAuth2ScopeConsentGrant');
  const { org, base } = ctx.sim;
  return json(200, renderGrant(org, base, org.user(i), g, ctx.query.get('expand') === 'scope'));
}

/** A revoked grant is gone: a second DELETE answers 404 (UNCONFIRMED; clients treat it as done). */
export function revokeGrant(ctx: RequestCtx): SimResponse {
  const i = userIndex(ctx);
  if (typeof i !== 'number') return i;
  const grantId = ctx.params[1] as string;
  const g = ctx.sim.org.findGrant(i, grantId);
  if (!g) return notFound(grantId, 'OAuth2ScopeConsentGrant');
  ctx.sim.org.revoke([g.key]);
  return noContent();
}

export function revokeAllGrants(ctx: RequestCtx): SimResponse {
  const i = userIndex(ctx);
  if (typeof i !== 'number') return i;
  ctx.sim.org.revoke(ctx.sim.org.activeGrants(i).map((g) => g.key));
  return noContent();
}

function clientGrants(ctx: RequestCtx, i: number): GrantSlot[] {
  const client = ctx.sim.org.ids.client.decode(ctx.params[1] as string);
  // An unknown client id simply has no grants (UNCONFIRMED whether Okta answers 404 instead).
  return client < 0 ? [] : ctx.sim.org.activeGrants(i).filter((g) => g.client === client);
}

export function listClientGrants(ctx: RequestCtx): SimResponse {
  const i = userIndex(ctx);
  if (typeof i !== 'number') return i;
  return grantPage(ctx, i, clientGrants(ctx, i));
}

export function revokeClientGrants(ctx: RequestCtx): SimResponse {
  const i = userIndex(ctx);
  if (typeof i !== 'number') return i;
  ctx.sim.org.revoke(clientGrants(ctx, i).map((g) => g.key));
  return noContent();
}

/** Clients the user holds active grants or refresh tokens for; no pagination. */
export function listClients(ctx: RequestCtx): SimResponse {
  const i = userIndex(ctx);
  if (typeof i !== 'number') return i;
  const { org, base } = ctx.sim;
  const userId = ctx.params[0] as string;
  const clients = [...new Set([...org.activeGrants(i).map((g) => g.client), ...org.activeTokens(i).map((t) => t.client)])];
  return json(200, clients.map((c) => renderClient(org, base, userId, c)));
}

function clientTokens(ctx: RequestCtx, i: number) {
  const client = ctx.sim.org.ids.client.decode(ctx.params[1] as string);
  return client < 0 ? [] : ctx.sim.org.activeTokens(i).filter((t) => t.client === client);
}

/** A user's refresh tokens for one client (at most one here, so one page; `limit` is checked). */
export function listClientTokens(ctx: RequestCtx): SimResponse {
  const i = userIndex(ctx);
  if (typeof i !== 'number') return i;
  const limit = parseLimit(ctx.query.get('limit'), GRANT_LIMIT);
  if (typeof limit !== 'number') return limit;
  const { org, base } = ctx.sim;
  return json(200, clientTokens(ctx, i).slice(0, limit).map((t) => renderToken(org, base, ctx.params[0] as string, t)));
}

export function revokeClientTokens(ctx: RequestCtx): SimResponse {
  const i = userIndex(ctx);
  if (typeof i !== 'number') return i;
  ctx.sim.org.revokeTokens(clientTokens(ctx, i));
  return noContent();
}
