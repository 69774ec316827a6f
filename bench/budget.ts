/**
 * Figure 1: budget use with Okta's real windows. The simulator with 60-second windows and
 * a user-grants bucket of 600 a window; a run at --rate-share 0.5 (300 a window) over
 * three `grantsweep worker` processes, long enough for at least four full windows.
 *
 *   phase "alone":     no one else uses the bucket. Achieved requests per full window
 *                      (the simulator's own per-window count) ÷ 300; 429s (target 0).
 *   phase "neighbour": a noisy neighbour spends 30 % of every window from 1.5 windows
 *                      after the run's first request until 3.5 windows. 429s (≤ 1 %),
 *                      the run completes, and its rate settles within one window of the
 *                      neighbour starting or stopping.
 *   phase "squeeze" (--squeeze): the run asks for --rate-share 0.9 while the neighbour
 *                      takes 30 %: the shares overlap, so only the response headers can
 *                      keep the run out of 429s.
 *
 *   node --import tsx bench/budget.ts            # ~12 minutes (60 s windows)
 *   node --import tsx bench/budget.ts --quick    # ~2 minutes (10 s windows, GRANTSWEEP_RATE_WINDOW_MS=10000)
 */
import { join } from 'node:path';
import {
  type BenchSim,
  cpuSeconds,
  flagValue,
  redisInfo,
  gsEnv,
  Harness,
  hasFlag,
  log,
  report,
  round,
  runCli,
  sleep,
  startRedis,
  startSim,
  startWorker,
  waitRunDone,
  writeUserCsv,
  type BenchRedis,
} from './lib/harness.ts';

const quick = hasFlag('--quick');
const windowSec = Number(flagValue('--window-sec') ?? (quick ? 10 : 60));
const windowMs = windowSec * 1000;
const LIMIT = 600;
const SHARE = 0.5;
const NEIGHBOUR = 0.3;
const WORKERS = Number(flagValue('--workers') ?? 3);
/** Run length in windows at the run's budget: ≥ 4 full windows, and room for the settle after the neighbour stops. */
const RUN_WINDOWS = Number(flagValue('--windows') ?? 5.4);
const name = flagValue('--name') ?? 'budget';
/** `--pacing window`: the run hands out each window's share at its opening (default even). */
const PACING = flagValue('--pacing') ?? 'even';
/** The squeeze phase's share (default 0.9). */
const SQUEEZE_SHARE = Number(flagValue('--squeeze-share') ?? 0.9);

interface Sample {
  t: number;
  /** Accepted user-grants requests since the simulator's reset (all windows). */
  accepted: number;
  rejected: number;
}

interface PhaseResult {
  phase: string;
  share: number;
  runId: string;
  targets: number;
  state: string;
  failed: number;
  wallSec: number;
  requests: number;
  total429: number;
  rate429: number;
  budgetPerWindow: number;
  windows: { start: number; accepted: number; rejected: number; neighbour: number; full: boolean; use: number }[];
  fullWindows: number;
  useMin: number | null;
  useMean: number | null;
  events: { what: string; at: number; windowsIntoRun: number; settleWindows: number | null; steadyPerSec: number }[];
  workerCpuSec: number;
  redisCpuSec: number;
  redisCallsPerTarget: { evalsha: number; all: number };
  timeline: { t: number; perSec: number }[];
}

async function phase(
  h: Harness,
  sim: BenchSim,
  redis: BenchRedis,
  env: NodeJS.ProcessEnv,
  csv: string,
  targets: number,
  workerPids: number[],
  p: { phase: string; share: number; neighbourOn?: number; neighbourOff?: number },
): Promise<PhaseResult> {
  await sim.configure({ noisyNeighbour: null });
  await sim.reset();
  const runId = `${name}-${p.phase}-${Date.now().toString(36)}`;
  const cpu0 = workerPids.map((pid) => cpuSeconds(pid) ?? 0);
  const redisCpu0 = redis.cpu();
  await redis.client.config('RESETSTAT');
  const samples: Sample[] = [];
  let sampling = true;
  const sampleEvery = Math.max(100, Math.round(windowMs / 60));
  const sampler = (async () => {
    while (sampling) {
      const l = await sim.log();
      const ws = l.windows['user-grants'] ?? [];
      samples.push({ t: Date.now(), accepted: ws.reduce((a, w) => a + w.count, 0), rejected: ws.reduce((a, w) => a + w.rejected, 0) });
      await sleep(sampleEvery);
    }
  })();

  const t0 = Date.now();
  const enq = await runCli(h, ['enqueue', '--csv', csv, '--yes', '--run-id', runId, '--rate-share', String(p.share), '--pacing', PACING], env, { logName: `enqueue-${p.phase}` });
  if (enq.code !== 0) throw new Error(`enqueue exited ${enq.code}`);

  // The simulator's window starts at the bucket's first request.
  let firstAt = 0;
  while (!firstAt) {
    const ws = (await sim.log()).windows['user-grants'] ?? [];
    if (ws[0]) firstAt = ws[0].start;
    else await sleep(20);
  }
  const events: { what: string; at: number }[] = [];
  const timers: NodeJS.Timeout[] = [];
  const at = (w: number | undefined, what: string, patch: Record<string, unknown>) => {
    if (w === undefined) return;
    timers.push(
      setTimeout(() => {
        events.push({ what, at: Date.now() });
        void sim.configure(patch).then(() => log(`  ${p.phase}: ${what}`));
      }, Math.max(0, firstAt + w * windowMs - Date.now())),
    );
  };
  at(p.neighbourOn, `neighbour starts spending ${NEIGHBOUR * 100} %`, { noisyNeighbour: { share: NEIGHBOUR } });
  at(p.neighbourOff, 'neighbour stops', { noisyNeighbour: null });

  const budgetPerWindow = LIMIT * p.share;
  const expectMs = (targets / (budgetPerWindow * 0.99)) * windowMs;
  const done = await waitRunDone(redis.client, runId, {
    timeoutMs: expectMs * 2 + 60_000,
    pollMs: 200,
    onPoll: (() => {
      let last = 0;
      return (c) => {
        if (Date.now() - last < windowMs / 2) return;
        last = Date.now();
        log(`  ${p.phase}: ${Number(c.total ?? 0) - Number(c.pending ?? 0)}/${c.total} done, ${((Date.now() - firstAt) / windowMs).toFixed(2)} windows in`);
      };
    })(),
  });
  timers.forEach(clearTimeout);
  sampling = false;
  await sampler;
  await sim.configure({ noisyNeighbour: null });
  const snap = await sim.log();
  const workerCpu = workerPids.reduce((a, pid, i) => a + ((cpuSeconds(pid) ?? 0) - (cpu0[i] ?? 0)), 0);
  const redisCpu = redis.cpu() - redisCpu0;
  const stats = await redisInfo(redis.client, 'commandstats');
  const calls = (cmd: string) => Number(/calls=(\d+)/.exec(stats[`cmdstat_${cmd}`] ?? '')?.[1] ?? 0);

  const ws = snap.windows['user-grants'] ?? [];
  const windows = ws.map((w) => {
    const full = w.start + windowMs <= done.doneAt;
    return { start: w.start, accepted: w.count, rejected: w.rejected, neighbour: w.neighbour, full, use: round(w.count / budgetPerWindow, 3) };
  });
  const full = windows.filter((w) => w.full);
  const requests = ws.reduce((a, w) => a + w.count + w.rejected, 0);
  const total429 = snap.total429;

  // The run's request rate over time, from the simulator's counts: over a quarter window,
  // then the median of three neighbouring points (one late sample is not a change of pace).
  const smooth = windowMs / 4;
  const raw: { t: number; perSec: number }[] = [];
  for (let i = 0, j = 0; i < samples.length; i++) {
    const s = samples[i]!;
    while (j < i && s.t - samples[j + 1]!.t >= smooth) j++;
    const a = samples[j]!;
    if (s.t - a.t >= smooth * 0.9) raw.push({ t: s.t, perSec: ((s.accepted - a.accepted) * 1000) / (s.t - a.t) });
  }
  const timeline = raw.map((x, i) => {
    const near = raw.slice(Math.max(0, i - 1), i + 2).map((y) => y.perSec).sort((a, b) => a - b);
    return { t: x.t, perSec: near[Math.floor(near.length / 2)]! };
  });
  const lastRequestAt = done.doneAt;
  const evs = events.map((e) => {
    // Steady: the rate in the smoothing span before the event (the run's pace when it happened).
    const before = timeline.filter((x) => x.t <= e.at && x.t > e.at - smooth && x.t > firstAt + smooth);
    const steady = before.length ? before.reduce((a, x) => a + x.perSec, 0) / before.length : (budgetPerWindow * 0.99) / windowSec;
    const next = events.find((o) => o.at > e.at)?.at ?? lastRequestAt - smooth;
    const after = timeline.filter((x) => x.t > e.at + smooth && x.t <= next);
    // The last moment after the event when the smoothed rate was more than 10 % off the steady pace.
    const off = after.filter((x) => Math.abs(x.perSec - steady) > steady * 0.1);
    const settle = after.length === 0 ? null : off.length === 0 ? 0 : (off[off.length - 1]!.t - e.at) / windowMs;
    return { what: e.what, at: e.at, windowsIntoRun: round((e.at - firstAt) / windowMs), settleWindows: settle === null ? null : round(settle), steadyPerSec: round(steady) };
  });

  return {
    phase: p.phase,
    share: p.share,
    runId,
    targets,
    state: done.state,
    failed: Number(done.counts.failed ?? 0),
    wallSec: round((done.doneAt - t0) / 1000, 1),
    requests,
    total429,
    rate429: requests ? round(total429 / requests, 4) : 0,
    budgetPerWindow,
    windows,
    fullWindows: full.length,
    useMin: full.length ? Math.min(...full.map((w) => w.use)) : null,
    useMean: full.length ? round(full.reduce((a, w) => a + w.use, 0) / full.length, 3) : null,
    events: evs,
    workerCpuSec: round(workerCpu, 1),
    redisCpuSec: round(redisCpu, 1),
    redisCallsPerTarget: { evalsha: round(calls('evalsha') / targets, 1), all: round(Object.keys(stats).reduce((a, k) => a + calls(k.replace('cmdstat_', '')), 0) / targets, 1) },
    timeline: timeline.filter((_, i) => i % Math.max(1, Math.round(samples.length / 400)) === 0).map((x) => ({ t: x.t, perSec: round(x.perSec) })),
  };
}

const h = Harness.start(name, (quick ? 10 : 30) * 60_000);
try {
  const targets = Math.ceil(LIMIT * SHARE * 0.99 * RUN_WINDOWS);
  const redis = await startRedis(h);
  const sim = await startSim(h, ['--users', String(targets), '--seed', '1', '--rate-limit', `user-grants=${LIMIT}`, '--window-sec', String(windowSec)]);
  const csv = writeUserCsv(join(h.tmp, 'targets.csv'), targets, { seed: 1 });
  const env = gsEnv({ sim, redisUrl: redis.url, home: join(h.tmp, 'home'), windowMs });
  log(`${name}: ${targets} targets, bucket ${LIMIT}/${windowSec} s, share ${SHARE}, ${WORKERS} workers`);
  const workers = [];
  for (let i = 0; i < WORKERS; i++) workers.push(await startWorker(h, env, `worker-${i}`, [], redis.client));
  const pids = workers.map((w) => w.pid!);

  const phases: PhaseResult[] = [];
  phases.push(await phase(h, sim, redis, env, csv, targets, pids, { phase: 'alone', share: SHARE }));
  log(`  alone: use per full window ${phases[0]!.windows.filter((w) => w.full).map((w) => w.use).join(', ')}; 429s ${phases[0]!.total429}`);
  phases.push(await phase(h, sim, redis, env, csv, targets, pids, { phase: 'neighbour', share: SHARE, neighbourOn: 1.5, neighbourOff: 3.5 }));
  log(`  neighbour: use ${phases[1]!.windows.filter((w) => w.full).map((w) => w.use).join(', ')}; 429s ${phases[1]!.total429}; settle ${phases[1]!.events.map((e) => e.settleWindows).join(', ')} windows`);
  if (hasFlag('--squeeze')) {
    phases.push(await phase(h, sim, redis, env, csv, targets, pids, { phase: 'squeeze', share: SQUEEZE_SHARE, neighbourOn: 0, neighbourOff: undefined }));
  }
  await Promise.all(workers.map((w) => h.stop(w)));

  const [alone, nb] = [phases[0]!, phases[1]!];
  const settle = Math.max(...nb.events.map((e) => e.settleWindows ?? Infinity));
  const summary =
    `${name}: ${windowSec} s windows, share ${SHARE}, ${WORKERS} workers: alone ${alone.fullWindows} full windows, use min ${alone.useMin} mean ${alone.useMean} (target ≥0.97), 429s ${alone.total429} (target 0); ` +
    `neighbour 30 %: 429s ${nb.total429}/${nb.requests} = ${round(nb.rate429 * 100)} % (≤1 %), ${nb.state}, settles within ${settle} window (≤1), use min ${nb.useMin}`;
  report(name, summary, { quick, windowSec, limit: LIMIT, share: SHARE, pacing: PACING, squeezeShare: SQUEEZE_SHARE, neighbour: NEIGHBOUR, workers: WORKERS, targets, phases });
} finally {
  await h.close();
}
