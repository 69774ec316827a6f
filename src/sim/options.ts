import { z } from 'zod';
import { BUCKET_NAMES, type BucketName } from '../okta/types.ts';

/**
 * Simulator options. Plain data is validated with zod (it may come from the CLI or
 * from POST /__sim/config); `now` exists only for in-process tests.
 */

export const BUCKETS = BUCKET_NAMES;

/**
 * Per-minute limits from Okta's last published Workforce table (docs/okta-api.md §4.2).
 * `user-grants` is UNCONFIRMED: Okta does not say which bucket the grants endpoints
 * use, so we give them the smaller /api/v1/users figure, which keeps clients honest.
 */
export const DEFAULT_LIMITS: Record<BucketName, number> = {
  'users-list': 600,
  'user-get': 2000,
  'user-grants': 600,
  groups: 500,
  apps: 100,
  other: 1200,
};

export const USER_STATUSES = [
  'ACTIVE',
  'SUSPENDED',
  'DEPROVISIONED',
  'STAGED',
  'PROVISIONED',
  'LOCKED_OUT',
  'PASSWORD_EXPIRED',
  'RECOVERY',
] as const;
export type UserStatus = (typeof USER_STATUSES)[number];

export const DEFAULT_STATUS_MIX: Record<UserStatus, number> = {
  ACTIVE: 0.85,
  SUSPENDED: 0.05,
  DEPROVISIONED: 0.05,
  STAGED: 0.015,
  PROVISIONED: 0.015,
  LOCKED_OUT: 0.01,
  PASSWORD_EXPIRED: 0.005,
  RECOVERY: 0.005,
};

export const DEFAULT_SCOPES = ['okta.users.read', 'openid', 'profile', 'email', 'offline_access', 'api:read', 'api:write'];

const count = z.number().int().min(0);
const rate = z.number().min(0).max(1);
/** A delay: Node's timers hold at most 2^31-1 ms and fire at once beyond it; an hour is plenty for a simulator. */
const delayMs = z.number().int().min(0).max(3_600_000);
/** A window: up to a day (Okta's are a minute). */
const windowSec = z.number().positive().max(86_400);
const bucketLimit = z.union([count, z.object({ limit: count.optional(), windowSec: windowSec.optional() }).strict()]);
const bucketName = z.enum(BUCKETS);

export const rateLimitsSchema = z.union([
  z.literal('none'),
  z.literal('default'),
  z.partialRecord(bucketName, bucketLimit),
]);

export const faultsSchema = z
  .object({
    errorRate: rate.optional(),
    resetRate: rate.optional(),
    /** Share of requests answered 429 as if their bucket were spent (Remaining 0), before the handler: nothing changed. */
    limitRate: rate.optional(),
    latencyMs: delayMs.optional(),
    slowRate: rate.optional(),
    slowMs: delayMs.optional(),
    seed: z.number().int().optional(),
    /** Only requests of these methods draw faults (all when absent or null): e.g. resets of DELETEs alone. */
    methods: z.union([z.array(z.enum(['GET', 'POST', 'DELETE'])).min(1), z.null()]).optional(),
  })
  .strict();

/** What can change while the simulator runs (POST /__sim/config, `configure`). */
export const configPatchSchema = z
  .object({
    rateLimits: rateLimitsSchema.optional(),
    windowSec: windowSec.optional(),
    concurrencyLimit: count.optional(),
    perTokenShare: z.union([z.number().gt(0).max(1), z.null()]).optional(),
    noisyNeighbour: z.union([z.object({ share: rate }).strict(), z.null()]).optional(),
    faults: faultsSchema.optional(),
    duplicateResetHeader: z.boolean().optional(),
    linkStyle: z.enum(['separate', 'joined']).optional(),
  })
  .strict();
export type SimConfigPatch = z.infer<typeof configPatchSchema>;

const jwk = z.record(z.string(), z.unknown());

export const simOptionsSchema = configPatchSchema.extend({
  port: z.number().int().min(0).max(65535).optional(),
  token: z.string().min(1).optional(),
  readOnlyToken: z.string().min(1).optional(),
  seed: z.number().int().optional(),
  users: z.number().int().min(0).max(2 ** 32 - 1).optional(),
  statusMix: z.partialRecord(z.enum(USER_STATUSES), rate).optional(),
  groups: z.number().int().min(1).optional(),
  apps: z.number().int().min(1).optional(),
  clients: z.number().int().min(1).optional(),
  grantsPerUser: z
    .union([z.number().min(0).max(200), z.tuple([count.max(200), count.max(200)]).refine(([lo, hi]) => lo <= hi, 'a range is low-high, low first')])
    .optional(),
  scopes: z.array(z.string().min(1)).min(1).optional(),
  oauthClients: z
    .array(
      z
        .object({
          clientId: z.string().min(1),
          publicJwk: jwk,
          scopes: z.array(z.string()).optional(),
          dpop: z.boolean().optional(),
          /** The app's principal rate limit (docs/okta-api.md §4.4): this share of each bucket, listed by GET /api/v1/principal-rate-limits. */
          ratePercentage: z.number().int().min(1).max(100).optional(),
        })
        .strict(),
    )
    .optional(),
  accessTokenTtlSec: z.number().int().positive().optional(),
  /** Keep the latest N requests one by one (method, raw path and query, arrival time) for `log.requests()`. Default 0. */
  recordRequests: z.number().int().min(0).max(1_000_000).optional(),
});

export type SimOptions = z.infer<typeof simOptionsSchema> & {
  /** Clock in epoch ms, for tests that step time instead of sleeping. */
  now?: () => number;
};

export interface FaultConfig {
  errorRate: number;
  resetRate: number;
  limitRate?: number;
  latencyMs: number;
  slowRate: number;
  slowMs: number;
  seed: number;
  methods?: string[] | null;
}

export interface RuntimeConfig {
  windowSec: number;
  buckets: Record<BucketName, { limit: number; windowSec: number | null }>;
  concurrencyLimit: number;
  perTokenShare: number | null;
  noisyNeighbour: { share: number } | null;
  faults: FaultConfig;
  duplicateResetHeader: boolean;
  linkStyle: 'separate' | 'joined';
}

export function defaultRuntimeConfig(seed: number): RuntimeConfig {
  return {
    windowSec: 60,
    buckets: Object.fromEntries(BUCKETS.map((b) => [b, { limit: DEFAULT_LIMITS[b], windowSec: null }])) as RuntimeConfig['buckets'],
    concurrencyLimit: 75,
    perTokenShare: null,
    noisyNeighbour: null,
    faults: { errorRate: 0, resetRate: 0, latencyMs: 0, slowRate: 0, slowMs: 0, seed },
    duplicateResetHeader: false,
    linkStyle: 'separate',
  };
}

/** Applies a validated patch; absent fields keep their value. Returns a new object. */
export function applyConfigPatch(base: RuntimeConfig, patch: SimConfigPatch): RuntimeConfig {
  const next: RuntimeConfig = structuredClone(base);
  if (patch.windowSec !== undefined) next.windowSec = patch.windowSec;
  if (patch.rateLimits === 'none') for (const b of BUCKETS) next.buckets[b] = { limit: 0, windowSec: null };
  else if (patch.rateLimits === 'default') for (const b of BUCKETS) next.buckets[b] = { limit: DEFAULT_LIMITS[b], windowSec: null };
  else if (patch.rateLimits) {
    for (const [name, value] of Object.entries(patch.rateLimits)) {
      const bucket = next.buckets[name as BucketName];
      if (typeof value === 'number') bucket.limit = value;
      else if (value) {
        if (value.limit !== undefined) bucket.limit = value.limit;
        if (value.windowSec !== undefined) bucket.windowSec = value.windowSec;
      }
    }
  }
  if (patch.concurrencyLimit !== undefined) next.concurrencyLimit = patch.concurrencyLimit;
  if (patch.perTokenShare !== undefined) next.perTokenShare = patch.perTokenShare;
  if (patch.noisyNeighbour !== undefined) next.noisyNeighbour = patch.noisyNeighbour;
  if (patch.faults) next.faults = { ...next.faults, ...patch.faults };
  if (patch.duplicateResetHeader !== undefined) next.duplicateResetHeader = patch.duplicateResetHeader;
  if (patch.linkStyle !== undefined) next.linkStyle = patch.linkStyle;
  return next;
}

/** The runtime-changeable part of the start options. */
export function pickConfigPatch(o: SimConfigPatch): SimConfigPatch {
  const patch: Record<string, unknown> = {};
  for (const key of configPatchSchema.keyof().options) if (o[key] !== undefined) patch[key] = o[key];
  return patch as SimConfigPatch;
}

/** One-line description of the first validation problem, for CLI and HTTP errors. */
export function describeZodError(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid options';
  const path = issue.path.length ? issue.path.join('.') : 'options';
  return `${path}: ${issue.message}`;
}
