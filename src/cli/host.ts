import type { WorkerMetrics } from '../metrics/worker-metrics.ts';
import { EXIT, HaltError } from '../errors.ts';
import { WorkerHost } from '../queue/worker-host.ts';
import { abandonConnection } from '../redis/connection.ts';
import { PRINCIPAL_LIMITS_SCOPE, readPrincipalShare } from '../okta/principal-share.ts';
import { orgKeyOf } from '../queue/org.ts';
import { orgKeys } from '../runs/keys.ts';
import { authFrom, type CliContext } from './context.ts';

/** How long `run`, `enqueue` and `retry --wait` wait for a lost Redis unless GRANTSWEEP_REDIS_OUTAGE_MS says otherwise. */
export const RUN_OUTAGE_MS = 300_000;

/** How long a share read from Okta holds before the runs try their own again (a worker reads it at each start). */
const PRINCIPAL_SHARE_HOLD_MS = 6 * 3_600_000;

/**
 * A worker host for the configured org, registered for release with the command's resources.
 * A service app's principal rate limit, when it can be read, is set on the budget before the
 * first job is taken.
 */
export async function startHost(
  ctx: CliContext,
  opts: { concurrency?: number; scopes?: string[]; metrics?: WorkerMetrics; schedules?: boolean } = {},
): Promise<WorkerHost> {
  const { config } = ctx;
  const host = new WorkerHost(ctx.redis, {
    redisUrl: ctx.redisUrl,
    orgUrl: config.orgUrl!,
    auth: authFrom(config, opts.scopes),
    concurrency: opts.concurrency ?? config.concurrency,
    maxInFlight: config.maxInFlight,
    requestTimeoutMs: config.requestTimeoutMs,
    proxy: config.proxy,
    rateWindowMs: config.rateWindowMs,
    lockDurationMs: config.lockDurationMs,
    log: ctx.log,
    metrics: opts.metrics,
    // Scheduled runs are started with this process's credential, scoped for their source.
    schedules: opts.schedules
      ? { auth: (scopes) => authFrom(config, scopes), rateShare: config.rateShare, attempts: config.attempts, maxRateLimitDeferrals: config.maxRateLimitDeferrals, pacing: config.pacing }
      : undefined,
  });
  ctx.resources.add('worker', host, (h) => h.close());
  const c = config.credentials;
  // A refused token request is a failed grant in the org's System Log: after one, the app
  // is not asked again for a day (check asks each time it runs).
  const refusals = orgKeys(orgKeyOf(config.orgUrl!)).org;
  const refusedField = `principalShareRefused:${host.budget.credential}`;
  if (c?.kind === 'privateKey' && Number((await ctx.redis.hget(refusals, refusedField)) ?? 0) <= Date.now()) {
    const share = await readPrincipalShare({
      orgUrl: config.orgUrl!,
      clientId: c.clientId,
      auth: authFrom(config, [PRINCIPAL_LIMITS_SCOPE]),
      proxy: config.proxy,
      timeoutMs: config.requestTimeoutMs,
    });
    if ('percent' in share) {
      const cap = await host.budget.setCredentialShare(share.percent / 100, PRINCIPAL_SHARE_HOLD_MS);
      ctx.log.info(
        { principalPercent: share.percent, capPercent: Math.round(cap * 1000) / 10 },
        `Okta lets this service app use ${share.percent} % of each bucket (its principal rate limit): every run with it keeps under ${Math.round(cap * 1000) / 10} %`,
      );
    } else {
      if (share.refused) await ctx.redis.hset(refusals, refusedField, Date.now() + 24 * 3_600_000);
      ctx.log.debug({ reason: share.unknown }, "this service app's principal rate limit is unknown: a cap is learned from Okta's 429s");
    }
  }
  host.start();
  return host;
}

/**
 * SIGINT/SIGTERM: the first finishes what is in flight and stops; the second stops at
 * once (targets in flight return to the queue when their lock expires).
 */
export function onSignals(first: () => void, second: () => void): () => void {
  let count = 0;
  const handler = () => {
    count++;
    if (count === 1) return first();
    second();
    // "At once" holds even when stopping cannot finish (Redis unreachable): whatever
    // the process had in flight returns to the queue when its lock expires.
    if (count === 2) setTimeout(() => process.exit(EXIT.failures), 3_000).unref();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

/**
 * Gives up on a Redis that stays away longer than GRANTSWEEP_REDIS_OUTAGE_MS (else
 * `defaultMs`; 0: never): stops `host` at once, as a second Ctrl-C does, and cuts this
 * process's connections so that nothing waits on them any more; then `gaveUp` rejects
 * with a HaltError (exit 3) whose message `say` completes. Nothing is lost: results
 * already recorded stay in Redis's append-only file, and the targets in flight are
 * pending there, for the next worker. `off` ends the watch.
 */
export function giveUpOnOutage(
  ctx: CliContext,
  host: WorkerHost | null,
  defaultMs: number,
  say: (why: string) => string,
): { gaveUp: Promise<never>; off: () => void } {
  let off = () => {};
  const gaveUp = new Promise<never>((_, reject) => {
    off =
      ctx.outage?.giveUpAfter(ctx.config.redisOutageMs ?? defaultMs, (ms) => {
        void host?.abandon();
        abandonConnection(ctx.redis);
        reject(new HaltError(say(`Redis has been unreachable for ${ms / 1000} s (GRANTSWEEP_REDIS_OUTAGE_MS): gave up`)));
      }) ?? off;
  });
  gaveUp.catch(() => {}); // raced by the caller; never left unhandled
  return { gaveUp, off };
}
