/**
 * Figure 3: engine overhead. The simulator with no rate limit, no concurrency cap and no
 * latency; N targets (default 50,000) revoked (DELETE /api/v1/users/{id}/grants) by
 *
 *   - baseline: a plain p-limit loop over the same OktaClient at the same concurrency
 *     (no queue, no Redis, no budget), in this process;
 *   - `grantsweep run --csv` (one process: producer + worker);
 *   - `grantsweep enqueue` + 2 and 4 `grantsweep worker` processes.
 *
 * Ratio = grantsweep targets/s ÷ baseline targets/s at the same total concurrency.
 * Processing rate is measured from the first recorded result to the run's completion
 * (what the engine costs per target); end-to-end adds node start-up, CSV validation and
 * the enqueue.
 *
 *   node --import tsx bench/overhead.ts [--quick] [--targets 50000] [--concurrency 8]
 *        [--procs 1,2,4] [--repeat 2] [--cpu-prof] [--no-run] [--log-level info]
 */
import { join } from 'node:path';
import pLimit from 'p-limit';
import { ApiTokenAuth } from '../src/okta/auth.ts';
import { OktaClient } from '../src/okta/client.ts';
import {
  type BenchRedis,
  type BenchSim,
  ENGINE,
  type Engine,
  cpuSeconds,
  redisInfo,
  flagValue,
  gsEnv,
  Harness,
  hasFlag,
  log,
  report,
  round,
  runCli,
  startRedis,
  startSim,
  startWorker,
  userIds,
  waitRunDone,
  writeUserCsv,
} from './lib/harness.ts';

const quick = hasFlag('--quick');
const targets = Number(flagValue('--targets') ?? (quick ? 10_000 : 50_000));
const concurrency = Number(flagValue('--concurrency') ?? 8);
const procs = (flagValue('--procs') ?? '1,2,4').split(',').map(Number);
const repeat = Number(flagValue('--repeat') ?? (quick ? 1 : 2));
const cpuProf = hasFlag('--cpu-prof');
const name = flagValue('--name') ?? 'overhead';
/** grantsweep reaches Redis over a Unix socket (unix://) instead of TCP on 127.0.0.1. */
const unixSocket = hasFlag('--unix-socket');

async function startUnixRedis(h: Harness): Promise<BenchRedis> {
  const r = await startRedis(h);
  // The bench's redis-server is grantsweep's embedded one: it listens on a socket in its directory too.
  return { ...r, url: `unix://${join(h.tmp, 'redis', 'redis.sock')}` };
}

export interface Trial {
  mode: string;
  processes: number;
  totalConcurrency: number;
  targets: number;
  processingMs: number;
  endToEndMs: number;
  perSec: number;
  e2ePerSec: number;
  ok: number;
  failed: number;
  workerCpuSec?: number;
  /** CPU of grantsweep's processes (or the baseline loop) per target, ms; run: includes start-up and enqueue. */
  cpuMsPerTarget?: number;
  /** The same from the first result to the run's completion: what processing costs (start-up and enqueue left out). */
  processingCpuMsPerTarget?: number;
  redisCpuSec?: number;
  redisCommands?: { cmd: string; perTarget: number; usecPerTarget: number }[];
  simCpuSec?: number;
}

async function baseline(sim: BenchSim, ids: string[], conc: number): Promise<Trial> {
  const client = new OktaClient({ orgUrl: sim.url, auth: new ApiTokenAuth(sim.token), connections: conc });
  const limit = pLimit(conc);
  let ok = 0;
  let failed = 0;
  const simCpu0 = cpuSeconds(sim.child.pid!);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    ids.map((id) =>
      limit(async () => {
        try {
          await client.revokeUserGrants(id);
          ok++;
        } catch {
          failed++;
        }
      }),
    ),
  );
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  await client.close();
  return {
    mode: `p-limit loop over OktaClient`,
    processes: 1,
    totalConcurrency: conc,
    targets: ids.length,
    processingMs: ms,
    endToEndMs: ms,
    perSec: round(ids.length / (ms / 1000), 0),
    e2ePerSec: round(ids.length / (ms / 1000), 0),
    ok,
    failed,
    workerCpuSec: round((cpu.user + cpu.system) / 1e6, 2),
    cpuMsPerTarget: round((cpu.user + cpu.system) / 1e3 / ids.length, 3),
    simCpuSec: round((cpuSeconds(sim.child.pid!) ?? 0) - (simCpu0 ?? 0), 1),
  };
}

/**
 * Watches a run from the bench: the first result's time and the completion, and the CPU
 * seconds of grantsweep's processes at both (processing alone, without start-up and enqueue).
 */
async function watch(redis: BenchRedis, runId: () => string | null, timeoutMs: number, pids: () => number[] = () => []) {
  let firstResultAt: number | null = null;
  const cpu = () => pids().reduce((a, p) => a + (cpuSeconds(p) ?? 0), 0);
  let cpuAtFirst = 0;
  for (;;) {
    const id = runId();
    if (id) {
      const done = await waitRunDone(redis.client, id, {
        timeoutMs,
        pollMs: 50,
        onPoll: (c) => {
          if (firstResultAt === null && Number(c.total ?? 0) > 0 && Number(c.pending ?? 0) < Number(c.total)) {
            firstResultAt = Date.now();
            cpuAtFirst = cpu();
          }
        },
      });
      return { ...done, firstResultAt: firstResultAt ?? done.doneAt, processingCpuSec: cpu() - cpuAtFirst };
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function grantsweepTrial(
  h: Harness,
  redis: BenchRedis,
  sim: BenchSim,
  csv: string,
  k: number,
  trial: number,
  engine: Engine,
): Promise<Trial> {
  const runId = `ovh-${k}p-${trial}-${Date.now().toString(36)}`;
  const home = join(h.tmp, 'home');
  const env = gsEnv({ sim, redisUrl: redis.url, home, concurrency, maxInFlight: Math.min(75, Math.max(10, concurrency * k * 2)), logLevel: flagValue('--log-level') ?? 'info' });
  const prof = (tag: string) => (cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${join(h.tmp, 'prof')}`, `--cpu-prof-name=${tag}.cpuprofile`] : []);
  const simCpu0 = cpuSeconds(sim.child.pid!) ?? 0;
  await Promise.all(redis.nodes.map((n) => n.config('RESETSTAT')));
  const redisCpu0 = redis.cpu();
  let workerPids: number[] = [];
  let t0: number;
  let e2e: number;
  let processingMs: number;
  let processingCpu: number;
  let counts: Record<string, string>;
  const useRun = k === 1 && engine === 'cli' && !hasFlag('--no-run');
  if (useRun) {
    t0 = Date.now();
    let pid = 0;
    const watching = watch(redis, () => runId, 600_000, () => (pid ? [pid] : []));
    const res = await runCli(h, ['run', '--csv', csv, '--yes', '--run-id', runId, '--concurrency', String(concurrency)], env, {
      logName: `run-${trial}`,
      nodeArgs: prof(`run-${trial}`),
      onSpawn: (p) => (pid = p),
    });
    if (res.code !== 0) throw new Error(`grantsweep run exited ${res.code}; see ${h.tmp}/run-${trial}.log`);
    const done = await watching;
    e2e = res.ms;
    processingMs = done.doneAt - done.firstResultAt;
    processingCpu = done.processingCpuSec;
    counts = done.counts;
    return finish(res.cpuSec ?? undefined);
  } else {
    const workers = [];
    for (let i = 0; i < k; i++) workers.push(await startWorker(h, env, `worker-${k}p-${trial}-${i}`, prof(`worker-${k}p-${trial}-${i}`), redis.client, engine));
    workerPids = workers.map((w) => w.pid!);
    const cpu0 = workerPids.map((p) => cpuSeconds(p) ?? 0);
    t0 = Date.now();
    const watching = watch(redis, () => runId, 600_000, () => workerPids);
    const res =
      engine === 'cli'
        ? await runCli(h, ['enqueue', '--csv', csv, '--yes', '--run-id', runId], env, { logName: `enqueue-${k}p-${trial}` })
        : await runCli(h, ['enqueue', csv, runId], env, { logName: `enqueue-${k}p-${trial}`, entry: ['--import', 'tsx', ENGINE] });
    if (res.code !== 0) throw new Error(`grantsweep enqueue exited ${res.code}`);
    const done = await watching;
    e2e = done.doneAt - t0;
    processingMs = done.doneAt - done.firstResultAt;
    processingCpu = done.processingCpuSec;
    counts = done.counts;
    const workerCpu = workerPids.reduce((a, p, i) => a + ((cpuSeconds(p) ?? 0) - (cpu0[i] ?? 0)), 0);
    await Promise.all(workers.map((w) => h.stop(w)));
    return finish(workerCpu);
  }

  async function finish(workerCpu: number | undefined): Promise<Trial> {
    const n = Number(counts.total ?? 0);
    const sum = new Map<string, [number, number]>();
    for (const node of redis.nodes) {
      for (const [k, v] of Object.entries(await redisInfo(node, 'commandstats'))) {
        const [c, u] = sum.get(k) ?? [0, 0];
        sum.set(k, [c + Number(/calls=(\d+)/.exec(v)?.[1] ?? 0), u + Number(/usec=(\d+)/.exec(v)?.[1] ?? 0)]);
      }
    }
    const perTarget = [...sum]
      .map(([k, [calls, usec]]) => [k.replace('cmdstat_', ''), calls, usec] as const)
      .filter(([, calls]) => calls > 0)
      .sort((a, b) => b[1] - a[1])
      .map(([cmd, calls, usec]) => ({ cmd, perTarget: round(calls / n, 2), usecPerTarget: round(usec / n, 1) }));
    return {
      redisCommands: perTarget,
      mode: useRun ? 'grantsweep run' : engine === 'cli' ? `grantsweep enqueue + ${k} worker(s)` : `engine enqueue + ${k} worker(s) (bench/lib/engine.ts)`,
      processes: k,
      totalConcurrency: concurrency * k,
      targets: n,
      processingMs,
      endToEndMs: e2e,
      perSec: round(n / (processingMs / 1000), 0),
      e2ePerSec: round(n / (e2e / 1000), 0),
      ok: Number(counts.revoked ?? 0) + Number(counts.nothing_to_revoke ?? 0) + Number(counts.user_not_found ?? 0),
      failed: Number(counts.failed ?? 0),
      workerCpuSec: workerCpu === undefined ? undefined : round(workerCpu, 1),
      cpuMsPerTarget: workerCpu === undefined ? undefined : round((workerCpu * 1000) / n, 3),
      processingCpuMsPerTarget: round((processingCpu * 1000) / n, 3),
      redisCpuSec: round(redis.cpu() - redisCpu0, 1),
      simCpuSec: round((cpuSeconds(sim.child.pid!) ?? 0) - simCpu0, 1),
    };
  }
}

export async function overheadBench(opts: { redis?: BenchRedis; h: Harness; label: string; engine?: Engine }) {
  const { h } = opts;
  const redis = opts.redis ?? (unixSocket ? await startUnixRedis(h) : await startRedis(h));
  const sim = await startSim(h, ['--users', String(targets), '--seed', '1', '--no-rate-limit', '--concurrency-limit', '0']);
  const csv = writeUserCsv(join(h.tmp, 'targets.csv'), targets, { seed: 1 });
  const ids = userIds(targets, { seed: 1 });
  log(`${opts.label}: ${targets} targets, concurrency ${concurrency} per process, processes ${procs.join(',')}, ${repeat} trial(s) each`);

  const trials: Trial[] = [];
  for (let t = 0; t < repeat; t++) {
    for (const k of procs) {
      await sim.reset();
      const b = await baseline(sim, ids, concurrency * k);
      log(`  baseline c=${concurrency * k}: ${b.perSec}/s`);
      trials.push(b);
      await sim.reset();
      const g = await grantsweepTrial(h, redis, sim, csv, k, t, opts.engine ?? 'cli');
      log(`  ${g.mode}: ${g.perSec}/s processing, ${g.e2ePerSec}/s end-to-end (ratio ${round(g.perSec / b.perSec)}); cpu ms/target: grantsweep ${g.cpuMsPerTarget} (processing ${g.processingCpuMsPerTarget}), redis ${round(((g.redisCpuSec ?? 0) * 1000) / g.targets, 3)}, baseline ${b.cpuMsPerTarget}`);
      trials.push(g);
    }
  }
  const rows = procs.map((k) => {
    const mine = trials.filter((t) => t.mode !== 'p-limit loop over OktaClient' && t.processes === k);
    const base = trials.filter((t) => t.mode === 'p-limit loop over OktaClient' && t.totalConcurrency === concurrency * k);
    const med = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? 0;
    const best = (xs: number[]) => Math.max(...xs);
    const g = best(mine.map((t) => t.perSec));
    const b = best(base.map((t) => t.perSec));
    return {
      processes: k,
      totalConcurrency: concurrency * k,
      grantsweepPerSec: g,
      grantsweepPerSecAll: mine.map((t) => t.perSec),
      grantsweepE2ePerSec: best(mine.map((t) => t.e2ePerSec)),
      baselinePerSec: b,
      baselinePerSecAll: base.map((t) => t.perSec),
      ratio: round(g / b),
      ratioMedian: round(med(mine.map((t) => t.perSec)) / med(base.map((t) => t.perSec))),
      failed: mine.reduce((a, t) => a + t.failed, 0),
    };
  });
  return { targets, concurrency, repeat, rows, trials };
}

if (import.meta.filename === process.argv[1]) {
  const h = Harness.start(name, quick ? 10 * 60_000 : 40 * 60_000);
  try {
    const res = await overheadBench({ h, label: name });
    const line = res.rows.map((r) => `${r.processes}p ${r.grantsweepPerSec}/s vs ${r.baselinePerSec}/s = ${r.ratio}`).join(', ');
    report(name, `${name}: ${res.targets} targets, ratio (best of ${res.repeat}) ${line}; target ≥0.6`, { quick, ...res });
  } finally {
    await h.close();
  }
}
