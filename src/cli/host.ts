import type { WorkerMetrics } from '../metrics/worker-metrics.ts';
import { EXIT, HaltError } from '../errors.ts';
import { WorkerHost } from '../queue/worker-host.ts';
import { abandonConnection } from '../redis/connection.ts';
import { orgKeyOf } from '../queue/org.ts';
import { applyPrincipalShare, keepPrincipalShare } from '../queue/principal-share.ts';
import { authFrom, type CliContext } from './context.ts';

/** How long `run`, `enqueue` and `retry --wait` wait for a lost Redis unless GRANTSWEEP_REDIS_OUTAGE_MS says otherwise. */
export const RUN_OUTAGE_MS = 300_000;

/**
 * A worker host for the configured org, registered for release with the command's resources.
 * A service app's principal rate limit, when it can be read, is set on the budget before the
 * first job is taken, and read again every GRANTSWEEP_PRINCIPAL_SHARE_REFRESH_MS.
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
      ? { auth: (scopes) => authFrom(config, scopes), rateShare: config.rateShare, attempts: config.attempts, maxRateLimitDeferrals: config.maxRateLimitDeferrals, pacing: config.pacing, sinceOverlapMs: config.scheduleOverlapMs }
      : undefined,
  });
  ctx.resources.add('worker', host, (h) => h.close());
  const share = {
    redis: ctx.redis,
    budget: host.budget,
    orgKey: orgKeyOf(config.orgUrl!),
    orgUrl: config.orgUrl!,
    auth: (scopes: string[]) => authFrom(config, scopes),
    proxy: config.proxy,
    timeoutMs: config.requestTimeoutMs,
    log: ctx.log,
    refreshMs: config.principalShareRefreshMs,
  };
  await applyPrincipalShare(share);
  // Only a service app can read its share (an API token cannot learn its principal id).
  if (config.credentials?.kind === 'privateKey') ctx.resources.add('principal share', keepPrincipalShare(share), (stop) => stop());
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
