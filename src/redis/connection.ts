import { isClusterUrl, parseClusterUrl } from './cluster-url.ts';
import { maskRedisUrl, parseRedisUrl } from './redis-url.ts';
import { Cluster, Redis } from 'ioredis';
import type { Socket } from 'node:net';
import { HaltError, UsageError } from '../errors.ts';

/** Options for every connection grantsweep opens; `role` picks BullMQ's required settings. */
export interface ConnectOptions {
  /**
   * `redis://`, `rediss://` or `unix:///path/to/redis.sock`; for a Redis Cluster,
   * `redis-cluster://[user:password@]host:port,host:port,…` (or `rediss-cluster://`): the
   * seed nodes, from which the client learns the rest.
   */
  url: string;
  /** Workers block on BRPOPLPUSH and must retry forever; producers fail fast. */
  role?: 'worker' | 'client';
  /**
   * Commands wait for a lost connection to come back instead of failing after a few
   * retries: for the processes that do a run's work (run, enqueue, worker, retry --wait),
   * which must live through a Redis restart. Workers' connections always do.
   */
  waitForReconnect?: boolean;
  connectTimeoutMs?: number;
}

export function createRedis(opts: ConnectOptions): Redis {
  if (isClusterUrl(opts.url)) return createCluster(opts);
  const base = parseRedisUrl(opts.url);
  const redis = new Redis({
    ...base,
    connectTimeout: opts.connectTimeoutMs ?? 5_000,
    // BullMQ requires null on blocking connections; a client fails its commands after a few tries.
    maxRetriesPerRequest: opts.role === 'worker' || opts.waitForReconnect ? null : 3,
    enableOfflineQueue: true,
    lazyConnect: true,
    retryStrategy: (times) => Math.min(100 * 2 ** times, 2_000),
    // A socket being closed is destroyed after this if the server does not close its side
    // (ioredis' 2 s default kept a command alive that long after a dead server).
    disconnectTimeout: 300,
  });
  coalesceWrites(redis);
  return redis;
}

const COALESCED = Symbol('grantsweep.coalescedWrites');

/**
 * ioredis writes every command to its socket at once: one syscall each. A worker sends
 * several per turn of its event loop (take slots, return them, record results, BullMQ's
 * own; see turn-batches.ts), and on a small VM a socket write costs more CPU than Redis
 * spends on the command. The socket stays corked until the turn's end (setImmediate:
 * after its I/O callbacks and the per-turn batches they queued, before the next poll),
 * so they leave in one write.
 */
function coalesceWrites(redis: Redis): void {
  redis.on('connect', () => {
    const socket = redis.stream as Socket & { [COALESCED]?: true };
    if (!socket || socket[COALESCED]) return;
    socket[COALESCED] = true;
    const write = socket.write;
    let corked = false;
    const uncork = () => {
      corked = false;
      socket.uncork();
    };
    socket.write = function (this: Socket, ...args: Parameters<Socket['write']>) {
      if (!corked) {
        corked = true;
        socket.cork();
        setImmediate(uncork);
      }
      return write.apply(this, args);
    } as Socket['write'];
  });
}

/** How long a command waits through a cluster's election: redirections × the wait between them, over two. */
export const CLUSTER_RETRY_DELAY_MS = 200;
export const CLUSTER_MAX_REDIRECTIONS = 600;

/**
 * A Redis Cluster client. Every key grantsweep writes carries a hash tag (src/redis/keys.ts)
 * and no script or transaction spans two tags, so the same code runs on it. It is handed
 * out as the `Redis` type: the commands grantsweep and BullMQ use exist on both.
 */
function createCluster(opts: ConnectOptions): Redis {
  const { nodes, options } = parseClusterUrl(opts.url);
  const cluster = new Cluster(nodes, {
    lazyConnect: true,
    enableOfflineQueue: true,
    clusterRetryStrategy: (times) => Math.min(100 * 2 ** times, 2_000),
    // A master that dies leaves its slots to a replica after an election (cluster-node-timeout,
    // 15 s by default, and a little more). Until then the other nodes answer MOVED to the dead
    // one, and each round trip (MOVED, then a refused connection, then a wait) counts as two
    // redirections: ioredis' 16 gave up within 2 s and failed the command. These ride out
    // about a minute of election, as a single Redis's commands wait while it restarts.
    maxRedirections: CLUSTER_MAX_REDIRECTIONS,
    retryDelayOnFailover: CLUSTER_RETRY_DELAY_MS,
    retryDelayOnClusterDown: CLUSTER_RETRY_DELAY_MS,
    retryDelayOnTryAgain: CLUSTER_RETRY_DELAY_MS,
    redisOptions: {
      ...options,
      connectTimeout: opts.connectTimeoutMs ?? 5_000,
      maxRetriesPerRequest: opts.role === 'worker' || opts.waitForReconnect ? null : 3,
      disconnectTimeout: 300,
    },
  });
  cluster.on('+node', (node: Redis) => coalesceWrites(node));
  return cluster as unknown as Redis;
}

/**
 * Connects and checks that the server will not evict BullMQ's keys.
 * Refused, or no answer within `timeoutMs` → HaltError (exit 3) naming the cause, never a hang.
 */
export async function connectChecked(opts: ConnectOptions & { timeoutMs?: number }): Promise<Redis> {
  const redis = createRedis(opts);
  const timeoutMs = opts.timeoutMs ?? 5_000;
  let timer: NodeJS.Timeout | undefined;
  let lastError = '';
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new HaltError(
            `Redis at ${maskRedisUrl(opts.url)} could not be reached within ${timeoutMs / 1000} s${lastError ? ` (${lastError})` : ''}; check REDIS_URL and that the server is running`,
          ),
        ),
      timeoutMs,
    );
  });
  // Connection errors are reported through the timeout above with the last one seen.
  redis.on('error', (err: Error) => void (lastError = redisErrorText(err)));
  try {
    await Promise.race([redis.connect(), timeout]);
    // ioredis selects the URL's database on connect, but when Redis refuses (a number past its
    // `databases`) it only emits an error and goes on in database 0: ask again, and say so.
    const db = isClusterUrl(opts.url) ? 0 : (redis.options.db ?? 0);
    if (db > 0) {
      await Promise.race([redis.select(db), timeout]).catch((e: Error) => {
        if (e instanceof HaltError) throw e;
        throw new UsageError(`REDIS_URL: Redis at ${maskRedisUrl(opts.url)} refuses database ${db} (${redisErrorText(e)}); a Redis has 16 (0–15) unless its \`databases\` setting says more`);
      });
    }
    // INFO works where CONFIG is disabled (managed Redis services).
    const info = await Promise.race([redis.info('memory'), timeout]);
    const value = /maxmemory_policy:(\S+)/.exec(info)?.[1];
    if (value !== undefined && value !== 'noeviction') {
      throw new HaltError(
        `Redis at ${maskRedisUrl(opts.url)} has maxmemory-policy ${value}; grantsweep needs noeviction ` +
          '(BullMQ loses jobs when Redis evicts keys). Set `maxmemory-policy noeviction`.',
      );
    }
    return redis;
  } catch (err) {
    // A server that accepted the connection but never answers would keep the socket
    // (and the process) alive after disconnect's FIN: drop it first, then disconnect
    // (whose own 2 s fallback timer is then cleared by the close).
    redis.stream?.destroy();
    redis.disconnect();
    if (err instanceof HaltError || err instanceof UsageError) throw err;
    const why = lastError || redisErrorText(err as Error);
    throw new HaltError(`Redis at ${maskRedisUrl(opts.url)} could not be reached: ${why}; check REDIS_URL and that the server is running`);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Gives a connection up for good, and with it every command waiting on it, which fails
 * with "Connection is closed". Between two reconnection attempts ioredis' disconnect()
 * would leave those commands waiting for ever (the socket is already closed, so no close
 * event comes to flush them); a retry strategy that answers null makes the next attempt
 * (within 2 s) the last one, and flushes them.
 */
export function abandonConnection(redis: Redis): void {
  const options = redis.options as { retryStrategy?: unknown; clusterRetryStrategy?: unknown };
  options.retryStrategy = () => null;
  if ('clusterRetryStrategy' in options) options.clusterRetryStrategy = () => null;
  if (redis.status === 'ready' || redis.status === 'connect' || redis.status === 'wait') {
    // A server that keeps the connection open and never answers would never close it either.
    (redis as Partial<Redis>).stream?.destroy();
    redis.disconnect();
  }
}

/** An ioredis error as one short line: the system error code and address when there is one. */
export function redisErrorText(err: Error): string {
  const e = err as Error & { code?: string; address?: string; port?: number };
  if (e.code && e.address) return `${e.code} ${e.address}${e.port ? `:${e.port}` : ''}`;
  return (e.message ?? String(err)).split('\n', 1)[0]!.slice(0, 200);
}

/**
 * True for the errors ioredis gives when the server went away and did not come back in
 * time (a command's retries ran out, or the connection was closed for good).
 */
export function isRedisConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return (
    err.name === 'MaxRetriesPerRequestError' ||
    /^Connection is closed\.?$/.test(err.message) ||
    /^(connect )?(ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EPIPE|EHOSTUNREACH)\b/.test(err.message) ||
    // A cluster that stayed without a master for a slot longer than the client waits.
    /^(Too many Cluster redirections|CLUSTERDOWN|Failed to refresh slots cache|None of startup nodes is available)/.test(err.message)
  );
}

/** Whether Redis answers a PING within `ms`: a health check must not wait on a server that hangs. */
export async function redisAnswers(redis: Redis, ms = 2_000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((r) => (timer = setTimeout(r, ms, null)));
  try {
    return (await Promise.race([redis.ping().catch(() => null), timeout])) === 'PONG';
  } finally {
    clearTimeout(timer);
  }
}

/**
 * How the Redis keeps what it holds across a restart: `aof` (the append-only file, which the
 * README asks for), `rdb` (snapshots only: a crash loses what came after the last), `none`
 * (a restart loses every run, its results and its queue), or null when it cannot be told
 * (CONFIG disabled, as on some managed services, and AOF off).
 */
export async function readPersistence(redis: Redis): Promise<'aof' | 'rdb' | 'none' | null> {
  const info = await redis.info('persistence');
  if (/aof_enabled:1/.test(info)) return 'aof';
  try {
    const save = (await redis.config('GET', 'save')) as string[];
    return save[1] ? 'rdb' : 'none';
  } catch {
    return null;
  }
}
