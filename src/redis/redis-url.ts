import type { RedisOptions } from 'ioredis';
import { UsageError } from '../errors.ts';

/*
 * A `redis://`, `rediss://` or `unix://` REDIS_URL: read into ioredis's options, and shown
 * without its password. Apart from connection.ts so that config/ can check a URL (its
 * database number too) with the other settings, without loading ioredis.
 */

/** Redis URL with the password replaced, for messages and `check`. */
export function maskRedisUrl(url: string): string {
  // Up to the last "@": a password may contain an unencoded "@" of its own. A user name before a
  // ":" is kept; userinfo with no ":" is a password alone (the cluster form takes one) and goes whole.
  // Any scheme, in any case: `REDIS://` connects as well as `redis://`.
  return url
    .replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*:).*@/i, '$1***@')
    .replace(/^([a-z][a-z0-9+.-]*:\/\/)[^:@/]+@/i, '$1***@');
}

/** A database number from a URL's path (redis://…/2) or `?db=` (unix://…?db=2); 0 when none. */
function dbNumber(text: string | null): number {
  if (text === null || text === '') return 0;
  if (!/^\d{1,5}$/.test(text)) throw new UsageError(`REDIS_URL: the database must be a number, such as redis://host:6379/2 or unix:///path/redis.sock?db=2; got "${text}"`);
  return Number(text);
}

export function parseRedisUrl(url: string): RedisOptions {
  if (url.startsWith('unix://')) {
    const [path, query] = url.slice('unix://'.length).split('?', 2) as [string, string | undefined];
    return { path, db: dbNumber(new URLSearchParams(query ?? '').get('db')) };
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`REDIS_URL is not a URL: expected redis://host:port, rediss://host:port or unix:///path`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new UsageError(`REDIS_URL must start with redis://, rediss:// or unix://, got ${u.protocol}//`);
  }
  const db = dbNumber(u.pathname.slice(1));
  return {
    host: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db,
    tls: u.protocol === 'rediss:' ? {} : undefined,
  };
}
