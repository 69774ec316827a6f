import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulator, type SimOptions, type Simulator } from '../../src/sim/index.ts';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { connectTestRedis, redisUrl } from './redis.ts';

/**
 * A simulator for one test file: its own port, hence its own org key, queue and budget.
 * Rate limits are generous unless a test asks otherwise: most tests are about results.
 */
export async function startTestSim(opts: SimOptions = {}): Promise<Simulator> {
  return startSimulator({ users: 300, grantsPerUser: 4, seed: 7, rateLimits: 'none', ...opts, port: 0 });
}

/**
 * For one test file: a simulator (startTestSim with `opts`) and a client of the suite's
 * Redis, started before its tests and closed after them. Read them as `t.sim`, `t.redis`.
 */
export function simAndRedis(opts: SimOptions = {}): { sim: Simulator; redis: Redis } {
  const t = {} as { sim: Simulator; redis: Redis };
  beforeAll(async () => {
    t.sim = await startTestSim(opts);
    t.redis = await connectTestRedis();
  });
  afterAll(async () => {
    await t.sim?.close();
    t.redis?.disconnect();
  });
  return t;
}

/** The environment a grantsweep command needs to work against `sim` and the suite's Redis. */
export function envFor(sim: Simulator, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    OKTA_ORG_URL: sim.url,
    OKTA_API_TOKEN: sim.token,
    REDIS_URL: redisUrl(),
    GRANTSWEEP_HOME: mkdtempSync(join(tmpdir(), 'gs-home-')),
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

/** Writes a CSV into a fresh temp folder and returns its path. */
export function writeCsv(lines: string[], name = 'targets.csv'): string {
  const path = join(mkdtempSync(join(tmpdir(), 'gs-csv-')), name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}
