import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';
import { checkExactlyOnce, spawnWorkers, stopAll, waitFinal, waitWorkers } from '../helpers/fleet.ts';
import { uniqueRunId } from '../helpers/redis.ts';
import { runsTogether, whileBothGo } from '../helpers/runs-together.ts';
import { envFor, simAndRedis, writeCsv } from '../helpers/sim.ts';

/**
 * `--pacing window`: the run's share of each rate-limit window goes out as soon as the
 * window opens, then nothing until it resets. Never more than the share in a window,
 * no 429; and the requests of each full window come at its start, not spread over it.
 */
const LIMIT = 60;
const WINDOW_MS = 4_000;
const SHARE = 0.5;
const TARGETS = 80;
const t = simAndRedis({ users: 700, rateLimits: { 'user-grants': { limit: LIMIT } }, windowSec: WINDOW_MS / 1000, recordRequests: 10_000 });

describe('pacing: window', () => {
  it('spends the share of each window in one burst, never more than the share, with no 429', async () => {
    const env = envFor(t.sim, { GRANTSWEEP_RATE_WINDOW_MS: String(WINDOW_MS) });
    const users = t.sim.org.sampleUsers({ count: TARGETS, status: 'ACTIVE', minGrants: 1 });
    const runId = uniqueRunId('window');
    const e = await runCli(['enqueue', '--csv', writeCsv(['userId', ...users.map((u) => u.id)]), '--yes', '--run-id', runId, '--rate-share', String(SHARE), '--pacing', 'window'], env);
    expect(e.code, e.stderr).toBe(0);
    const workers = spawnWorkers(2, env);
    try {
      await waitWorkers(t.redis, t.sim.url, 2);
      expect(await waitFinal(t.redis, runId, 60_000)).toBe('completed');
    } finally {
      await stopAll(workers);
    }
    const rep = await checkExactlyOnce(t.redis, runId, env, { targets: TARGETS, users: users.map((u) => u.id), sim: t.sim });
    expect(rep.counts.revoked).toBe(TARGETS);

    const log = t.sim.log.snapshot();
    expect(log.total429).toBe(0);
    const windows = log.windows['user-grants']!;
    const allowance = Math.floor(LIMIT * SHARE * 0.99);
    const arrivals = t.sim.log.requests().filter((r) => /^\/api\/v1\/users\/[^/]+\/grants$/.test(r.path)).map((r) => r.at);
    // The simulator's own count per window; the arrival times (stamped a moment before the
    // window that a request opens) for the spread of each window's requests.
    const perWindow = windows.map((w, i) => {
      const end = windows[i + 1]?.start ?? Infinity;
      const inside = arrivals.filter((at) => at >= w.start - 50 && at < end - 50);
      return { count: w.count, spanMs: inside.length ? Math.max(...inside) - Math.min(...inside) : 0 };
    });
    console.log(`[pacing] window: ${JSON.stringify({ limit: LIMIT, share: SHARE, windowMs: WINDOW_MS, windows: perWindow })}`);
    for (const w of perWindow) expect(w.count).toBeLessThanOrEqual(allowance);
    // Every window but the last was used to the full share, in one burst once the window
    // had reset (plus the pad for Reset's whole seconds): even pacing would have spread
    // them over the whole window.
    const full = perWindow.slice(0, -1);
    expect(full.length).toBeGreaterThanOrEqual(2);
    for (const w of full) {
      expect(w.count).toBe(allowance);
      expect(w.spanMs).toBeLessThan(WINDOW_MS / 2);
    }
  }, 120_000);

  it('with different shares, each run keeps to its own window count, and together they use the larger share', async () => {
    // Users after the first test's (sampleUsers from the start of the org).
    const together = runsTogether(t, WINDOW_MS, TARGETS);
    // The large run outlasts the small one by three windows or so (the small one can lag a window or two on a loaded
    // machine): the window after the small run's last shows what it leaves behind.
    const { perWindow, http429 } = await together([{ share: 0.8, targets: 330, pacing: 'window' }, { share: 0.2, targets: 33, pacing: 'window' }]);
    console.log(`[pacing] window, shares 0.8 + 0.2: ${JSON.stringify({ limit: LIMIT, windowMs: WINDOW_MS, windows: perWindow, http429 })}`);
    expect(http429).toBe(0);
    const big = Math.floor(LIMIT * 0.8 * 0.99);
    const small = Math.floor(LIMIT * 0.2 * 0.99);
    for (const w of perWindow) {
      expect(w.rejected).toBe(0);
      expect(w.byRun[0]! + w.byRun[1]!).toBeLessThanOrEqual(big);
      expect(w.byRun[1]!).toBeLessThanOrEqual(small);
    }
    // While both go, the small run gets its share, and the two together the larger share:
    // one window count checked against each run's own share let the large run take the
    // small one's part (seen: 6 of 24 in a window) and capped their sum at whichever asked;
    // without the small run's room kept, the large run's callers took it at a window's opening
    // (38 + 9 of 47).
    const during = whileBothGo(perWindow);
    expect(during.length).toBeGreaterThan(0);
    for (const w of during) {
      // The large run leaves the small one its part of the window, used or not (hard); the
      // two use most of the larger share in every window (soft: a loaded machine's small run
      // can be late to ask: 37 of 47 once in a fresh-clone CI run, where 0.8 of it was asked)
      // and nearly all of it on average.
      expect(w.byRun[0]!).toBeLessThanOrEqual(big - small);
      expect(w.byRun[0]! + w.byRun[1]!).toBeGreaterThanOrEqual(0.6 * big);
    }
    expect(during.reduce((n, w) => n + w.byRun[0]! + w.byRun[1]!, 0) / during.length).toBeGreaterThanOrEqual(0.85 * big);
    // On average over those windows (one window alone can be short when the small run asks late
    // on a loaded machine: 4 of 11 once under the full suite; a mean of 6.3 of 11 once in a
    // fresh-clone CI run). A starved small run gets none: the floor only has to tell that apart.
    expect(during.reduce((n, w) => n + w.byRun[1]!, 0) / during.length).toBeGreaterThanOrEqual(0.4 * small);
    // A run that is final leaves nothing reserved: in the next window the large run has the
    // larger share whole (it got big - small there while the finished run's part was kept).
    const lastSmall = perWindow.reduce((last, w, i) => (w.byRun[1]! > 0 ? i : last), -1);
    const after = perWindow[lastSmall + 1];
    expect(after, 'the large run ended with the small one: no window to look at').toBeDefined();
    expect(perWindow[lastSmall + 2]?.byRun[0] ?? 0, 'the large run had no targets left for a full window').toBeGreaterThan(0);
    expect(after!.byRun[0]).toBe(big);
  }, 120_000);
});
