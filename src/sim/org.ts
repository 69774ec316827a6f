import { hash, unit } from './hash.ts';
import { ID_KIND, IdCodec } from './ids.ts';
import { CLIENT_NAMES, DEPARTMENTS, FIRST_NAMES, GROUP_NAMES, LAST_NAMES } from './org-data.ts';
import { DEFAULT_SCOPES, DEFAULT_STATUS_MIX, USER_STATUSES, type UserStatus } from './options.ts';

/**
 * The seeded org. Per user it keeps one status byte and one grant-count byte; names,
 * dates and grants are recomputed from (seed, index) on each read. The only mutable
 * state is the set of revoked grant keys, so reset is a Set.clear().
 */

export interface OrgShape {
  seed: number;
  users: number;
  statusMix?: Partial<Record<UserStatus, number>>;
  groups: number;
  apps: number;
  clients: number;
  grantsPerUser: number | [number, number];
  scopes?: string[];
}

export interface GrantSlot {
  slot: number;
  /** Grant key: userIndex * 256 + slot; the grant id encodes it. */
  key: number;
  client: number;
  scope: number;
  created: number;
}

export interface UserFacts {
  index: number;
  id: string;
  status: UserStatus;
  firstName: string;
  lastName: string;
  login: string;
  department: string;
  created: number;
  lastUpdated: number;
}

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
  readonly ids: Record<keyof typeof ID_KIND, IdCodec>;
  private readonly status: Uint8Array;
  private readonly grantCount: Uint8Array;
  private readonly revoked = new Set<number>();
  /** One-entry cache: a request usually asks for the same user's grants more than once. */
  private lastGrants: { user: number; grants: GrantSlot[] } | undefined;

  constructor(shape: OrgShape) {
    this.seed = shape.seed;
    this.userCount = shape.users;
    this.groupCount = shape.groups;
    this.clientCount = shape.clients;
    this.appCount = Math.max(shape.apps, shape.clients);
    this.scopes = shape.scopes ?? DEFAULT_SCOPES;
    this.ids = {
      user: new IdCodec('00u', shape.seed, ID_KIND.user),
      grant: new IdCodec('oag', shape.seed, ID_KIND.grant),
      client: new IdCodec('0oa', shape.seed, ID_KIND.client),
      group: new IdCodec('00g', shape.seed, ID_KIND.group),
      authServer: new IdCodec('aus', shape.seed, ID_KIND.authServer),
      scope: new IdCodec('scp', shape.seed, ID_KIND.scope),
      userType: new IdCodec('oty', shape.seed, ID_KIND.userType),
    };
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
      lastUpdated: created + Math.floor(unit(hash(this.seed, i, 5)) * 300 * DAY),
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
    return `${GROUP_NAMES[g % GROUP_NAMES.length]} ${g}`;
  }

  clientName(c: number): string {
    const base = CLIENT_NAMES[c % CLIENT_NAMES.length] ?? 'App';
    return c < CLIENT_NAMES.length ? base : `${base} ${Math.floor(c / CLIENT_NAMES.length) + 1}`;
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

  reset(): void {
    this.revoked.clear();
  }
}

function statusThresholds(mix: Partial<Record<UserStatus, number>> | undefined): number[] {
  const weights = USER_STATUSES.map((s) => (mix ? (mix[s] ?? 0) : DEFAULT_STATUS_MIX[s]));
  const sum = weights.reduce((a, b) => a + b, 0) || 1;
  let acc = 0;
  return weights.map((w) => (acc += w / sum));
}

/** A number is a mean (spread ±2 around it), a pair an inclusive range. */
function drawCount(spec: number | [number, number], h: number): number {
  const u = unit(h);
  if (Array.isArray(spec)) {
    const [lo, hi] = spec[0] <= spec[1] ? spec : [spec[1], spec[0]];
    return lo + Math.floor(u * (hi - lo + 1));
  }
  const base = Math.floor(spec);
  const spread = Math.min(base, 2);
  const extra = unit(mix(h)) < spec - base ? 1 : 0;
  return base - spread + Math.floor(u * (2 * spread + 1)) + extra;
}

function mix(h: number): number {
  return hash(h, 0x5bd1e995);
}
