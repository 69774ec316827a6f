/** Okta object shapes as the Management API returns them (see docs/okta-api.md §1.3, §1.4, §5.3). */

export interface Grant {
  id: string;
  status: 'ACTIVE' | 'REVOKED' | string;
  created: string;
  lastUpdated: string;
  createdBy?: { id: string; type: string };
  issuer: string;
  clientId: string;
  userId: string;
  scopeId: string;
  source?: 'ADMIN' | 'END_USER' | string;
  _embedded?: { scope?: { id?: string; name?: string; displayName?: string; description?: string } };
  _links?: Record<string, unknown>;
}

export interface OktaUser {
  id: string;
  status: string;
  created?: string;
  lastUpdated?: string;
  profile: { login: string; email?: string; firstName?: string; lastName?: string; [k: string]: unknown };
  _links?: Record<string, unknown>;
}

/** `GET /api/v1/users/{id}/clients` item. */
export interface OAuthClientRef {
  client_id: string;
  client_name: string;
  client_uri?: string | null;
  logo_uri?: string | null;
  _links?: Record<string, unknown>;
}

/** `GET /api/v1/users/{userId}/clients/{clientId}/tokens` item (OAuth2RefreshToken, docs/okta-api.md §1.4). */
export interface RefreshToken {
  id: string;
  status: string;
  created?: string;
  expiresAt?: string | null;
  clientId: string;
  userId: string;
  scopes?: string[];
  _links?: Record<string, unknown>;
}

/** `GET /api/v1/apps/{appId}/users` item (an AppUser, not a User). */
/** A share of every bucket an admin gave an API token or OAuth app (docs/okta-api.md §4.4; fields used here only). */
export interface PrincipalRateLimit {
  principalId: string;
  principalType: 'SSWS_TOKEN' | 'OAUTH_CLIENT';
  /** Percentage of each bucket's limit. */
  defaultPercentage: number;
}

export interface AppUser {
  id: string;
  status?: string;
  credentials?: { userName?: string };
  _embedded?: { user?: OktaUser };
}

/**
 * What every response's rate-limit headers say. Times are epoch milliseconds.
 * `concurrency` is true for the concurrency 429 (Limit 0, Remaining 0).
 */
export interface RateInfo {
  limit: number | null;
  remaining: number | null;
  /** X-Rate-Limit-Reset in epoch ms (the first value when the header was duplicated). */
  resetAt: number | null;
  /** The response's Date header in epoch ms (Okta's clock). */
  date: number | null;
  requestId: string | null;
  concurrency: boolean;
  /** True when X-Rate-Limit-Reset arrived more than once. */
  resetDuplicated: boolean;
}

/**
 * The rate-limit bucket a request is expected to fall into. Okta no longer publishes
 * which bucket the grants endpoints use, so the budget learns each bucket's limit
 * from the headers; these names only group requests that share a limit.
 */
export const BUCKET_NAMES = ['users-list', 'user-get', 'user-grants', 'groups', 'apps', 'other'] as const;
export type BucketName = (typeof BUCKET_NAMES)[number];

export interface RequestDescriptor {
  method: 'GET' | 'DELETE' | 'POST';
  /** Path without query, e.g. /api/v1/users/00u1/grants */
  path: string;
  bucket: BucketName;
  /** The run on whose behalf the request is made (for the shared budget and cancel). */
  runId?: string;
  /** The caller's stop: a request still waiting for its slot gives the slot back and is not sent. */
  signal?: AbortSignal;
}

/** Outcome handed to a gate after the request, for the budget to learn from. */
export interface ResponseMeta {
  status: number;
  rate: RateInfo;
  durationMs: number;
}

/**
 * The shared budget's hook into the client: every request (each retry of it too)
 * acquires a lease before it is sent and releases it with what the response said.
 * Acquire may wait (pacing) or throw (the run was cancelled or halted).
 */
export interface RequestGate {
  acquire(req: RequestDescriptor): Promise<GateLease>;
}
export interface GateLease {
  release(meta: ResponseMeta | null): void;
}
