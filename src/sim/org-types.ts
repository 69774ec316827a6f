import type { UserStatus } from './options.ts';

/** Shapes of the seeded org: what it is built from and the plain facts it derives per index. */

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

/**
 * A refresh token: one per client for which the user consented to `offline_access`,
 * minted with that grant. Revoking grants leaves it (whether Okta's grant revocation
 * also revokes tokens is UNCONFIRMED, docs/okta-api.md §1.4): the worst case for a client.
 */
export interface TokenSlot {
  /** The key of the grant it was minted with; the token id encodes it. */
  key: number;
  client: number;
  created: number;
}
