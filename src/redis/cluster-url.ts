import type { RedisOptions } from 'ioredis';
import { UsageError } from '../errors.ts';
import { decoded } from './redis-url.ts';

/*
 * `redis-cluster://[user:password@]host:port,host:port,…` (or `rediss-cluster://`): the seed
 * nodes of a Redis Cluster. Apart from connection.ts so that config/ can check a URL without
 * loading ioredis.
 */
// The credentials run to the last "@" (a password may hold one of its own); the hosts hold none.
const CLUSTER_URL = /^(rediss?)-cluster:\/\/(?:([^/]*)@)?([^@/?#]+)\/?$/;

/** The seed nodes and credentials of a `redis-cluster://` URL. */
export function parseClusterUrl(url: string): { nodes: { host: string; port: number }[]; options: RedisOptions } {
  const m = CLUSTER_URL.exec(url);
  if (!m) throw new UsageError('REDIS_URL: expected redis-cluster://host:port,host:port,… for a Redis Cluster');
  const [, scheme, auth, hosts] = m;
  const nodes = hosts!.split(',').map((hp) => {
    const i = hp.lastIndexOf(':');
    const host = (i > 0 ? hp.slice(0, i) : hp).replace(/^\[|\]$/g, '');
    const port = i > 0 ? Number(hp.slice(i + 1)) : 6379;
    if (!host || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new UsageError(`REDIS_URL: "${hp}" is not host:port (redis-cluster://host:port,host:port,…)`);
    }
    return { host, port };
  });
  const [user, pass] = auth ? (auth.includes(':') ? [auth.slice(0, auth.indexOf(':')), auth.slice(auth.indexOf(':') + 1)] : ['', auth]) : ['', ''];
  return {
    nodes,
    options: {
      username: user ? decoded('user name', user) : undefined,
      password: pass ? decoded('password', pass) : undefined,
      tls: scheme === 'rediss' ? {} : undefined,
    },
  };
}

export function isClusterUrl(url: string): boolean {
  return /^rediss?-cluster:\/\//.test(url);
}
