import { Cluster, type Redis } from 'ioredis';

/**
 * Every key matching `pattern`. SCAN walks one server's keyspace: on a Redis Cluster
 * (a Cluster client, typed as Redis where grantsweep passes connections around) each
 * master is walked in turn, since the keys may live on any of them.
 */
export async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const masters = redis instanceof Cluster ? (redis as Cluster).nodes('master') : [];
  // A cluster client that has not connected yet knows no node: one SCAN through it, as before.
  const servers: Redis[] = masters.length ? masters : [redis];
  const out: string[] = [];
  for (const server of servers) {
    let cursor = '0';
    do {
      const [next, keys] = await server.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      out.push(...keys);
    } while (cursor !== '0');
  }
  return out;
}
