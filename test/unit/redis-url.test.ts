import { describe, expect, it } from 'vitest';
import { createServer, type AddressInfo } from 'node:net';
import { redisUrlSchema } from '../../config/schema.ts';
import { parseClusterUrl } from '../../src/redis/cluster-url.ts';
import { connectChecked, createRedis } from '../../src/redis/connection.ts';
import { maskRedisUrl, parseRedisUrl } from '../../src/redis/redis-url.ts';

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

describe('redis-cluster:// URL', () => {
  it('credentials run to the last "@": a password may hold one of its own', () => {
    expect(parseClusterUrl('redis-cluster://u:p@ss@10.0.0.1:7000,10.0.0.2:7001')).toEqual({
      nodes: [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 7001 }],
      options: { username: 'u', password: 'p@ss', tls: undefined },
    });
    expect(parseClusterUrl('rediss-cluster://S3cret@[::1]:7000').options).toMatchObject({ password: 'S3cret', tls: {} });
  });
});

describe('REDIS_URL in messages', () => {
  it('a Redis that cannot be reached is named without any of its password, whatever the password holds', async () => {
    // A port nothing listens on (bound, then closed). The cluster form's password holds an "@":
    // the message's copy of the URL once kept what came after it.
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    await new Promise((r) => server.close(r));
    for (const [url, shown] of [
      [`redis-cluster://u:p@ssW0rd@127.0.0.1:${port}`, `redis-cluster://u:***@127.0.0.1:${port}`],
      [`redis://:p@ssW0rd@127.0.0.1:${port}/0`, `redis://:***@127.0.0.1:${port}/0`],
    ] as const) {
      const err = await connectChecked({ url, timeoutMs: 1_500, connectTimeoutMs: 500 }).then(() => null, (e: Error) => e);
      expect(err?.message).toContain(`Redis at ${shown} could not be reached`);
      expect(err?.message).not.toMatch(/ssW0rd|p@ss/);
    }
  });

  it('a database that is not a number is refused with the other settings, before any connection', () => {
    expect(redisUrlSchema.safeParse('redis://127.0.0.1:6379/cache').error?.issues[0]?.message).toMatch(/^the database must be a number.*got "cache"/);
    expect(redisUrlSchema.safeParse('unix:///tmp/r.sock?db=two').error?.issues[0]?.message).toMatch(/^the database must be a number.*got "two"/);
  });
});

describe('REDIS_URL credentials and databases', () => {
  it('a unix:// URL takes its password in the query or before the path, and shows it masked', () => {
    expect(parseRedisUrl('unix:///tmp/r.sock?password=UnixPass%26SECRET&db=3')).toEqual({ path: '/tmp/r.sock', db: 3, username: undefined, password: 'UnixPass&SECRET' });
    expect(parseRedisUrl('unix://app:UnixPassSECRET@/tmp/r.sock')).toEqual({ path: '/tmp/r.sock', db: 0, username: 'app', password: 'UnixPassSECRET' });
    expect(maskRedisUrl('unix:///tmp/r.sock?db=2&password=UnixPassSECRET')).toBe('unix:///tmp/r.sock?db=2&password=***');
    expect(maskRedisUrl('unix://:UnixPassSECRET@/tmp/r.sock')).toBe('unix://:***@/tmp/r.sock');
    // A password alone (no user, no ":") holding an "@" is masked to its last "@", as it is read.
    expect(maskRedisUrl('rediss-cluster://s3cr@tTAIL@10.0.0.1:7000')).toBe('rediss-cluster://***@10.0.0.1:7000');
    expect(maskRedisUrl('unix://p@ssTAIL@/tmp/r.sock')).toBe('unix://***@/tmp/r.sock');
    expect(maskRedisUrl('unix:///tmp/r.sock?password=abc&SecretTail')).toBe('unix:///tmp/r.sock?password=***');
    expect(() => parseRedisUrl('unix:///tmp/r.sock?pasword=x')).toThrow(/takes \?db=, \?password= and \?username= only/);
    // An unencoded "&" in the password: its tail reads as a parameter, refused without being shown.
    const tail = (() => { try { parseRedisUrl('unix:///tmp/r.sock?password=abc&SecretTail'); } catch (e) { return (e as Error).message; } return ''; })();
    expect(tail).toMatch(/only \(an "&" in a password is written %26\)/);
    expect(tail).not.toContain('SecretTail');
    // A "+" is a "+" (URLSearchParams would have made it a space); %-escapes are decoded.
    expect(parseRedisUrl('unix:///tmp/r.sock?password=ab+cd%26ef').password).toBe('ab+cd&ef');
    expect(() => parseRedisUrl('unix://tmp/r.sock')).toThrow(/expected unix:\/\/\/path\/to\/redis.sock \(an absolute path\)/);
  });

  it('a password that is not valid percent-encoding is refused with the settings (exit 2), never shown', () => {
    for (const url of ['redis://:Pa%ZZss@127.0.0.1:6379', 'unix://:Pa%ZZss@/tmp/r.sock', 'redis-cluster://u:Pa%ZZss@h1:7000']) {
      const message = redisUrlSchema.safeParse(url).error?.issues[0]?.message;
      expect(message).toMatch(/its password is not valid percent-encoding/);
      expect(message).not.toContain('ZZss');
    }
  });
});
