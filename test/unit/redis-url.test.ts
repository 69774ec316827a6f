import { describe, expect, it } from 'vitest';
import { createRedis } from '../../src/redis/connection.ts';

/** The options a REDIS_URL gives (createRedis connects lazily: nothing is dialled here). */
const optionsOf = (url: string) => {
  const r = createRedis({ url });
  const { host, port, path, db, tls } = r.options;
  r.disconnect();
  return { host, port, path, db, tls: tls !== undefined };
};

describe('REDIS_URL', () => {
  it('a database from the path of redis:// and from ?db= of unix://', () => {
    expect(optionsOf('redis://10.0.0.5:6380/2')).toMatchObject({ host: '10.0.0.5', port: 6380, db: 2, tls: false });
    expect(optionsOf('rediss://cache.example.com')).toMatchObject({ host: 'cache.example.com', port: 6379, db: 0, tls: true });
    expect(optionsOf('unix:///var/run/redis/redis.sock?db=9')).toMatchObject({ path: '/var/run/redis/redis.sock', db: 9 });
    expect(optionsOf('unix:///var/run/redis/redis.sock')).toMatchObject({ path: '/var/run/redis/redis.sock', db: 0 });
  });

  it('a database that is not a number is refused, naming it, instead of falling back to 0', () => {
    expect(() => createRedis({ url: 'redis://127.0.0.1:6379/cache' })).toThrow(/REDIS_URL: the database must be a number.*got "cache"/);
    expect(() => createRedis({ url: 'unix:///tmp/r.sock?db=two' })).toThrow(/REDIS_URL: the database must be a number.*got "two"/);
  });
});
