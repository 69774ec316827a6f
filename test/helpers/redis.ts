import { inject } from 'vitest';
import { Redis } from 'ioredis';
import { createRedis } from '../../src/redis/connection.ts';

/** The suite's real redis-server (started once by global-setup.ts). */
export function redisUrl(): string {
  return inject('redisUrl');
}

export async function connectTestRedis(): Promise<Redis> {
  const r = createRedis({ url: redisUrl(), role: 'worker' });
  await r.connect();
  return r;
}

let seq = 0;
/** A run id no other test uses, so files can run in parallel against one Redis. */
export function uniqueRunId(prefix = 't'): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${seq++}`;
}
