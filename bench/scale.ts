/**
 * Figure 4: scale. A 1,000,000-row CSV (user ids of a simulated org of a million users).
 *
 *   1. `grantsweep enqueue` of a 100,000-row and of the 1,000,000-row file: rows per second
 *      (wall time of the command, start-up and the validation pass included), the
 *      producer's peak RSS (VmHWM), Redis memory per pending target (INFO used_memory delta).
 *   2. The 1,000,000-target run on the unlimited simulator with `grantsweep worker`
 *      process(es): its time, Redis's peak used_memory (sampled every second, and
 *      used_memory_peak of this fresh redis-server), and Redis memory per finished result.
 *
 *   node --import tsx bench/scale.ts [--quick] [--rows 1000000] [--small 100000] [--workers 1]
 *        [--no-run]   (--quick: 200,000 and 20,000 rows)
 */
import { join } from 'node:path';
import { orgKeyOf } from '../src/queue/org.ts';
import { orgKeys, runKeys } from '../src/redis/keys.ts';
import {
  cpuSeconds,
  flagValue,
  gsEnv,
  Harness,
  hasFlag,
  log,
  peakRssKb,
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
const rows = Number(flagValue('--rows') ?? (quick ? 200_000 : 1_000_000));
const small = Number(flagValue('--small') ?? (quick ? 20_000 : 100_000));
const workersN = Number(flagValue('--workers') ?? 1);
const name = flagValue('--name') ?? 'scale';
const MB = 1024 * 1024;

const usedMemory = async (r: BenchRedis) => Number((await r.info('memory')).used_memory);

async function enqueue(h: Harness, r: BenchRedis, env: NodeJS.ProcessEnv, csv: string, n: number, runId: string) {
  await r.client.call('MEMORY', 'PURGE').catch(() => {});
  const before = await usedMemory(r);
  const res = await runCli(h, ['enqueue', '--csv', csv, '--yes', '--run-id', runId], env, { logName: `enqueue-${n}`, sampleMs: 50 });
  if (res.code !== 0) throw new Error(`enqueue of ${n} rows exited ${res.code}; see ${h.tmp}/enqueue-${n}.log`);
  const after = await usedMemory(r);
  const k = runKeys(runId);
  const createdAt = Number(await r.client.hget(k.meta, 'createdAt'));
  const targetsHash = Number(await r.client.call('MEMORY', 'USAGE', k.targets, 'SAMPLES', '1000'));
  const orderList = Number(await r.client.call('MEMORY', 'USAGE', k.order, 'SAMPLES', '1000'));
  return {
    rows: n,
    wallSec: round(res.ms / 1000, 2),
    rowsPerSec: round(n / (res.ms / 1000), 0),
    producerPeakRssMb: round((res.peakRssKb ?? 0) / 1024, 1),
    producerCpuSec: res.cpuSec,
    /** From the run's creation (after the validation pass) to the command's exit. */
    storeSec: Number.isFinite(createdAt) ? round((Date.now() - createdAt) / 1000, 2) : null,
    redisBytesPerPendingTarget: round((after - before) / n, 1),
    redisBytesPerPendingTargetKeysOnly: round((targetsHash + orderList) / n, 1),
  };
}

const h = Harness.start(name, (quick ? 15 : 75) * 60_000);
try {
  const redis = await startRedis(h);
  const sim = await startSim(h, ['--users', String(rows), '--seed', '1', '--no-rate-limit', '--concurrency-limit', '0', '--grants-per-user', '1']);
  const env = gsEnv({ sim, redisUrl: redis.url, home: join(h.tmp, 'home') });
  log(`${name}: writing ${small} and ${rows}-row CSVs`);
  const smallCsv = writeUserCsv(join(h.tmp, `targets-${small}.csv`), small, { seed: 1 });
  const bigCsv = writeUserCsv(join(h.tmp, `targets-${rows}.csv`), rows, { seed: 1 });

  const smallId = `scale-small-${Date.now().toString(36)}`;
  const enqSmall = await enqueue(h, redis, env, smallCsv, small, smallId);
  log(`  enqueue ${small}: ${enqSmall.rowsPerSec}/s, producer peak RSS ${enqSmall.producerPeakRssMb} MB, ${enqSmall.redisBytesPerPendingTarget} B/pending target`);
  // The small run is only for the producer's figures: drop it before any worker could feed it.
  const sk = runKeys(smallId);
  await redis.client.srem(orgKeys(orgKeyOf(sim.url)).active, smallId);
  await redis.client.unlink(...Object.values(sk));
  await sleep(500);

  const runId = `scale-${Date.now().toString(36)}`;
  const base = await usedMemory(redis);
  const enqBig = await enqueue(h, redis, env, bigCsv, rows, runId);
  log(`  enqueue ${rows}: ${enqBig.rowsPerSec}/s, producer peak RSS ${enqBig.producerPeakRssMb} MB, ${enqBig.redisBytesPerPendingTarget} B/pending target`);

  let run: Record<string, unknown> | null = null;
  if (!hasFlag('--no-run')) {
    let peak = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, await usedMemory(redis));
        await sleep(1000);
      }
    })();
    const t0 = Date.now();
    const workers = [];
    for (let i = 0; i < workersN; i++) workers.push(await startWorker(h, { ...env, LOG_LEVEL: 'warn' }, `worker-${i}`, [], redis.client));
    const redisCpu0 = redis.cpu();
    let last = 0;
    const done = await waitRunDone(redis.client, runId, {
      timeoutMs: (quick ? 12 : 70) * 60_000,
      pollMs: 500,
      onPoll: (c) => {
        if (Date.now() - last < 30_000) return;
        last = Date.now();
        const n = Number(c.total ?? 0) - Number(c.pending ?? 0);
        log(`  run: ${n}/${c.total} done, ${round(n / ((Date.now() - t0) / 1000), 0)}/s, redis ${round((peak - base) / MB, 1)} MB above the start`);
      },
    });
    const workerCpu = workers.reduce((a, w) => a + (cpuSeconds(w.pid!) ?? 0), 0);
    // VmHWM is the process's own peak: read once, at the end, it covers the whole run.
    const workerPeakRssMb = Math.max(...workers.map((w) => (peakRssKb(w.pid!) ?? 0) / 1024));
    const redisCpu = redis.cpu() - redisCpu0;
    sampling = false;
    await sampler;
    await Promise.all(workers.map((w) => h.stop(w)));
    await sleep(500);
    await redis.client.call('MEMORY', 'PURGE').catch(() => {});
    const after = await usedMemory(redis);
    const mem = await redis.info('memory');
    const k = runKeys(runId);
    const targetsHash = Number(await redis.client.call('MEMORY', 'USAGE', k.targets, 'SAMPLES', '1000'));
    const orderList = Number(await redis.client.call('MEMORY', 'USAGE', k.order, 'SAMPLES', '1000'));
    const wallSec = (done.doneAt - t0) / 1000;
    run = {
      workers: workersN,
      state: done.state,
      counts: done.counts,
      wallSec: round(wallSec, 1),
      targetsPerSec: round(rows / wallSec, 0),
      redisPeakUsedMb: round(peak / MB, 1),
      redisUsedMemoryPeakMb: round(Number(mem.used_memory_peak) / MB, 1),
      redisPeakRssMb: round(Number(mem.used_memory_rss) / MB, 1),
      redisBytesPerFinishedResult: round((after - base) / rows, 1),
      redisBytesPerFinishedResultKeysOnly: round((targetsHash + orderList) / rows, 1),
      workerCpuSec: round(workerCpu, 1),
      workerPeakRssMb: round(workerPeakRssMb, 1),
      redisCpuSec: round(redisCpu, 1),
    };
    log(`  run: ${done.state} in ${run.wallSec} s (${run.targetsPerSec}/s), redis peak ${run.redisPeakUsedMb} MB, ${run.redisBytesPerFinishedResult} B/finished result, worker peak RSS ${run.workerPeakRssMb} MB`);
  }

  const flat = round(enqBig.producerPeakRssMb / enqSmall.producerPeakRssMb, 2);
  const summary =
    `${name}: enqueue ${rows} rows ${enqBig.rowsPerSec}/s (≥20k), producer peak RSS ${enqSmall.producerPeakRssMb} MB @${small} → ${enqBig.producerPeakRssMb} MB @${rows} (≤200, flat), ` +
    `Redis ${enqBig.redisBytesPerPendingTarget} B/pending target` +
    (run
      ? `, ${run.redisBytesPerFinishedResult} B/finished result (<200); ${rows}-target run ${run.wallSec} s (${run.targetsPerSec}/s, ${workersN} worker), Redis peak ${run.redisUsedMemoryPeakMb} MB (≤300), worker peak RSS ${run.workerPeakRssMb} MB`
      : '');
  report(name, summary, { quick, rows, small, enqueue: [enqSmall, enqBig], producerRssGrowth: flat, run });
} finally {
  await h.close();
}
