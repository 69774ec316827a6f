import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { ensureEmbeddedRedis, stopEmbeddedRedis } from '../../src/redis/embedded.ts';

/** One real redis-server for the whole suite; each test file isolates itself by prefix and run id. */
export default async function setup(project: TestProject) {
  const dir = mkdtempSync(join(tmpdir(), 'gs-test-redis-'));
  const redis = await ensureEmbeddedRedis({ dir });
  project.provide('redisUrl', redis.url);
  project.provide('redisDir', dir);
  return async () => {
    await stopEmbeddedRedis(dir);
    rmSync(dir, { recursive: true, force: true });
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    redisDir: string;
  }
}
