import { configSchema, type Config } from './schema.ts';

/**
 * The bottom layer (defaults < environment < flags). Parsed through the schema at import
 * so a default that breaks its own rule fails every test, not one user's run.
 * `home` is relative here; loadConfig resolves it against the working directory.
 */
export const DEFAULTS: Config = Object.freeze(
  configSchema.parse({
    orgUrl: null,
    credentials: null,
    redisUrl: null,
    home: './.grantsweep',
    logLevel: 'info',
    concurrency: 8,
    rateShare: 0.5,
    pacing: 'even',
    maxInFlight: 10,
    requestTimeoutMs: 10_000,
    attempts: 5,
    maxRateLimitDeferrals: 50,
    lockDurationMs: 30_000,
    redisOutageMs: null,
    principalShareRefreshMs: 3_600_000,
    scheduleOverlapMs: 60_000,
    rateWindowMs: 60_000,
    proxy: null,
    runId: null,
  }),
);
