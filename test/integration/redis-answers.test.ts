import { createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createRedis, redisAnswers } from '../../src/redis/connection.ts';
import { redisUrl } from '../helpers/redis.ts';

/** The health checks (`/healthz` of the worker and of the dashboard) ask this: it must not wait on a server that hangs. */
describe('redisAnswers', () => {
  it('is true for a Redis that answers, false within its limit for one that accepts and never answers', async () => {
    const good = createRedis({ url: redisUrl(), role: 'worker' });
    try {
      expect(await redisAnswers(good)).toBe(true);
    } finally {
      good.disconnect();
    }
    const sockets: Socket[] = [];
    const silent = createServer((s) => void sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const hung = createRedis({ url: `redis://127.0.0.1:${(silent.address() as { port: number }).port}`, role: 'worker' });
    hung.on('error', () => {});
    try {
      // A server that never answers: false at the limit (a hang would time the test out).
      expect(await redisAnswers(hung, 300)).toBe(false);
    } finally {
      hung.disconnect();
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });
});
