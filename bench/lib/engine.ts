/**
 * The engine without the CLI, for figure 5: `grantsweep enqueue` and `grantsweep worker`
 * as the CLI runs them (enqueueRun over the CSV source; a WorkerHost), but with the Redis
 * connection built straight from REDIS_URL by src/redis/connection.ts. The CLI cannot be
 * pointed at a Redis Cluster yet: config/schema.ts accepts only redis://, rediss:// and
 * unix:// in REDIS_URL (see BENCHMARKS.md).
 *
 *   node --import tsx bench/lib/engine.ts enqueue <csv> <runId> [rateShare]
 *   node --import tsx bench/lib/engine.ts worker          (until SIGTERM)
 *
 * Environment: REDIS_URL, OKTA_ORG_URL, OKTA_API_TOKEN, GRANTSWEEP_CONCURRENCY,
 * GRANTSWEEP_MAX_IN_FLIGHT, GRANTSWEEP_RATE_WINDOW_MS, LOG_LEVEL.
 */
import { createLogger } from '../../src/log.ts';
import { ApiTokenAuth } from '../../src/okta/auth.ts';
import { enqueueRun } from '../../src/queue/producer.ts';
import { WorkerHost } from '../../src/queue/worker-host.ts';
import { createRedis } from '../../src/redis/connection.ts';
import { RunStore } from '../../src/runs/run-store.ts';
import { readCsvTargets } from '../../src/sources/csv-source.ts';

const env = (name: string) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const [role, csv, runId, share] = process.argv.slice(2);
const log = createLogger({ level: process.env.LOG_LEVEL ?? 'info', pretty: false });
const redisUrl = env('REDIS_URL');
const redis = createRedis({ url: redisUrl, waitForReconnect: true });
await redis.connect();

if (role === 'enqueue') {
  const store = new RunStore(redis);
  const res = await enqueueRun(
    redis,
    store,
    {
      runId: runId!,
      orgUrl: env('OKTA_ORG_URL'),
      source: { kind: 'csv', value: csv! },
      target: { clientId: null, scopeId: null },
      dryRun: false,
      snapshot: false,
      tokens: false,
      reason: null,
      rateShare: Number(share ?? 0.5),
      pacing: 'even',
      attempts: 5,
      maxRateLimitDeferrals: 50,
    },
    readCsvTargets(csv!),
  );
  process.stdout.write(`${res.runId}\n`);
  await redis.quit();
} else if (role === 'worker') {
  const concurrency = Number(process.env.GRANTSWEEP_CONCURRENCY ?? 8);
  const host = new WorkerHost(redis, {
    redisUrl,
    orgUrl: env('OKTA_ORG_URL'),
    auth: new ApiTokenAuth(env('OKTA_API_TOKEN')),
    concurrency,
    maxInFlight: Number(process.env.GRANTSWEEP_MAX_IN_FLIGHT ?? 10),
    requestTimeoutMs: 10_000,
    rateWindowMs: Number(process.env.GRANTSWEEP_RATE_WINDOW_MS ?? 60_000),
    log,
  });
  host.start();
  log.info({ concurrency }, 'worker started');
  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
  await host.close();
  await redis.quit();
} else {
  throw new Error('usage: engine.ts enqueue <csv> <runId> [rateShare] | engine.ts worker');
}
