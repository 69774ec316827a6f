import { hash, unit } from './hash.ts';
import { makeCodecs, type OrgCodecs } from './ids.ts';
import { clientName, DEPARTMENTS, FIRST_NAMES, groupName, LAST_NAMES } from './org-data.ts';
import { drawCount, statusThresholds } from './org-draw.ts';
import { DEFAULT_SCOPES, USER_STATUSES, type UserStatus } from './options.ts';
import type { GrantSlot, OrgShape, TokenSlot, UserFacts } from './org-types.ts';

/**
 * The seeded org. Per user it keeps one status byte and one grant-count byte; names,
 * dates and grants are recomputed from (seed, index) on each read. The only mutable
 * state is the sets of revoked grant and token keys, so reset is two Set.clear()s.
 */

export type { GrantSlot, OrgShape, TokenSlot, UserFacts } from './org-types.ts';

const SLOTS = 256;
const EPOCH_2019 = Date.UTC(2019, 0, 1);
const USER_SPAN = Date.UTC(2024, 5, 1) - EPOCH_2019;
const DAY = 86_400_000;
const ascii = (s: string) => s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase();
const LOGIN_RE = /(\d+)@example\.com$/i;

export class SimOrg {
  readonly seed: number;
  readonly userCount: number;
  readonly groupCount: number;
  readonly appCount: number;
  readonly clientCount: number;
  readonly scopes: readonly string[];
  readonly totalGrants: number;
  readonly ids: OrgCodecs;
  private readonly status: Uint8Array;
  /** The statuses as drawn, for reset(). */
  private readonly drawnStatus: Uint8Array;
  /** Users an admin changed after the org was drawn: index → lastUpdated (ms). */
  private readonly changed = new Map<number, number>();
  private readonly grantCount: Uint8Array;
  private readonly revoked = new Set<number>();
  private readonly revokedTokens = new Set<number>();
  private readonly offlineAccess: number;
  /** One-entry cache: a request usually asks for the same user's grants more than once. */
  private lastGrants: { user: number; grants: GrantSlot[] } | undefined;

  constructor(shape: OrgShape) {
    this.seed = shape.seed;
    this.userCount = shape.users;
    this.groupCount = shape.groups;
    this.clientCount = shape.clients;
    this.appCount = Math.max(shape.apps, shape.clients);
    this.scopes = shape.scopes ?? DEFAULT_SCOPES;
    this.ids = makeCodecs(shape.seed);
    this.offlineAccess = this.scopes.indexOf('offline_access');
    const thresholds = statusThresholds(shape.statusMix);
    const maxGrants = Math.min(SLOTS - 1, this.clientCount * this.scopes.length);
    this.status = new Uint8Array(shape.users);
    this.grantCount = new Uint8Array(shape.users);
    let total = 0;
    for (let i = 0; i < shape.users; i++) {
      const u = unit(hash(this.seed, i, 1));
      let s = 0;
      while (s < thresholds.length - 1 && u >= (thresholds[s] ?? 1)) s++;
      this.status[i] = s;
      // Okta revokes grants when a user is deactivated, so DEPROVISIONED users hold none.
      const n = USER_STATUSES[s] === 'DEPROVISIONED' ? 0 : Math.min(maxGrants, drawCount(shape.grantsPerUser, hash(this.seed, i, 2)));
      this.grantCount[i] = n;
      total += n;
    }
    this.totalGrants = total;
    this.drawnStatus = this.status.slice();
  }

  /**
   * An admin changes a user's status now (suspends a leaver): its status and lastUpdated
   * change, as a directory query sees them. DEPROVISIONED is refused: Okta would revoke the
   * user's grants itself, which this does not model.
   */
  setStatus(i: number, status: UserStatus, at: number): void {
    if (status === 'DEPROVISIONED') throw new Error('setStatus: DEPROVISIONED is not modelled (Okta revokes the grants itself)');
    this.status[i] = USER_STATUSES.indexOf(status);
    this.changed.set(i, at);
  }

  statusOf(i: number): UserStatus {
    return USER_STATUSES[this.status[i] ?? 0] ?? 'ACTIVE';
  }

  user(i: number): UserFacts {
    const h = hash(this.seed, i, 3);
    const firstName = FIRST_NAMES[h % FIRST_NAMES.length] ?? 'Ann';
    const lastName = LAST_NAMES[(h >>> 8) % LAST_NAMES.length] ?? 'Lee';
    const created = EPOCH_2019 + Math.floor(unit(hash(this.seed, i, 4)) * USER_SPAN);
    return {
      index: i,
      id: this.ids.user.encode(i),
      status: this.statusOf(i),
      firstName,
      lastName,
      login: `${ascii(firstName)}.${ascii(lastName)}${i}@example.com`,
      department: DEPARTMENTS[(h >>> 16) % DEPARTMENTS.length] ?? 'Engineering',
      created,
      lastUpdated: this.changed.get(i) ?? created + Math.floor(unit(hash(this.seed, i, 5)) * 300 * DAY),
    };
  }

  userIndexById(id: string): number {
    const key = this.ids.user.decode(id);
    return key >= 0 && key < this.userCount ? key : -1;
  }

  /** Logins carry the user index, so resolving one is a parse and a compare. */
  userIndexByLogin(login: string): number {
    const m = LOGIN_RE.exec(login);
    if (!m?.[1] || m[1].length > 10) return -1;
    const i = Number(m[1]);
    if (i >= this.userCount) return -1;
    return this.user(i).login === login.toLowerCase() ? i : -1;
  }

  groupOf(i: number): number {
    return i % this.groupCount;
  }

  appOf(i: number): number {
    return hash(this.seed, i, 7) % this.appCount;
  }

  groupName(g: number): string {
    return groupName(g);
  }

  clientName(c: number): string {
    return clientName(c);
  }

  /** Every grant the user was ever given, in creation order, revoked ones included. */
  allGrants(i: number): GrantSlot[] {
    const n = this.grantCount[i] ?? 0;
    if (n === 0) return [];
    const cached = this.lastGrants;
    if (cached?.user === i) return cached.grants;
    const pairs = this.clientCount * this.scopes.length;
    const used = new Set<number>();
    const out: GrantSlot[] = [];
    let at = this.user(i).created;
    for (let s = 0; s < n; s++) {
      let pair: number;
      const app = this.appOf(i);
      // The first grant goes to the app the user is assigned to, so app-user sources find grants.
      if (s === 0 && app < this.clientCount) pair = app + this.clientCount * (hash(this.seed, i, 6) % this.scopes.length);
      else {
        let attempt = 0;
        do pair = hash(this.seed, i, 100 + s, attempt++) % pairs;
        while (used.has(pair));
      }
      used.add(pair);
      at += 1000 + Math.floor(unit(hash(this.seed, i, 200 + s)) * 30 * DAY);
      out.push({ slot: s, key: i * SLOTS + s, client: pair % this.clientCount, scope: Math.floor(pair / this.clientCount), created: at });
    }
    this.lastGrants = { user: i, grants: out };
    return out;
  }

  activeGrants(i: number): GrantSlot[] {
    const all = this.allGrants(i);
    return this.revoked.size === 0 ? all : all.filter((g) => !this.revoked.has(g.key));
  }

  activeGrantCount(i: number): number {
    return this.revoked.size === 0 ? (this.grantCount[i] ?? 0) : this.activeGrants(i).length;
  }

  /** The active grant with this id, only when it belongs to user i. */
  findGrant(i: number, grantId: string): GrantSlot | undefined {
    const key = this.ids.grant.decode(grantId);
    if (key < 0 || Math.floor(key / SLOTS) !== i || this.revoked.has(key)) return undefined;
    return this.allGrants(i).find((g) => g.key === key);
  }

  grantId(g: GrantSlot): string {
    return this.ids.grant.encode(g.key);
  }

  revoke(keys: Iterable<number>): number {
    let n = 0;
    for (const k of keys) {
      if (!this.revoked.has(k)) {
        this.revoked.add(k);
        n++;
      }
    }
    return n;
  }

  revokedCount(): number {
    return this.revoked.size;
  }

  activeGrantTotal(): number {
    return this.totalGrants - this.revoked.size;
  }

  /** The user's refresh tokens not revoked: one per client with an offline_access grant, revoked grant or not. */
  activeTokens(i: number): TokenSlot[] {
    if (this.offlineAccess < 0) return [];
    const out: TokenSlot[] = [];
    for (const g of this.allGrants(i)) {
      if (g.scope === this.offlineAccess && !this.revokedTokens.has(g.key)) out.push({ key: g.key, client: g.client, created: g.created });
    }
    return out;
  }

  tokenId(t: TokenSlot): string {
    return this.ids.token.encode(t.key);
  }

  revokeTokens(tokens: Iterable<TokenSlot>): number {
    let n = 0;
    for (const t of tokens) {
      if (!this.revokedTokens.has(t.key)) {
        this.revokedTokens.add(t.key);
        n++;
      }
    }
    return n;
  }

  revokedTokenCount(): number {
    return this.revokedTokens.size;
  }

  reset(): void {
    this.revoked.clear();
    this.revokedTokens.clear();
    this.status.set(this.drawnStatus);
    this.changed.clear();
  }
}
