/**
 * What every benchmark script shares: a temp dir, child processes it owns (killed by
 * pid, never by name), its own redis-server on a loopback port, its own simulator, the
 * grantsweep CLI, CSV files of simulated users, and the result file.
 *
 * Every script is bounded in time: `Harness.start` arms a deadline after which the
 * script cleans up and exits 124. Ctrl-C cleans up too.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Cluster, Redis } from 'ioredis';
import { ensureEmbeddedRedis } from '../../src/redis/embedded.ts';
import { runKeys } from '../../src/redis/keys.ts';
import { ID_KIND, IdCodec } from '../../src/sim/ids.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/**
 * What the benchmarks run as `grantsweep`: the sources through tsx (bin/grantsweep.js), or with
 * `--dist` the compiled build that the Docker image runs (`npm run build` first).
 */
export const BIN = process.argv.includes('--dist') ? join(ROOT, 'dist/src/cli/main.js') : join(ROOT, 'bin/grantsweep.js');
if (!existsSync(BIN)) throw new Error(`${BIN} does not exist: run \`npm run build\` before a benchmark with --dist`);
export const RESULTS = join(ROOT, 'bench/results');
/** The engine without the CLI (bench/lib/engine.ts): what a Redis Cluster can be measured with today. */
export const ENGINE = join(ROOT, 'bench/lib/engine.ts');
export type Engine = 'cli' | 'engine';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function log(msg: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

/** A free TCP port on 127.0.0.1 (the kernel's choice; closed again before use). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export class Harness {
  readonly tmp: string;
  private readonly cleanups: (() => Promise<void> | void)[] = [];
  private readonly children = new Set<ChildProcess>();
  private closing: Promise<void> | null = null;

  private constructor(readonly name: string) {
    this.tmp = mkdtempSync(join(tmpdir(), `gs-bench-${name}-`));
  }

  /** A harness for one script; `deadlineMs` bounds the whole script. */
  static start(name: string, deadlineMs: number): Harness {
    const h = new Harness(name);
    const bail = (code: number, why: string) => {
      log(`${name}: ${why}; cleaning up`);
      void h.close().finally(() => process.exit(code));
    };
    const timer = setTimeout(() => bail(124, `deadline of ${Math.round(deadlineMs / 1000)} s reached`), deadlineMs);
    timer.unref();
    process.once('SIGINT', () => bail(130, 'interrupted'));
    process.once('SIGTERM', () => bail(143, 'terminated'));
    process.once('uncaughtException', (e) => bail(1, `uncaught ${e.stack ?? e}`));
    process.once('unhandledRejection', (e) => bail(1, `unhandled ${(e as Error)?.stack ?? e}`));
    return h;
  }

  defer(fn: () => Promise<void> | void): void {
    this.cleanups.push(fn);
  }

  /**
   * Spawns a child this harness owns. Its stderr (and its stdout, unless piped back to us)
   * goes straight to a log file in tmp: the file is the child's own fd, so this process
   * copies nothing (it shares the machine with what it measures).
   */
  spawn(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; logName: string; pipeStdout?: boolean }): ChildProcess {
    const logFile = this.logFile(opts.logName);
    const fd = openSync(logFile, 'a');
    const child = spawn(cmd, args, {
      cwd: ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', opts.pipeStdout ? 'pipe' : fd, fd],
    });
    closeSync(fd);
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  logFile(logName: string): string {
    return join(this.tmp, `${logName}.log`);
  }

  /** Stops one child: SIGTERM, then SIGKILL after `graceMs`. */
  async stop(child: ChildProcess, graceMs = 8_000): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(t);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all([...this.children].map((c) => this.stop(c, 3_000).catch(() => {})));
      for (const fn of this.cleanups.reverse()) {
        try {
          await fn();
        } catch (e) {
          log(`cleanup step failed: ${String(e)}`);
        }
      }
      if (!process.env.BENCH_KEEP_TMP) rmSync(this.tmp, { recursive: true, force: true });
      else log(`kept ${this.tmp}`);
    })();
    return this.closing;
  }
}

/**
 * A redis-server of our own (or a cluster of them): data in a temp dir, TCP on loopback
 * ports, killed by pid at the end.
 */
export interface BenchRedis {
  url: string;
  /** Every redis-server process (one, or the cluster's masters). */
  pids: number[];
  /** A client for the bench's own reads (a Cluster client for a cluster). */
  client: Redis;
  /** One plain client per server, for INFO and CONFIG. */
  nodes: Redis[];
  /** INFO of the first server. */
  info(section?: string): Promise<Record<string, string>>;
  /** CPU seconds used so far by all the servers. */
  cpu(): number;
}

async function spawnServer(h: Harness, name: string, port: number, extraArgs: string[]): Promise<{ pid: number; node: Redis }> {
  const dir = join(h.tmp, name);
  const r = await ensureEmbeddedRedis({ dir, port, extraArgs });
  if (!r.pid) throw new Error('redis-server started without a pid');
  const pid = r.pid;
  h.defer(async () => {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return;
    }
    for (let i = 0; i < 100; i++) {
      try {
        process.kill(pid, 0);
      } catch {
        return;
      }
      await sleep(50);
    }
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  });
  const node = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 3 });
  h.defer(() => void node.disconnect());
  return { pid, node };
}

export async function startRedis(h: Harness, name = 'redis', extraArgs: string[] = []): Promise<BenchRedis> {
  const port = await freePort();
  const { pid, node } = await spawnServer(h, name, port, extraArgs);
  return {
    url: `redis://127.0.0.1:${port}`,
    pids: [pid],
    client: node,
    nodes: [node],
    info: (section) => redisInfo(node, section),
    cpu: () => cpuSeconds(pid) ?? 0,
  };
}

/** A port whose cluster bus port (port + 10000) is free too. */
async function clusterPort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port + 10_000 > 65_535) continue;
    const bus = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port + 10_000, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (bus) return port;
  }
}

/** A local Redis Cluster of `masters` masters, no replicas, created with `redis-cli --cluster create`. */
export async function startCluster(h: Harness, masters = 3): Promise<BenchRedis> {
  const servers: { pid: number; node: Redis; port: number }[] = [];
  for (let i = 0; i < masters; i++) {
    const port = await clusterPort();
    const dir = join(h.tmp, `cluster-${i}`);
    const s = await spawnServer(h, `cluster-${i}`, port, [
      '--cluster-enabled', 'yes',
      '--cluster-config-file', join(dir, 'nodes.conf'),
      '--cluster-node-timeout', '5000',
    ]);
    servers.push({ ...s, port });
  }
  const create = spawnSync(
    'redis-cli',
    ['--cluster', 'create', ...servers.map((s) => `127.0.0.1:${s.port}`), '--cluster-replicas', '0', '--cluster-yes'],
    { encoding: 'utf8', timeout: 60_000 },
  );
  if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}\n${create.stderr}`);
  for (const s of servers) {
    for (let i = 0; ; i++) {
      const info = (await s.node.cluster('INFO')) as string;
      if (info.includes('cluster_state:ok')) break;
      if (i > 200) throw new Error('the cluster did not reach cluster_state:ok');
      await sleep(50);
    }
  }
  const url = `redis-cluster://${servers.map((s) => `127.0.0.1:${s.port}`).join(',')}`;
  const client = new Cluster(servers.map((s) => ({ host: '127.0.0.1', port: s.port })), { redisOptions: { maxRetriesPerRequest: 3 } });
  h.defer(() => void client.disconnect());
  return {
    url,
    pids: servers.map((s) => s.pid),
    client: client as unknown as Redis,
    nodes: servers.map((s) => s.node),
    info: (section) => redisInfo(servers[0]!.node, section),
    cpu: () => servers.reduce((a, s) => a + (cpuSeconds(s.pid) ?? 0), 0),
  };
}

export async function redisInfo(client: Redis, section = 'memory'): Promise<Record<string, string>> {
  const text = await client.info(section);
  const out: Record<string, string> = {};
  for (const line of text.split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** The simulator as a separate process (`grantsweep sim`), so it does not share our event loop. */
export interface BenchSim {
  url: string;
  token: string;
  child: ChildProcess;
  configure(patch: Record<string, unknown>): Promise<void>;
  reset(): Promise<void>;
  log(): Promise<SimLog>;
}

export interface SimLog {
  since: number;
  total: number;
  total429: number;
  byStatus: Record<string, number>;
  rejected: { bucket: number; token: number; concurrency: number };
  maxConcurrency: number;
  windows: Record<string, { start: number; count: number; rejected: number; neighbour: number }[]>;
}

export async function startSim(h: Harness, flags: string[]): Promise<BenchSim> {
  const child = h.spawn(process.execPath, [BIN, 'sim', '--port', '0', ...flags], { logName: 'sim', pipeStdout: true });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`the simulator exited with ${code}; see ${h.tmp}/sim.log`)));
  });
  const { url, token } = JSON.parse(line) as { url: string; token: string };
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${url}${path}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  };
  return {
    url,
    token,
    child,
    configure: (patch) => post('/__sim/config', patch),
    reset: () => post('/__sim/reset', {}),
    log: async () => (await (await fetch(`${url}/__sim/log`)).json()) as SimLog,
  };
}

/** The environment grantsweep reads (config/load.ts). */
export function gsEnv(o: {
  sim: BenchSim;
  redisUrl: string;
  home: string;
  windowMs?: number;
  concurrency?: number;
  maxInFlight?: number;
  rateShare?: number;
  logLevel?: string;
}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    OKTA_ORG_URL: o.sim.url,
    OKTA_API_TOKEN: o.sim.token,
    REDIS_URL: o.redisUrl,
    GRANTSWEEP_HOME: o.home,
    LOG_LEVEL: o.logLevel ?? 'info',
    NO_COLOR: '1',
  };
  if (o.windowMs !== undefined) env.GRANTSWEEP_RATE_WINDOW_MS = String(o.windowMs);
  if (o.concurrency !== undefined) env.GRANTSWEEP_CONCURRENCY = String(o.concurrency);
  if (o.maxInFlight !== undefined) env.GRANTSWEEP_MAX_IN_FLIGHT = String(o.maxInFlight);
  if (o.rateShare !== undefined) env.GRANTSWEEP_RATE_SHARE = String(o.rateShare);
  return env;
}

/** Runs a grantsweep command to its end; returns its stdout, exit code and peak RSS. */
export async function runCli(
  h: Harness,
  args: string[],
  env: NodeJS.ProcessEnv,
  opts: { logName: string; nodeArgs?: string[]; sampleMs?: number; onSample?: (rssKb: number) => void; entry?: string[]; onSpawn?: (pid: number) => void } = { logName: 'cli' },
): Promise<{ code: number | null; stdout: string; ms: number; peakRssKb: number | null; cpuSec: number | null }> {
  const started = performance.now();
  const child = h.spawn(process.execPath, [...(opts.nodeArgs ?? []), ...(opts.entry ?? [BIN]), ...args], { env, logName: opts.logName, pipeStdout: true });
  opts.onSpawn?.(child.pid!);
  let stdout = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  const mem = new PeakMemory(child.pid!, opts.sampleMs ?? 100, opts.onSample);
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  mem.stop();
  return { code, stdout, ms: performance.now() - started, peakRssKb: mem.peakKb, cpuSec: mem.cpuSec };
}

/**
 * Spawns `grantsweep worker` and waits until it has started: its "worker started" log line,
 * or (at a LOG_LEVEL that hides it) a new BullMQ connection in Redis's CLIENT LIST.
 */
export async function startWorker(
  h: Harness,
  env: NodeJS.ProcessEnv,
  name: string,
  nodeArgs: string[] = [],
  redis?: Redis,
  engine: Engine = 'cli',
): Promise<ChildProcess> {
  const level = env.LOG_LEVEL ?? 'info';
  const bullClients = async () => (redis ? (await redis.client('LIST')) as string : '').split('\n').filter((l) => / name=\{gsq\}/.test(l)).length;
  const before = await bullClients();
  const entry = engine === 'cli' ? [BIN, 'worker'] : ['--import', 'tsx', ENGINE, 'worker'];
  const child = h.spawn(process.execPath, [...nodeArgs, ...entry], { env, logName: name });
  await new Promise<void>((resolve, reject) => {
    let done = false;
    const ok = () => {
      if (done) return;
      done = true;
      resolve();
    };
    child.once('exit', (code) => {
      if (!done) reject(new Error(`worker ${name} exited with ${code}; see ${h.logFile(name)}`));
      done = true;
    });
    const viaLog = ['info', 'debug', 'trace'].includes(level);
    if (!viaLog && !redis) throw new Error('startWorker: a LOG_LEVEL above info needs the redis client to see the worker start');
    void (async () => {
      while (!done) {
        if (viaLog ? readFileSync(h.logFile(name), 'utf8').includes('worker started') : (await bullClients()) > before) {
          await sleep(viaLog ? 0 : 300);
          return ok();
        }
        await sleep(50);
      }
    })();
  });
  return child;
}

/** A process's peak resident memory so far (VmHWM, Linux), in kB; null once it has exited. */
export function peakRssKb(pid: number): number | null {
  try {
    const hwm = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
    return Number.isFinite(hwm) ? hwm : null;
  } catch {
    return null;
  }
}

/** Peak resident memory of a process: VmHWM from /proc, sampled (Linux), and its RSS to `onSample`. */
export class PeakMemory {
  peakKb: number | null = null;
  /** CPU seconds at the last sample (the process's total, close to its end). */
  cpuSec: number | null = null;
  private readonly timer: NodeJS.Timeout;
  constructor(
    private readonly pid: number,
    everyMs: number,
    private readonly onSample?: (rssKb: number) => void,
  ) {
    this.timer = setInterval(() => this.sample(), everyMs);
    this.sample();
  }
  sample(): void {
    try {
      const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
      const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]);
      const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
      if (Number.isFinite(hwm)) this.peakKb = Math.max(this.peakKb ?? 0, hwm);
      if (Number.isFinite(rss)) this.onSample?.(rss);
      this.cpuSec = cpuSeconds(this.pid) ?? this.cpuSec;
    } catch {
      /* exited */
    }
  }
  stop(): void {
    clearInterval(this.timer);
  }
}

/** CPU seconds (user + system) a process has used so far (Linux /proc). */
export function cpuSeconds(pid: number): number | null {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

/** A CSV of `count` simulated user ids (the simulator's ids for `seed`), from user index `offset`. */
export function writeUserCsv(path: string, count: number, opts: { seed?: number; offset?: number } = {}): string {
  const codec = new IdCodec('00u', opts.seed ?? 1, ID_KIND.user);
  const parts: string[] = ['userId\n'];
  let size = 6;
  const flushAt = 1 << 20;
  const chunks: string[] = [];
  for (let i = 0; i < count; i++) {
    const line = `${codec.encode((opts.offset ?? 0) + i)}\n`;
    parts.push(line);
    size += line.length;
    if (size >= flushAt) {
      chunks.push(parts.join(''));
      parts.length = 0;
      size = 0;
    }
  }
  chunks.push(parts.join(''));
  writeFileSync(path, chunks.join(''));
  return path;
}

/** The user ids of such a CSV, in order (for the baselines that do not go through grantsweep). */
export function userIds(count: number, opts: { seed?: number; offset?: number } = {}): string[] {
  const codec = new IdCodec('00u', opts.seed ?? 1, ID_KIND.user);
  return Array.from({ length: count }, (_, i) => codec.encode((opts.offset ?? 0) + i));
}

export interface Machine {
  cpu: string;
  cores: number;
  node: string;
  redis: string;
  loadavg1: number;
}

export function machine(): Machine {
  const redis = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout;
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    node: process.version,
    redis: /v=(\S+)/.exec(redis)?.[1] ?? 'unknown',
    loadavg1: Number(loadavg()[0]?.toFixed(2)),
  };
}

/** Writes bench/results/<name>.json and prints the one summary line on stdout. */
export function report(name: string, summary: string, data: Record<string, unknown>): void {
  mkdirSync(RESULTS, { recursive: true });
  const entry = BIN.includes('/dist/') ? 'dist (compiled)' : 'bin/grantsweep.js (tsx)';
  const out = { benchmark: name, summary, ...data, entry, machine: machine(), date: new Date().toISOString() };
  writeFileSync(join(RESULTS, `${name}.json`), `${JSON.stringify(out, null, 2)}\n`);
  process.stdout.write(`${summary}\n`);
}

export function hasFlag(name: string): boolean {
  return process.argv.includes(name);
}

export function flagValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** Polls a run's counts in Redis until nothing is pending; returns when it is final. */
export async function waitRunDone(
  redis: Redis,
  runId: string,
  opts: { pollMs?: number; timeoutMs: number; onPoll?: (c: Record<string, string>) => void },
): Promise<{ state: string; counts: Record<string, string>; doneAt: number }> {
  const deadline = Date.now() + opts.timeoutMs;
  const { meta: metaKey, counts: countsKey } = runKeys(runId);
  for (;;) {
    const [state, counts] = await Promise.all([redis.hget(metaKey, 'state'), redis.hgetall(countsKey)]);
    opts.onPoll?.(counts);
    if (state === 'completed' || state === 'halted' || state === 'cancelled') return { state, counts, doneAt: Date.now() };
    if (Date.now() > deadline) throw new Error(`run ${runId} still ${state} after ${opts.timeoutMs / 1000} s: ${JSON.stringify(counts)}`);
    await sleep(opts.pollMs ?? 100);
  }
}

export const round = (n: number, d = 2) => Number(n.toFixed(d));
