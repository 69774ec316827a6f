import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join, resolve } from 'node:path';
import { HaltError, UsageError } from '../errors.ts';

/**
 * The embedded default: a local redis-server that grantsweep starts on demand with
 * its data in GRANTSWEEP_HOME (append-only, noeviction, unix socket) and leaves
 * running, so that status/report/retry of an earlier run still work.
 */
export interface EmbeddedRedis {
  url: string;
  socket: string;
  pid: number | null;
  startedNow: boolean;
}

const START_TIMEOUT_MS = 10_000;

function redisServerPath(): string {
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  const path = found.stdout.trim();
  if (found.status !== 0 || !path) {
    throw new HaltError(
      'redis-server is not installed. Install it (Debian/Ubuntu: `sudo apt-get install redis-server`; macOS: `brew install redis`) ' +
        'or point REDIS_URL at a Redis you run (maxmemory-policy noeviction).',
    );
  }
  return path;
}

function ping(socket: string, timeoutMs = 500): Promise<boolean> {
  return new Promise((done) => {
    const conn = createConnection(socket);
    const timer = setTimeout(() => {
      conn.destroy();
      done(false);
    }, timeoutMs);
    conn.once('error', () => {
      clearTimeout(timer);
      done(false);
    });
    conn.once('connect', () => conn.write('PING\r\n'));
    conn.once('data', (data) => {
      clearTimeout(timer);
      conn.destroy();
      done(data.toString().startsWith('+PONG'));
    });
  });
}

export interface StartRedisOptions {
  /** Folder for the socket, the AOF and the pid file. */
  dir: string;
  /** Listen on this loopback TCP port too (0 = none). Tests and benchmarks use it. */
  port?: number;
  /** Extra `--key value` arguments (e.g. for a cluster node). */
  extraArgs?: string[];
}

/** The longest Unix socket path the kernel takes (108 bytes of sun_path, with its NUL). */
const MAX_SOCKET_PATH_BYTES = 107;

/** The embedded redis-server's folder under GRANTSWEEP_HOME. */
export const embeddedRedisDir = (home: string) => join(home, 'redis');

/** Its Unix socket: the only way it is reached (it listens on no TCP port). */
export const embeddedRedisSocket = (dir: string) => join(resolve(dir), 'redis.sock');

/** The socket of the embedded redis-server of `dir` when one answers there, else null (a socket file left by a crash is not a server). */
export async function runningEmbeddedRedis(dir: string): Promise<string | null> {
  const socket = embeddedRedisSocket(dir);
  return (await ping(socket)) ? socket : null;
}

/** Starts (or finds already running) a redis-server whose data lives in `dir`. */
export async function ensureEmbeddedRedis(opts: StartRedisOptions): Promise<EmbeddedRedis> {
  const dir = resolve(opts.dir);
  // The kernel's own file systems take no folder, and Node's recursive mkdir spins on /proc for ever.
  if (/^\/(proc|sys)(\/|$)/.test(dir)) {
    throw new UsageError(`GRANTSWEEP_HOME: cannot make the embedded Redis's folder ${dir} (it is under /${dir.split('/')[1]}, the kernel's); set GRANTSWEEP_HOME to a folder of yours, or REDIS_URL`);
  }
  // A Unix socket's path has room for 107 bytes (sun_path); redis-server would fail to start, saying so only in its log.
  const socket = embeddedRedisSocket(dir);
  const socketBytes = Buffer.byteLength(socket);
  if (socketBytes > MAX_SOCKET_PATH_BYTES) {
    throw new UsageError(`GRANTSWEEP_HOME: the embedded Redis's socket ${socket} would be ${socketBytes} bytes long, and a Unix socket's path holds at most ${MAX_SOCKET_PATH_BYTES}; set GRANTSWEEP_HOME to a shorter folder, or REDIS_URL`);
  }
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    const why = code === 'ENOTDIR' || code === 'EEXIST' ? 'a part of it is a file, not a folder' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code;
    throw new UsageError(`GRANTSWEEP_HOME: cannot make the embedded Redis's folder ${dir} (${why}); set GRANTSWEEP_HOME to a folder of yours, or REDIS_URL`);
  }
  const url = `unix://${socket}`;
  const pidFile = join(dir, 'redis.pid');
  if (existsSync(socket) && (await ping(socket))) {
    const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) || null : null;
    return { url, socket, pid, startedNow: false };
  }
  const args = [
    '--dir', dir,
    '--unixsocket', socket,
    '--unixsocketperm', '700',
    '--port', String(opts.port ?? 0),
    '--bind', '127.0.0.1',
    '--appendonly', 'yes',
    '--appendfsync', 'everysec',
    '--maxmemory-policy', 'noeviction',
    '--save', '',
    '--pidfile', pidFile,
    '--logfile', join(dir, 'redis.log'),
    '--daemonize', 'no',
    ...(opts.extraArgs ?? []),
  ];
  const child = spawn(redisServerPath(), args, { detached: true, stdio: 'ignore' });
  child.unref();
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    if (await ping(socket)) return { url, socket, pid: child.pid ?? null, startedNow: true };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new HaltError(`redis-server did not start within ${START_TIMEOUT_MS / 1000} s; see ${join(dir, 'redis.log')}`);
}

/** Stops the embedded redis-server of `dir` (SHUTDOWN keeps the AOF). */
export async function stopEmbeddedRedis(dir: string): Promise<boolean> {
  const socket = embeddedRedisSocket(dir);
  if (!(await ping(socket))) return false;
  await new Promise<void>((done) => {
    const conn = createConnection(socket);
    conn.once('error', () => done());
    conn.once('connect', () => conn.end('SHUTDOWN\r\n'));
    conn.once('close', () => done());
  });
  return true;
}
