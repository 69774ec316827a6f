import { Redis, type RedisOptions } from 'ioredis';
import { HaltError, UsageError } from '../errors.ts';

/** Options for every connection grantsweep opens; `role` picks BullMQ's required settings. */
export interface ConnectOptions {
  /** `redis://`, `rediss://` or `unix:///path/to/redis.sock`. */
  url: string;
  /** Workers block on BRPOPLPUSH and must retry forever; producers fail fast. */
  role?: 'worker' | 'client';
  connectTimeoutMs?: number;
}

function parseRedisUrl(url: string): RedisOptions {
  if (url.startsWith('unix://')) return { path: url.slice('unix://'.length) };
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`REDIS_URL is not a URL: expected redis://host:port, rediss://host:port or unix:///path`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new UsageError(`REDIS_URL must start with redis://, rediss:// or unix://, got ${u.protocol}//`);
  }
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  return {
    host: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: Number.isFinite(db) ? db : 0,
    tls: u.protocol === 'rediss:' ? {} : undefined,
  };
}

/** Describes a Redis URL for messages without its password. */
export function describeRedisUrl(url: string): string {
  if (url.startsWith('unix://')) return url;
  try {
    const u = new URL(url);
    u.password = '';
    u.username = '';
    return u.toString();
  } catch {
    return '(unparseable REDIS_URL)';
  }
}

export function createRedis(opts: ConnectOptions): Redis {
  const base = parseRedisUrl(opts.url);
  return new Redis({
    ...base,
    connectTimeout: opts.connectTimeoutMs ?? 5_000,
    // BullMQ requires null on blocking connections; a client fails its commands after a few tries.
    maxRetriesPerRequest: opts.role === 'worker' ? null : 3,
    enableOfflineQueue: true,
    lazyConnect: true,
    retryStrategy: (times) => Math.min(100 * 2 ** times, 2_000),
  });
}

/**
 * Connects and checks that the server will not evict BullMQ's keys.
 * Unreachable within `timeoutMs` → HaltError (exit 3), never a hang.
 */
export async function connectChecked(opts: ConnectOptions & { timeoutMs?: number }): Promise<Redis> {
  const redis = createRedis(opts);
  const timeoutMs = opts.timeoutMs ?? 8_000;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new HaltError(`Redis at ${describeRedisUrl(opts.url)} could not be reached within ${timeoutMs / 1000} s`)),
      timeoutMs,
    );
  });
  redis.on('error', () => {}); // reported through the promise below and by retries
  try {
    await Promise.race([redis.connect(), timeout]);
    // INFO works where CONFIG is disabled (managed Redis services).
    const info = await Promise.race([redis.info('memory'), timeout]);
    const value = /maxmemory_policy:(\S+)/.exec(info)?.[1];
    if (value !== undefined && value !== 'noeviction') {
      throw new HaltError(
        `Redis at ${describeRedisUrl(opts.url)} has maxmemory-policy ${value}; grantsweep needs noeviction ` +
          '(BullMQ loses jobs when Redis evicts keys). Set `maxmemory-policy noeviction`.',
      );
    }
    return redis;
  } catch (err) {
    redis.disconnect();
    if (err instanceof HaltError || err instanceof UsageError) throw err;
    throw new HaltError(`Redis at ${describeRedisUrl(opts.url)} could not be reached: ${(err as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
}
