import { expect } from 'vitest';
import type { Redis } from 'ioredis';
import type { Simulator } from '../../src/sim/index.ts';
import { runCli } from './cli.ts';
import { checkExactlyOnce, spawnWorkers, stopAll, waitFinal, waitWorkers } from './fleet.ts';
import { uniqueRunId } from './redis.ts';
import { envFor, writeCsv } from './sim.ts';

/**
 * Several runs at once on one simulated org, processed by two worker processes: each
 * run's result checked once per target, and the simulator's rate-limit windows with the
 * requests of each run in them.
 */

export interface Planned {
  share: number;
  targets: number;
  pacing?: 'even' | 'window';
}

export interface SharedWindow {
  count: number;
  rejected: number;
  /** Requests of each planned run in the window, in the order planned. */
  byRun: number[];
}

/**
 * A function that runs the planned runs together; each call takes users no earlier call
 * took, from the org's `offset`-th active user with grants on.
 */
export function runsTogether(t: { sim: Simulator; redis: Redis }, windowMs: number, offset = 0) {
  return async (planned: Planned[]): Promise<{ perWindow: SharedWindow[]; http429: number }> => {
    const env = envFor(t.sim, { GRANTSWEEP_RATE_WINDOW_MS: String(windowMs) });
    const wanted = planned.reduce((n, p) => n + p.targets, 0);
    const pool = t.sim.org.sampleUsers({ count: wanted, status: 'ACTIVE', minGrants: 1, offset });
    expect(pool, 'the simulated org has too few active users with grants for these runs').toHaveLength(wanted);
    offset += pool.length;
    let at = 0;
    const runs = planned.map((p, i) => ({ ...p, users: pool.slice(at, (at += p.targets)), runId: uniqueRunId(`share${i}`) }));
    const owner = new Map<string, number>();
    runs.forEach((r, i) => r.users.forEach((u) => owner.set(u.id, i)));
    t.sim.log.reset();
    for (const r of runs) {
      const csv = writeCsv(['userId', ...r.users.map((u) => u.id)]);
      const e = await runCli(['enqueue', '--csv', csv, '--yes', '--run-id', r.runId, '--rate-share', String(r.share), '--pacing', r.pacing ?? 'even'], env);
      expect(e.code, e.stderr).toBe(0);
    }
    const workers = spawnWorkers(2, env);
    try {
      await waitWorkers(t.redis, t.sim.url, 2);
      for (const r of runs) expect(await waitFinal(t.redis, r.runId, 90_000)).toBe('completed');
    } finally {
      await stopAll(workers);
    }
    for (const r of runs) {
      const rep = await checkExactlyOnce(t.redis, r.runId, env, { targets: r.targets, users: r.users.map((u) => u.id), sim: t.sim });
      expect(rep.counts.revoked).toBe(r.targets);
    }
    const log = t.sim.log.snapshot();
    const perWindow = log.windows['user-grants']!.map((w) => {
      const byRun = runs.map(() => 0);
      for (const e of t.sim.log.requests()) {
        if (e.at < w.start || e.at >= w.start + windowMs) continue;
        const m = /^\/api\/v1\/users\/([^/]+)\/grants$/.exec(e.path);
        const run = m ? owner.get(decodeURIComponent(m[1]!)) : undefined;
        if (run !== undefined) byRun[run]!++;
      }
      return { count: w.count, rejected: w.rejected, byRun };
    });
    return { perWindow, http429: log.total429 };
  };
}

/**
 * The windows in which both of two runs were going: from the second window of the later
 * one to start to the last but one of the earlier one to end (their first and last
 * windows are partly idle).
 */
export function whileBothGo(perWindow: SharedWindow[]): SharedWindow[] {
  const span = (run: number) => {
    const active = perWindow.map((w, i) => (w.byRun[run]! > 0 ? i : -1)).filter((i) => i >= 0);
    return [active[0]!, active[active.length - 1]!] as const;
  };
  const [a0, a1] = span(0);
  const [b0, b1] = span(1);
  return perWindow.slice(Math.max(a0, b0) + 1, Math.min(a1, b1));
}
