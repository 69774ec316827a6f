import type { WorkerMetrics } from '../metrics/worker-metrics.ts';
import { WorkerHost } from '../queue/worker-host.ts';
import { orgKeyOf } from '../queue/org.ts';
import { applyPrincipalShare, keepPrincipalShare } from '../queue/apply-principal-share.ts';
import { authFrom, type CliContext } from './context.ts';

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
