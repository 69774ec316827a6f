import type { RedisOptions } from 'ioredis';
import { UsageError } from '../errors.ts';
import { PERCENT_RULE, percentDecoded } from '../percent-decoding.ts';

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
  // A unix:// URL's password may be in its query (`?password=`): masked to the end, as an "&" of
  // its own would otherwise show what follows it.
  return url
    .replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*:).*@/i, '$1***@')
    .replace(/^([a-z][a-z0-9+.-]*:\/\/)[^:/]+@/i, '$1***@')
    .replace(/([?&]password=).*$/i, '$1***');
}

/** A database number from a URL's path (redis://…/2) or `?db=` (unix://…?db=2); 0 when none. */
function dbNumber(text: string | null): number {
  if (text === null || text === '') return 0;
  if (!/^\d{1,5}$/.test(text)) throw new UsageError(`REDIS_URL: the database must be a number, such as redis://host:6379/2 or unix:///path/redis.sock?db=2; got "${text}"`);
  return Number(text);
}

/** A percent-encoded user name or password, decoded; a malformed one is named, never shown. */
export function decoded(part: 'user name' | 'password', text: string): string {
  const d = percentDecoded(text);
  if (d === null) throw new UsageError(`REDIS_URL: its ${part} ${PERCENT_RULE}`);
  return d;
}

/** What a unix:// URL's query may set; anything else is a typo that would otherwise go unseen. */
const UNIX_QUERY = new Set(['db', 'password', 'username']);

/**
 * `unix:///path/redis.sock`, with `?db=N`, and a password as `?password=…` (and `&username=…`)
 * or before the path (`unix://user:password@/path/redis.sock`).
 */
function parseUnixUrl(url: string): RedisOptions {
  const [rest, query] = url.slice('unix://'.length).split('?', 2) as [string, string | undefined];
  const m = /^(?:([^/]*)@)?(\/.*)$/.exec(rest);
  if (!m) throw new UsageError('REDIS_URL: expected unix:///path/to/redis.sock (an absolute path), with ?db=N or ?password=… if needed');
  // Read by hand, not by URLSearchParams, which takes a "+" for a space (generated passwords hold "+").
  const params = new Map<string, string>();
  for (const pair of (query ?? '').split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const key = eq < 0 ? pair : pair.slice(0, eq);
    // The name is not shown: after a password's unencoded "&", it is the password's tail.
    if (!UNIX_QUERY.has(key)) throw new UsageError('REDIS_URL: a unix:// URL takes ?db=, ?password= and ?username= only (an "&" in a password is written %26)');
    const value = eq < 0 ? '' : pair.slice(eq + 1);
    params.set(key, key === 'db' ? value : decoded(key === 'password' ? 'password' : 'user name', value));
  }
  const auth = m[1] ?? '';
  const colon = auth.indexOf(':');
  const user = colon >= 0 ? auth.slice(0, colon) : '';
  const pass = colon >= 0 ? auth.slice(colon + 1) : auth;
  const username = user ? decoded('user name', user) : params.get('username') || undefined;
  const password = pass ? decoded('password', pass) : params.get('password') || undefined;
  return { path: m[2]!, db: dbNumber(params.get('db') ?? null), username, password };
}

export function parseRedisUrl(url: string): RedisOptions {
  if (url.startsWith('unix://')) return parseUnixUrl(url);
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
    username: u.username ? decoded('user name', u.username) : undefined,
    password: u.password ? decoded('password', u.password) : undefined,
    db,
    tls: u.protocol === 'rediss:' ? {} : undefined,
  };
}
