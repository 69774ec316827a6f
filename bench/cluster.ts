/**
 * Figure 5: beyond one Redis. The overhead benchmark (figure 3) against a local Redis
 * Cluster of three masters that this script starts (`redis-server --cluster-enabled yes`
 * on three loopback ports, then `redis-cli --cluster create … --cluster-yes`), with
 * REDIS_URL=redis-cluster://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3, and, for the cost, the
 * same benchmark against one redis-server in the same script. A run that completes with
 * every target recorded once shows that every script and transaction stays in one hash slot
 * (a cluster answers CROSSSLOT otherwise).
 *
 *   node --import tsx bench/cluster.ts [--quick] [--targets 50000] [--procs 1,2] [--repeat 1]
 */
import { flagValue, Harness, hasFlag, log, report, round, startCluster, startRedis } from './lib/harness.ts';
import { overheadBench } from './overhead.ts';

const quick = hasFlag('--quick');
const name = flagValue('--name') ?? 'cluster';
const h = Harness.start(name, (quick ? 15 : 60) * 60_000);
try {
  const cluster = await startCluster(h, 3);
  log(`${name}: cluster up at ${cluster.url}`);
  // The CLI refuses a redis-cluster:// REDIS_URL (config/schema.ts), so both sides run the
  // engine through bench/lib/engine.ts: same code, same connection module, no CLI.
  const onCluster = await overheadBench({ h, redis: cluster, label: `${name} (3-master cluster)`, engine: 'engine' });
  const single = await overheadBench({ h, redis: await startRedis(h), label: `${name} (one redis-server)`, engine: 'engine' });
  const rows = onCluster.rows.map((c) => {
    const s = single.rows.find((r) => r.processes === c.processes)!;
    return {
      processes: c.processes,
      clusterPerSec: c.grantsweepPerSec,
      singlePerSec: s.grantsweepPerSec,
      clusterVsSingle: round(c.grantsweepPerSec / s.grantsweepPerSec),
      clusterRatioVsBaseline: c.ratio,
      singleRatioVsBaseline: s.ratio,
      clusterFailed: c.failed,
    };
  });
  const line = rows.map((r) => `${r.processes}p ${r.clusterPerSec}/s vs ${r.singlePerSec}/s on one redis (×${r.clusterVsSingle}; vs p-limit ${r.clusterRatioVsBaseline})`).join(', ');
  const failed = onCluster.trials.filter((t) => t.mode !== 'p-limit loop over OktaClient').reduce((a, t) => a + t.failed + (t.targets - t.ok - t.failed), 0);
  report(name, `${name}: 3-master Redis Cluster, ${onCluster.targets} targets: ${line}; targets not revoked exactly once: ${failed}`, {
    quick,
    rows,
    cluster: onCluster,
    single,
  });
} finally {
  await h.close();
}
