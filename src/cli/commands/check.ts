import { Queue } from 'bullmq';
import { describeConfig } from '../../../config/describe.ts';
import { maskProxyUrl } from '../../../config/schema.ts';
import { maskRedisUrl } from '../../redis/redis-url.ts';
import type { Config } from '../../../config/schema.ts';
import { EXIT, type ExitCode } from '../../errors.ts';
import { REVOKE_SCOPES } from '../../okta/auth.ts';
import { OktaClient } from '../../okta/client.ts';
import { proxyFor } from '../../okta/http.ts';
import { PRINCIPAL_LIMITS_SCOPE, readPrincipalShare, type PrincipalShare } from '../../okta/principal-share.ts';
import { secondsUntilReset } from '../../okta/rate-headers.ts';
import type { RateInfo } from '../../okta/types.ts';
import { BUDGET_SAFETY, controlBudget } from '../../queue/budget.ts';
import { orgKeyOf, queueNameOf } from '../../queue/org.ts';
import { readPersistence } from '../../redis/connection.ts';
import { queuePrefix } from '../../redis/keys.ts';
import { authFrom, openContext } from '../context.ts';
import { out, type CliIO } from '../io.ts';

/** A dropped connection or a 5xx is read again, as a run would: one reset is not "Okta could not be reached". */
const CHECK_READ_ATTEMPTS = 3;

/** What `check` found; --json prints it as is. */
export interface CheckResult {
  orgUrl: string;
  credential: 'api token' | 'service app, Bearer token' | 'service app, DPoP-bound token';
  proxy: string | null;
  redis: string;
  /** How Redis keeps the runs across a restart (src/redis/connection.ts readPersistence). */
  redisPersistence: 'aof' | 'rdb' | 'none' | null;
  /** Requests `check` made to Okta (reads only). */
  requests: number;
  /** The user-grants bucket as its last response stated it; null when the org has no user to read grants of. */
  grantsBucket: { limit: number | null; remaining: number | null; resetInSec: number | null } | null;
  /** A cap on this credential that a run met lately (Okta's per-token share), as the budget holds every run to it. */
  credentialCap: { percent: number; learnedAt: string; until: string } | null;
  /**
   * A service app's principal rate limit (the share of every bucket an admin gave it), or why
   * it is unknown; null for an API token, which cannot read its own.
   */
  principalShare: PrincipalShare | null;
  /** What a run at the configured --rate-share may send to that bucket a window (a minute at Okta; the budget's safety margin and the credential's cap included). */
  runPerMinute: number | null;
  /** Worker processes connected to the org's queue: none means an `enqueue`d run waits. */
  workers: number | null;
  /** Every setting a run here would use, secrets masked (config/describe.ts). */
  settings: Record<string, unknown>;
}

/**
 * `grantsweep check`: before the incident, not during it. Reads the configuration and
 * reaches Redis and Okta the way a run would (proxy, token, DPoP), with two reads at
 * Okta (a user, then that user's grants, limit 1), and says what it found: the kind of
 * credential, the user-grants bucket's limit and what the run's share of it comes to,
 * and how many workers listen on the org's queue. Failures go to the CLI's error
 * boundary, which names what to fix (exit 2 configuration, exit 3 credentials or reach).
 */
export async function checkCommand(io: CliIO, flags: { json?: boolean }): Promise<ExitCode> {
  const ctx = await openContext(io, {}, { credentials: true });
  try {
    const { config } = ctx;
    const orgUrl = config.orgUrl!;
    const auth = authFrom(config, REVOKE_SCOPES);
    ctx.resources.add('auth', auth, (a) => a.close?.() ?? Promise.resolve());
    const client = ctx.resources.add('okta', new OktaClient({ orgUrl, auth, timeoutMs: config.requestTimeoutMs, connections: 1, proxy: config.proxy, readAttempts: CHECK_READ_ATTEMPTS }), (c) => c.close());

    let requests = 0;
    let grants: RateInfo | null = null;
    const read = {
      onResponse: (req: { bucket: string }, m: { rate: RateInfo }) => {
        requests++;
        if (req.bucket === 'user-grants') grants = m.rate;
      },
    };
    const header = await auth.header();
    const credential: CheckResult['credential'] =
      auth.kind === 'ssws' ? 'api token' : header.startsWith('DPoP ') ? 'service app, DPoP-bound token' : 'service app, Bearer token';
    for await (const user of client.listUsers({ limit: 1 }, read)) {
      for await (const _ of client.listUserGrants(user.id, { limit: 1 }, read)) break;
      break;
    }
    const bucket = grants as RateInfo | null;
    const limit = bucket?.limit ?? null;

    // A cap Okta holds this credential to, if a run met it lately (see "A cap on the credential" in the README).
    const cap = await controlBudget(ctx.redis, orgKeyOf(orgUrl), auth.principal).credentialCap('user-grants');
    const c = config.credentials;
    const principalShare =
      c?.kind === 'privateKey'
        ? await readPrincipalShare({ orgUrl, clientId: c.clientId, auth: authFrom(config, [PRINCIPAL_LIMITS_SCOPE]), proxy: config.proxy, timeoutMs: config.requestTimeoutMs })
        : null;
    let share = config.rateShare * BUDGET_SAFETY;
    if (cap) share = Math.min(share, cap.fraction);
    if (principalShare && 'percent' in principalShare) share = Math.min(share, (principalShare.percent / 100) * BUDGET_SAFETY);
    const queue = new Queue(queueNameOf(orgKeyOf(orgUrl)), { connection: ctx.redis, prefix: queuePrefix });
    const workers = await queue.getWorkersCount().catch(() => null);
    await queue.close();

    // The proxy the transport uses for the org (NO_PROXY honoured), credentials masked.
    const proxy = proxyFor(orgUrl, config.proxy);
    const result: CheckResult = {
      orgUrl,
      credential,
      proxy: proxy === null ? null : maskProxyUrl(proxy),
      redis: config.redisUrl ? maskRedisUrl(config.redisUrl) : `embedded (${config.home})`,
      redisPersistence: await readPersistence(ctx.redis).catch(() => null),
      requests,
      grantsBucket: bucket ? { limit, remaining: bucket.remaining, resetInSec: secondsUntilReset(bucket, config.rateWindowMs) } : null,
      runPerMinute: limit !== null && limit > 0 ? Math.max(1, Math.floor(limit * share)) : null,
      principalShare,
      credentialCap: cap ? { percent: Math.round(cap.fraction * 100), learnedAt: new Date(cap.learnedAt).toISOString(), until: new Date(cap.until).toISOString() } : null,
      workers,
      settings: describeConfig(config),
    };
    await out(io, flags.json ? `${JSON.stringify(result)}\n` : text(result, config));
    return EXIT.ok;
  } finally {
    await ctx.resources.releaseAll();
  }
}

const PERSISTENCE = {
  aof: 'append-only file on',
  rdb: 'warning: snapshots only (appendonly no): a Redis crash loses the results since the last one, and their targets are done again',
  none: 'warning: persists nothing (appendonly no, no save points): a Redis restart loses every run, its results and its queue; set appendonly yes',
  unknown: 'persistence unknown (CONFIG refused and AOF off)',
} as const;

function text(r: CheckResult, config: Config): string {
  const b = r.grantsBucket;
  const share = config.rateShare;
  // Okta's windows are a minute; GRANTSWEEP_RATE_WINDOW_MS says otherwise only for the simulator.
  const per = config.rateWindowMs === 60_000 ? 'a minute' : `a ${config.rateWindowMs / 1000}-s window`;
  const lines = [
    `okta     ${r.orgUrl} · ${r.credential}${r.proxy ? ` · through ${r.proxy}` : ''} · ${r.requests} requests, all answered`,
    `redis    ${r.redis} · ${PERSISTENCE[r.redisPersistence ?? 'unknown']}`,
    b
      ? `budget   user-grants: limit ${b.limit ?? '?'} ${per}, ${b.remaining ?? '?'} left${b.resetInSec !== null ? ` (resets in ${b.resetInSec} s)` : ''}; at --rate-share ${share} a run sends up to ${r.runPerMinute ?? '?'} ${per}${r.runPerMinute ? `: 10,000 targets in about ${Math.ceil((10_000 / r.runPerMinute) * (config.rateWindowMs / 60_000))} min` : ''}`
      : 'budget   user-grants: not read (the org has no user to read grants of)',
    ...(r.principalShare
      ? ['percent' in r.principalShare
          ? `share    Okta lets this service app use ${r.principalShare.percent} % of each bucket (its principal rate limit): runs with it keep under it`
          : `share    this service app's principal rate limit is unknown: ${r.principalShare.unknown}; a cap is learned from Okta's 429s`]
      : []),
    // A cap learned from a 429 (the app's own share, read, is the line above).
    ...(r.credentialCap
      ? [`cap      this credential met its own cap on user-grants (Okta's per-token share): runs with it keep under ${r.credentialCap.percent} % of the bucket until ${r.credentialCap.until}; to use more, raise the token's or app's share in the Admin Console`]
      : []),
    `settings concurrency ${config.concurrency} · rate share ${share} (${config.pacing}) · ${config.maxInFlight} in flight across workers · ${config.attempts} attempts · timeout ${config.requestTimeoutMs / 1000} s · log ${config.logLevel}`,
    `workers  ${r.workers === null ? 'unknown' : r.workers === 0 ? "none on the org's queue: `grantsweep run` works alone; an `enqueue`d run waits for a `grantsweep worker`" : `${r.workers} on the org's queue`}`,
  ];
  return `${lines.join('\n')}\n`;
}
