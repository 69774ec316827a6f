import type { RequestCtx } from './context.ts';
import type { UserFacts } from './org.ts';
import { badCursor, decodeCursor, linkHeader, parseLimit, type LimitRule } from './pagination.ts';
import { renderAppUser, renderUser } from './render.ts';
import { compileQuery, SearchError, type CompiledQuery } from './search.ts';
import { invalidSearch, json, notFound, type SimResponse } from './sim-errors.ts';

/** Directory endpoints: get user, list/search users, group members, app users (docs/okta-api.md §5). */

/** `me` is the token owner, who is not a simulated user, so it answers 404 like any unknown login. */
export function getUser(ctx: RequestCtx): SimResponse {
  const { org, base } = ctx.sim;
  const value = ctx.params[0] as string;
  let i = org.userIndexById(value);
  if (i < 0) i = org.userIndexByLogin(value);
  return i < 0 ? notFound(value, 'User') : json(200, renderUser(org, base, org.user(i)));
}

/** Walks indices after the cursor, keeping `limit + 1` hits so we know whether a next page exists. */
function page(
  ctx: RequestCtx,
  rule: LimitRule,
  nextIndex: (from: number) => number,
  keep: (i: number) => UserFacts | null,
  render: (u: UserFacts) => unknown,
): SimResponse {
  const limit = parseLimit(ctx.query.get('limit'), rule);
  if (typeof limit !== 'number') return limit;
  const after = decodeCursor(ctx.query.get('after'));
  if (after === null) return badCursor();
  const hits: UserFacts[] = [];
  for (let i = nextIndex(after + 1); i >= 0 && i < ctx.sim.org.userCount && hits.length <= limit; i = nextIndex(i + 1)) {
    const u = keep(i);
    if (u) hits.push(u);
  }
  const shown = hits.slice(0, limit);
  const next = hits.length > limit ? (shown[shown.length - 1]?.index ?? null) : null;
  const { base } = ctx.sim;
  return json(200, shown.map(render), { Link: linkHeader(base, ctx.path, ctx.query, next, ctx.sim.config().linkStyle) });
}

const identity = (i: number) => i;

export function listUsers(ctx: RequestCtx): SimResponse {
  const { org, base } = ctx.sim;
  const q = ctx.query.get('q');
  if (q !== null) return quickSearch(ctx, q);
  const queries: CompiledQuery[] = [];
  for (const mode of ['search', 'filter'] as const) {
    const expr = ctx.query.get(mode);
    if (expr === null) continue;
    try {
      queries.push(compileQuery(expr, mode));
    } catch (e) {
      if (e instanceof SearchError) return invalidSearch(e.message);
      throw e;
    }
  }
  const render = (u: UserFacts) => renderUser(org, base, u);
  const rule = { def: 200, max: 200, clamp: true };
  // Without a query Okta hides DEPROVISIONED users; with search or filter it shows them.
  if (queries.length === 0) {
    return page(ctx, rule, identity, (i) => (org.statusOf(i) === 'DEPROVISIONED' ? null : org.user(i)), render);
  }
  const matches = (u: UserFacts) => queries.every((qq) => qq.test(u));
  const exact = queries.length === 1 ? queries[0]?.exact : undefined;
  if (exact) {
    // One id or login: look it up instead of scanning a million users.
    const hit = exact.attr === 'id' ? org.userIndexById(exact.value) : org.userIndexByLogin(exact.value);
    const only = (from: number) => (hit >= from ? hit : -1);
    return page(ctx, rule, only, (i) => (matches(org.user(i)) ? org.user(i) : null), render);
  }
  return page(ctx, rule, identity, (i) => {
    const u = org.user(i);
    return matches(u) ? u : null;
  }, render);
}

/** `q`: prefix match on first name, last name or email; no pagination, DEPROVISIONED hidden. */
function quickSearch(ctx: RequestCtx, q: string): SimResponse {
  const { org, base } = ctx.sim;
  const limit = parseLimit(ctx.query.get('limit'), { def: 10, max: 200, clamp: true });
  if (typeof limit !== 'number') return limit;
  const prefix = q.toLowerCase();
  const out: unknown[] = [];
  for (let i = 0; i < org.userCount && out.length < limit; i++) {
    if (org.statusOf(i) === 'DEPROVISIONED') continue;
    const u = org.user(i);
    if ([u.firstName, u.lastName, u.login].some((v) => v.toLowerCase().startsWith(prefix))) out.push(renderUser(org, base, u));
  }
  return json(200, out, { Link: linkHeader(base, ctx.path, ctx.query, null, ctx.sim.config().linkStyle) });
}

/** Group members, every status. Okta's default limit is 1000; we also cap there (max UNCONFIRMED). */
export function listGroupUsers(ctx: RequestCtx): SimResponse {
  const { org, base } = ctx.sim;
  const groupId = ctx.params[0] as string;
  const g = org.ids.group.decode(groupId);
  if (g < 0 || g >= org.groupCount) return notFound(groupId, 'UserGroup');
  const n = org.groupCount;
  const nextMember = (from: number) => from + ((((g - (from % n)) % n) + n) % n);
  return page(ctx, { def: 1000, max: 1000, clamp: true }, nextMember, (i) => org.user(i), (u) => renderUser(org, base, u));
}

/** App assignments (AppUser objects); deprovisioned users are unassigned. */
export function listAppUsers(ctx: RequestCtx): SimResponse {
  const { org, base } = ctx.sim;
  const appId = ctx.params[0] as string;
  const a = org.ids.client.decode(appId);
  if (a < 0 || a >= org.appCount) return notFound(appId, 'AppInstance');
  const expand = ctx.query.get('expand') === 'user';
  const keep = (i: number) => (org.appOf(i) === a && org.statusOf(i) !== 'DEPROVISIONED' ? org.user(i) : null);
  return page(ctx, { def: 50, max: 500 }, identity, keep, (u) => renderAppUser(org, base, appId, u, expand));
}
