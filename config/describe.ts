import { maskRedisUrl } from '../src/redis/redis-url.ts';
import { maskProxyUrl, type Config } from './schema.ts';

const MASK = '***';

/**
 * The configuration fit to show (`check --json` prints it as `settings`): every setting, with the
 * API token and private key replaced by *** and a Redis password masked in its URL.
 * Builds a new object field by field, so a secret added later is left out, not leaked.
 */
export function describeConfig(config: Config): Record<string, unknown> {
  const c = config.credentials;
  return {
    orgUrl: config.orgUrl,
    credentials:
      c === null ? null
      : c.kind === 'apiToken' ? { kind: c.kind, apiToken: MASK }
      : { kind: c.kind, clientId: c.clientId, privateKey: MASK, keyId: c.keyId },
    redisUrl: config.redisUrl === null ? null : maskRedisUrl(config.redisUrl),
    home: config.home,
    logLevel: config.logLevel,
    concurrency: config.concurrency,
    rateShare: config.rateShare,
    pacing: config.pacing,
    maxInFlight: config.maxInFlight,
    requestTimeoutMs: config.requestTimeoutMs,
    attempts: config.attempts,
    maxRateLimitDeferrals: config.maxRateLimitDeferrals,
    rateWindowMs: config.rateWindowMs,
    lockDurationMs: config.lockDurationMs,
    redisOutageMs: config.redisOutageMs,
    principalShareRefreshMs: config.principalShareRefreshMs,
    scheduleOverlapMs: config.scheduleOverlapMs,
    proxy:
      config.proxy === null ? null
      : {
          httpsProxy: config.proxy.httpsProxy === null ? null : maskProxyUrl(config.proxy.httpsProxy),
          httpProxy: config.proxy.httpProxy === null ? null : maskProxyUrl(config.proxy.httpProxy),
          noProxy: config.proxy.noProxy,
        },
    runId: config.runId,
  };
}
