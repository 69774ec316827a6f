/**
 * Figure 2: grantsweep against what an administrator would write instead: a script over
 * the official @okta/okta-sdk-nodejs (`userApi.revokeUserGrants`, the SDK's default 429
 * retry: wait for X-Rate-Limit-Reset − Date + 1 s, at most 2 retries) driven by p-limit,
 * at the same concurrency, on the same simulator (user-grants bucket 600 a window), with
 * the same targets. The simulator is reset between the two (grants back, windows cleared).
 *
 *   - SDK script: in this process, `pLimit(8)` over the targets.
 *   - grantsweep: `grantsweep run --csv … --rate-share 1 --concurrency 8` (one process;
 *     share 1 = the whole bucket, like the script; the default share is 0.5), once with
 *     the default `--pacing even` and once with `--pacing window` (each window's share
 *     as soon as it opens, as the script spends it).
 *
 * Side by side: wall time, 429s (the simulator's count), failed targets.
 *
 *   node --import tsx bench/vs-sdk.ts [--quick] [--targets 2000] [--repeat 1] [--pacing even,window]
 */
import { join } from 'node:path';
import okta from '@okta/okta-sdk-nodejs';
import pLimit from 'p-limit';
import {
  type BenchSim,
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
  userIds,
  waitRunDone,
  writeUserCsv,
  type BenchRedis,
} from './lib/harness.ts';

const quick = hasFlag('--quick');
const windowSec = Number(flagValue('--window-sec') ?? (quick ? 10 : 60));
const LIMIT = 600;
const CONCURRENCY = Number(flagValue('--concurrency') ?? 8);
const targets = Number(flagValue('--targets') ?? 2000);
const repeat = Number(flagValue('--repeat') ?? 1);
const share = Number(flagValue('--rate-share') ?? 1);
const name = flagValue('--name') ?? 'vs-sdk';
/** `--pacing window` runs only that grantsweep contestant (beside the script); default both. */
const pacings = (flagValue('--pacing') ?? 'even,window').split(',') as ('even' | 'window')[];

interface Contestant {
  who: string;
  wallSec: number;
  requests: number;
  total429: number;
  failed: number;
  failures: Record<string, number>;
  completed: number;
  windows: { accepted: number; rejected: number }[];
}

async function sdkScript(sim: BenchSim, ids: string[]): Promise<Contestant> {
  await sim.reset();
  const client = new okta.Client({ orgUrl: sim.url, token: sim.token });
  const limit = pLimit(CONCURRENCY);
  let ok = 0;
  const failures: Record<string, number> = {};
  const t0 = performance.now();
  await Promise.all(
    ids.map((userId) =>
      limit(async () => {
        try {
          await client.userApi.revokeUserGrants({ userId });
          ok++;
        } catch (err) {
          const e = err as { status?: number; message?: string };
          const why = e.status ? `HTTP ${e.status}` : (e.message ?? String(err)).slice(0, 60);
          failures[why] = (failures[why] ?? 0) + 1;
        }
      }),
    ),
  );
  const wallSec = (performance.now() - t0) / 1000;
  const snap = await sim.log();
  const ws = snap.windows['user-grants'] ?? [];
  return {
    who: `@okta/okta-sdk-nodejs + p-limit(${CONCURRENCY})`,
    wallSec: round(wallSec, 1),
    requests: snap.total,
    total429: snap.total429,
    failed: ids.length - ok,
    failures,
    completed: ok,
    windows: ws.map((w) => ({ accepted: w.count, rejected: w.rejected })),
  };
}

async function grantsweep(h: Harness, sim: BenchSim, redis: BenchRedis, csv: string, trial: number, pacing: 'even' | 'window'): Promise<Contestant> {
  await sim.reset();
  const runId = `${name}-${pacing}-${trial}-${Date.now().toString(36)}`;
  const env = gsEnv({ sim, redisUrl: redis.url, home: join(h.tmp, 'home'), windowMs: windowSec * 1000 });
  const res = await runCli(
    h,
    ['run', '--csv', csv, '--yes', '--run-id', runId, '--rate-share', String(share), '--concurrency', String(CONCURRENCY), '--pacing', pacing],
    env,
    { logName: `run-${pacing}-${trial}` },
  );
  const done = await waitRunDone(redis.client, runId, { timeoutMs: 10_000 });
  const snap = await sim.log();
  const ws = snap.windows['user-grants'] ?? [];
  const failed = Number(done.counts.failed ?? 0);
  return {
    who: `grantsweep run --rate-share ${share} --concurrency ${CONCURRENCY} --pacing ${pacing} (exit ${res.code})`,
    wallSec: round(res.ms / 1000, 1),
    requests: snap.total,
    total429: snap.total429,
    failed,
    failures: failed ? { failed } : {},
    completed: Number(done.counts.total ?? 0) - Number(done.counts.pending ?? 0) - failed,
    windows: ws.map((w) => ({ accepted: w.count, rejected: w.rejected })),
  };
}

const h = Harness.start(name, (quick ? 10 : 30) * 60_000);
try {
  const redis = await startRedis(h);
  const sim = await startSim(h, ['--users', String(targets), '--seed', '1', '--rate-limit', `user-grants=${LIMIT}`, '--window-sec', String(windowSec)]);
  const csv = writeUserCsv(join(h.tmp, 'targets.csv'), targets, { seed: 1 });
  const ids = userIds(targets, { seed: 1 });
  log(`${name}: ${targets} targets, bucket ${LIMIT}/${windowSec} s, concurrency ${CONCURRENCY}, ${repeat} trial(s)`);
  const trials: { sdk: Contestant; gs?: Contestant; gsWindow?: Contestant }[] = [];
  for (let t = 0; t < repeat; t++) {
    const sdk = await sdkScript(sim, ids);
    log(`  sdk: ${sdk.wallSec} s, 429s ${sdk.total429}, failed ${sdk.failed} ${JSON.stringify(sdk.failures)}`);
    const trial: (typeof trials)[number] = { sdk };
    for (const pacing of pacings) {
      const c = await grantsweep(h, sim, redis, csv, t, pacing);
      log(`  grantsweep (pacing ${pacing}): ${c.wallSec} s, 429s ${c.total429}, failed ${c.failed}`);
      if (pacing === 'even') trial.gs = c;
      else trial.gsWindow = c;
    }
    trials.push(trial);
  }
  const last = trials[trials.length - 1]!;
  const ideal = round((targets / LIMIT) * windowSec, 1);
  const summary =
    `${name}: ${targets} targets, ${LIMIT}/${windowSec} s bucket, concurrency ${CONCURRENCY}: ` +
    (last.gs ? `grantsweep --pacing even ${last.gs.wallSec} s, ${last.gs.total429} 429s, ${last.gs.failed} failed; ` : '') +
    (last.gsWindow ? `--pacing window ${last.gsWindow.wallSec} s, ${last.gsWindow.total429} 429s, ${last.gsWindow.failed} failed; ` : '') +
    `SDK+p-limit ${last.sdk.wallSec} s, ${last.sdk.total429} 429s, ${last.sdk.failed} failed ` +
    `(time ratio${last.gs ? ` even ${round(last.gs.wallSec / last.sdk.wallSec)}` : ''}${last.gsWindow ? ` window ${round(last.gsWindow.wallSec / last.sdk.wallSec)}` : ''}; targets: no slower, ≥10× fewer 429s, 0 failed)`;
  report(name, summary, { quick, windowSec, limit: LIMIT, concurrency: CONCURRENCY, targets, share, idealSec: ideal, trials });
} finally {
  await h.close();
}
