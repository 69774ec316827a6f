import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { orgKeyOf, queueNameOf } from '../../src/queue/org.ts';
import { RunStore } from '../../src/runs/run-store.ts';
import { startSimulator, type Simulator } from '../../src/sim/index.ts';
import { runCli, spawnCli } from '../helpers/cli.ts';
import { leaversCsv, simEnv, tempDir, until, type TempDir } from '../helpers/operator.ts';
import { connectTestRedis, uniqueRunId } from '../helpers/redis.ts';

/** `name{labels} value` lines of the Prometheus text format, as a lookup by name and labels. */
function parseMetrics(text: string) {
  const samples: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  const find = (name: string, labels: Record<string, string> = {}) =>
    samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return {
    names: new Set(samples.map((s) => s.name)),
    value: (name: string, labels: Record<string, string> = {}) => {
      const hits = find(name, labels);
      return hits.length === 0 ? undefined : hits.reduce((n, s) => n + s.value, 0);
    },
    find,
  };
}

describe('grantsweep worker --metrics-port', () => {
  let sim: Simulator;
  let dir: TempDir;
  let redis: Redis;
  let store: RunStore;
  let worker: ReturnType<typeof spawnCli> | null = null;

  beforeAll(async () => {
    // A per-token cap under the run's share: the run meets 429s, which the metrics must count.
    sim = await startSimulator({ users: 200, windowSec: 1, rateLimits: { 'user-grants': 20, 'user-get': 1000 }, perTokenShare: 0.3 });
    dir = tempDir();
    redis = await connectTestRedis();
    store = new RunStore(redis);
  });

  afterAll(async () => {
    if (worker && worker.child.exitCode === null) {
      worker.child.kill('SIGKILL');
      await worker.done;
    }
    await sim.close();
    await redis.quit();
    dir.remove();
  });

  it('serves /healthz and /metrics with requests, 429s, remaining budget, targets, durations, queue depth and process metrics', async () => {
    const env = simEnv(sim, dir.path, { GRANTSWEEP_RATE_WINDOW_MS: '1000', LOG_LEVEL: 'info' });
    worker = spawnCli(['worker', '--metrics-port', '0', '--concurrency', '4'], env);
    const base = await until(async () => /metrics: (http:\/\/127\.0\.0\.1:\d+)\/metrics/.exec(worker!.output().stderr)?.[1], 'the metrics server', 30_000);

    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.text()).toBe('ok\n');
    expect((await fetch(`${base}/nope`)).status).toBe(404);

    const users = sim.org.sampleUsers({ count: 16, status: 'ACTIVE', minGrants: 1 });
    const ghosts = ['00uzzzzzzzzzzzzzzzz1', '00uzzzzzzzzzzzzzzzz2'];
    const csv = dir.file('leavers.csv', leaversCsv([...users.map((u) => u.id), ...ghosts]));
    const runId = uniqueRunId('metrics');
    const enq = await runCli(['enqueue', '--csv', csv, '--yes', '--run-id', runId, '--rate-share', '0.5'], env);
    expect(enq.code, enq.stderr).toBe(0);
    await until(async () => (await store.getMeta(runId))?.state === 'completed', 'the run to complete', 45_000);
    const counts = await store.getCounts(runId);
    expect(counts).toMatchObject({ revoked: 16, user_not_found: 2 });
    expect(counts.rateLimited).toBeGreaterThan(0);

    // The run's counters are flushed once a second; the metrics count the same responses.
    const scrape = async () => {
      const res = await fetch(`${base}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      return parseMetrics(await res.text());
    };
    const m = await until(async () => {
      const c = await store.getCounts(runId);
      const s = await scrape();
      return s.value('grantsweep_okta_requests_total') === c.requests && s;
    }, 'the metrics to count every request', 10_000);

    const final = await store.getCounts(runId);
    expect(m.value('grantsweep_okta_requests_total', { bucket: 'user-grants', status: '404' })).toBe(2);
    expect(m.value('grantsweep_okta_requests_total', { bucket: 'user-grants', status: '429' })).toBe(final.rateLimited);
    expect(m.value('grantsweep_okta_rate_limited_total', { bucket: 'user-grants', kind: 'rate' })).toBe(final.rateLimited);
    const remaining = m.value('grantsweep_okta_rate_limit_remaining', { bucket: 'user-grants' });
    expect(remaining).toBeGreaterThanOrEqual(0);
    expect(remaining).toBeLessThan(20);
    expect(m.value('grantsweep_okta_rate_limit_limit', { bucket: 'user-grants' })).toBe(20);

    expect(m.value('grantsweep_targets_total', { status: 'revoked' })).toBe(16);
    expect(m.value('grantsweep_targets_total', { status: 'user_not_found' })).toBe(2);
    expect(m.value('grantsweep_target_duration_seconds_count', { status: 'revoked' })).toBe(16);
    expect(m.value('grantsweep_target_duration_seconds_bucket', { status: 'revoked', le: '+Inf' })).toBe(16);
    expect(m.value('grantsweep_target_duration_seconds_sum', { status: 'revoked' })).toBeGreaterThan(0);

    const queue = queueNameOf(orgKeyOf(sim.url));
    for (const state of ['waiting', 'active', 'delayed', 'prioritized', 'failed']) {
      expect(m.value('grantsweep_queue_jobs', { queue, state }), state).toBe(0);
    }
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes']) {
      expect(m.names.has(name), name).toBe(true);
    }

    // Every log line about a target names its run and its target. (Log lines are written in
    // blocks, at least every 200 ms: the last ones may still be on their way.)
    const targetLinesNow = () =>
      worker!.output().stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l))
        .filter((l) => typeof l.msg === 'string' && l.msg.startsWith('target '));
    await until(async () => targetLinesNow().length >= 18 || undefined, 'the target log lines', 5_000);
    const targetLines = targetLinesNow();
    expect(targetLines).toHaveLength(18);
    for (const l of targetLines) {
      expect(l.runId).toBe(runId);
      expect(typeof l.target).toBe('string');
    }

    worker.child.kill('SIGTERM');
    const exit = await worker.done;
    expect(exit.code).toBe(0);
  });

  it('refuses a port that is not one, before it starts', async () => {
    const r = await runCli(['worker', '--metrics-port', '70000'], simEnv(sim, dir.path));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--metrics-port: expected a port in 0..65535, got "70000"');
  });

  it('a metrics port in use is named as the dashboard names its own, exit 2, and no work is taken', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as AddressInfo).port;
    try {
      const r = await runCli(['worker', '--metrics-port', String(port)], simEnv(sim, dir.path));
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(`--metrics-host/--metrics-port: 127.0.0.1:${port} is already in use (try another port)`);
      expect(r.stderr).not.toContain('worker started');
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });
});
