import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';
import { checkExactlyOnce, spawnWorkers, stopAll, waitFinal, waitWorkers } from '../helpers/fleet.ts';
import { uniqueRunId } from '../helpers/redis.ts';
import { envFor, simAndRedis, writeCsv } from '../helpers/sim.ts';

/**
 * Two runs at once on one org share one budget: each is allowed 90 % of the bucket
 * (--rate-share 0.9), so two budgets would send 1.8 times the limit and collect 429s;
 * one shared budget keeps their sum inside every window of the simulator. (Not 1: at
 * 99 % of a 2-second window, a loaded machine's scheduling jitter alone can push one
 * request into the next window.)
 */

const LIMIT = 120;
const WINDOW_MS = 2_000;
const PER_RUN = 120;
const t = simAndRedis({ users: 600, rateLimits: { 'user-grants': { limit: LIMIT } }, windowSec: WINDOW_MS / 1000, recordRequests: 10_000 });

describe('reliability: two runs on one org', () => {
  it('share one budget: their sum stays inside every rate-limit window, with no 429', async () => {
    const env = envFor(t.sim, { GRANTSWEEP_RATE_WINDOW_MS: String(WINDOW_MS) });
    const pool = t.sim.org.sampleUsers({ count: 2 * PER_RUN, status: 'ACTIVE', minGrants: 1 });
    const runs = [pool.slice(0, PER_RUN), pool.slice(PER_RUN)].map((users, i) => ({ users, runId: uniqueRunId(`share${i}`) }));
    const owner = new Map<string, number>();
    runs.forEach((r, i) => r.users.forEach((u) => owner.set(u.id, i)));
    for (const r of runs) {
      const e = await runCli(['enqueue', '--csv', writeCsv(['userId', ...r.users.map((u) => u.id)]), '--yes', '--run-id', r.runId, '--rate-share', '0.9'], env);
      expect(e.code, e.stderr).toBe(0);
    }
    const workers = spawnWorkers(2, env);
    try {
      await waitWorkers(t.redis, t.sim.url, 2);
      for (const r of runs) expect(await waitFinal(t.redis, r.runId, 60_000)).toBe('completed');
    } finally {
      await stopAll(workers);
    }
    for (const r of runs) {
      const rep = await checkExactlyOnce(t.redis, r.runId, env, { targets: PER_RUN, users: r.users.map((u) => u.id), sim: t.sim });
      expect(rep.counts.revoked).toBe(PER_RUN);
    }

    const log = t.sim.log.snapshot();
    expect(log.total429).toBe(0);
    const windows = log.windows['user-grants']!;
    // Per simulator window: requests of each run, from the recorded arrivals.
    const perWindow = windows.map((w) => {
      const byRun = [0, 0];
      for (const e of t.sim.log.requests()) {
        if (e.at < w.start || e.at >= w.start + WINDOW_MS) continue;
        const m = /^\/api\/v1\/users\/([^/]+)\/grants$/.exec(e.path);
        const run = m ? owner.get(decodeURIComponent(m[1]!)) : undefined;
        if (run !== undefined) byRun[run]!++;
      }
      return { count: w.count, rejected: w.rejected, a: byRun[0]!, b: byRun[1]! };
    });
    for (const w of perWindow) {
      expect(w.rejected).toBe(0);
      expect(w.a + w.b).toBeLessThanOrEqual(LIMIT);
    }
    // The runs really overlapped: some window carried requests of both, at more than one run's fair half.
    const shared = perWindow.filter((w) => w.a > 0 && w.b > 0);
    expect(shared.length).toBeGreaterThan(0);
    expect(Math.max(...perWindow.map((w) => w.a + w.b))).toBeGreaterThan(LIMIT / 2);
    console.log(`[reliability] two runs, one budget: ${JSON.stringify({ limit: LIMIT, windowMs: WINDOW_MS, windows: perWindow, http429: log.total429 })}`);
  }, 120_000);
});
