import type { Grant, OktaUser, RefreshToken } from '../okta/types.ts';
import type { SimContext } from './context.ts';
import type { FaultInjector } from './faults.ts';
import { grantScopeId } from './render.ts';
import { applyConfigPatch, configPatchSchema, describeZodError, USER_STATUSES, type RuntimeConfig, type UserStatus } from './options.ts';
import type { RateLimiter } from './rate-limiter.ts';
import { renderGrant, renderToken, renderUser } from './render.ts';
import type { LogSnapshot, RequestLog } from './request-log.ts';
import { SimOptionsError } from './sim-errors.ts';

/** The simulator's back door, shared by the in-process API and the /__sim/ endpoints. */

export interface SimCounts {
  users: number;
  groups: number;
  apps: number;
  clients: number;
  totalGrants: number;
  activeGrants: number;
  revokedGrants: number;
}

export interface SampleUser {
  id: string;
  login: string;
  email: string;
  status: UserStatus;
  /** The one group the user belongs to, and the app the user is assigned to. */
  groupId: string;
  appId: string;
  /** `scopeId` as Okta writes it in a grant (a custom scope's `scp…` id), `scope` the scope's name. */
  grants: { id: string; clientId: string; scopeId: string; scope: string }[];
}

export interface SimDirectory {
  groups: { id: string; name: string }[];
  apps: { id: string; name: string }[];
  clients: { id: string; name: string }[];
}

export interface SampleQuery {
  count?: number;
  status?: UserStatus;
  /** Only users holding at least this many active grants (default 0). */
  minGrants?: number;
  /** Start scanning at this user index, to take disjoint samples (default 0). */
  offset?: number;
}

export class SimControl {
  constructor(
    private readonly ctx: SimContext,
    /** Shared with the pipeline, which reads `current` on every request. */
    private readonly settings: { current: RuntimeConfig },
    private readonly limiter: RateLimiter,
    private readonly faults: FaultInjector,
    private readonly requestLog: RequestLog,
  ) {}

  currentConfig(): RuntimeConfig {
    return this.settings.current;
  }

  /** Validates and applies a patch at runtime; a faults change restarts the fault sequence. */
  configure(patch: unknown): RuntimeConfig {
    const parsed = configPatchSchema.safeParse(patch);
    if (!parsed.success) throw new SimOptionsError(describeZodError(parsed.error));
    this.settings.current = applyConfigPatch(this.settings.current, parsed.data);
    if (parsed.data.faults) this.faults.reseed();
    return this.settings.current;
  }

  counts(): SimCounts {
    const org = this.ctx.org;
    return {
      users: org.userCount,
      groups: org.groupCount,
      apps: org.appCount,
      clients: org.clientCount,
      totalGrants: org.totalGrants,
      activeGrants: org.activeGrantTotal(),
      revokedGrants: org.revokedCount(),
    };
  }

  private indexOf(idOrLogin: string): number {
    const org = this.ctx.org;
    const i = org.userIndexById(idOrLogin);
    return i >= 0 ? i : org.userIndexByLogin(idOrLogin);
  }

  /** An admin changes a user's status now; false for an unknown user. */
  setUserStatus(idOrLogin: string, status: UserStatus, now: number): boolean {
    const i = this.indexOf(idOrLogin);
    if (i < 0) return false;
    this.ctx.org.setStatus(i, status, now);
    return true;
  }

  user(idOrLogin: string): OktaUser | null {
    const i = this.indexOf(idOrLogin);
    return i < 0 ? null : renderUser(this.ctx.org, this.ctx.base, this.ctx.org.user(i));
  }

  /** Active grants of a user as the API would list them, or null for an unknown user. */
  grantsOf(idOrLogin: string, expandScope = false): Grant[] | null {
    const i = this.indexOf(idOrLogin);
    if (i < 0) return null;
    const { org, base } = this.ctx;
    const u = org.user(i);
    return org.activeGrants(i).map((g) => renderGrant(org, base, u, g, expandScope));
  }

  /** Someone else revokes one grant (an admin in the console): no request, no rate limit; false if unknown or already gone. */
  revokeGrant(idOrLogin: string, grantId: string): boolean {
    const i = this.indexOf(idOrLogin);
    const g = i < 0 ? undefined : this.ctx.org.findGrant(i, grantId);
    return g !== undefined && this.ctx.org.revoke([g.key]) === 1;
  }

  /** Refresh tokens of a user not revoked, as …/clients/{clientId}/tokens would list them; null for an unknown user. */
  tokensOf(idOrLogin: string): RefreshToken[] | null {
    const i = this.indexOf(idOrLogin);
    if (i < 0) return null;
    const { org, base } = this.ctx;
    return org.activeTokens(i).map((t) => renderToken(org, base, org.user(i).id, t));
  }

  sampleUsers(q: SampleQuery = {}): SampleUser[] {
    const { org } = this.ctx;
    const want = q.count ?? 10;
    const out: SampleUser[] = [];
    for (let i = q.offset ?? 0; i < org.userCount && out.length < want; i++) {
      if (q.status && org.statusOf(i) !== q.status) continue;
      const grants = org.activeGrants(i);
      if (grants.length < (q.minGrants ?? 0)) continue;
      const u = org.user(i);
      out.push({
        id: u.id,
        login: u.login,
        email: u.login,
        status: u.status,
        groupId: org.ids.group.encode(org.groupOf(i)),
        appId: org.ids.client.encode(org.appOf(i)),
        grants: grants.map((g) => ({ id: org.grantId(g), clientId: org.ids.client.encode(g.client), scopeId: grantScopeId(org, g.scope), scope: org.scopes[g.scope] ?? '' })),
      });
    }
    return out;
  }

  /** Group and app ids (apps share the id space of OAuth clients: app id = client_id). */
  directory(): SimDirectory {
    const { org } = this.ctx;
    const list = (n: number, id: (k: number) => string, name: (k: number) => string) =>
      Array.from({ length: n }, (_, k) => ({ id: id(k), name: name(k) }));
    return {
      groups: list(org.groupCount, (k) => org.ids.group.encode(k), (k) => org.groupName(k)),
      apps: list(org.appCount, (k) => org.ids.client.encode(k), (k) => org.clientName(k)),
      clients: list(org.clientCount, (k) => org.ids.client.encode(k), (k) => org.clientName(k)),
    };
  }

  snapshotLog(): LogSnapshot {
    return this.requestLog.snapshot();
  }

  resetLog(): void {
    this.requestLog.reset();
  }

  /** Restores the seeded org and clears the log, the rate windows and the fault sequence. */
  reset(): void {
    this.ctx.org.reset();
    this.requestLog.reset();
    this.limiter.reset();
    this.faults.reseed();
  }
}

export function isUserStatus(s: string): s is UserStatus {
  return (USER_STATUSES as readonly string[]).includes(s);
}
