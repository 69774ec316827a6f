import { describe, expect, it } from 'vitest';
import { runsTogether, whileBothGo } from '../helpers/runs-together.ts';
import { simAndRedis } from '../helpers/sim.ts';

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
const t = simAndRedis({ users: 1200, rateLimits: { 'user-grants': { limit: LIMIT } }, windowSec: WINDOW_MS / 1000, recordRequests: 10_000 });
const runTogether = runsTogether(t, WINDOW_MS);



describe('reliability: two runs on one org', () => {
  it('share one budget: their sum stays inside every rate-limit window, with no 429', async () => {
    const { perWindow, http429 } = await runTogether([{ share: 0.9, targets: PER_RUN }, { share: 0.9, targets: PER_RUN }]);
    expect(http429).toBe(0);
    for (const w of perWindow) {
      expect(w.rejected).toBe(0);
      expect(w.byRun[0]! + w.byRun[1]!).toBeLessThanOrEqual(LIMIT);
    }
    // The runs really overlapped: some window carried requests of both, at more than one run's fair half.
    const shared = perWindow.filter((w) => w.byRun[0]! > 0 && w.byRun[1]! > 0);
    expect(shared.length).toBeGreaterThan(0);
    expect(Math.max(...perWindow.map((w) => w.byRun[0]! + w.byRun[1]!))).toBeGreaterThan(LIMIT / 2);
    console.log(`[reliability] two runs, one budget: ${JSON.stringify({ limit: LIMIT, windowMs: WINDOW_MS, windows: perWindow, http429 })}`);
  }, 120_000);

  it('with different shares, each run keeps to its own, and together they use the larger one', async () => {
    const { perWindow, http429 } = await runTogether([{ share: 0.8, targets: 300 }, { share: 0.2, targets: 120 }]);
    console.log(`[reliability] shares 0.8 + 0.2: ${JSON.stringify({ limit: LIMIT, windowMs: WINDOW_MS, windows: perWindow, http429 })}`);
    expect(http429).toBe(0);
    const big = Math.floor(LIMIT * 0.8);
    const small = Math.floor(LIMIT * 0.2);
    for (const w of perWindow) {
      expect(w.rejected).toBe(0);
      expect(w.byRun[0]! + w.byRun[1]!).toBeLessThanOrEqual(LIMIT);
      // Soft bounds, with the jitter of a loaded machine: the small run takes its slots on
      // the large share's clock and sends at its own, up to GRANTSWEEP_MAX_IN_FLIGHT / 2 (5)
      // of them later, and those can land in the next window (seen: 6 and 9 over, under the full suite; the limit is the hard bound).
      // The small run alone: its own pace (23) plus those 5 (seen 27 under the full suite in session 6).
      expect(w.byRun[1]!).toBeLessThanOrEqual(small + 5);
      expect(w.byRun[0]! + w.byRun[1]!).toBeLessThanOrEqual(big + 12);
    }
    // While both go (the first and last window of each left out, being partly idle), the two
    // together use most of the larger share: neither the small share alone nor the harmonic
    // mean of the two (0.32 of the limit), which one clock paced at each request's own run's
    // share gave; and the small run is not starved: most of its share on average (17 to 23 of
    // its 23 a window in session 8's runs), and some in every window: in a single window its
    // requests that slipped into the next one are missing (a fresh-clone CI run in session 8,
    // with the cluster failover test beside it: 28 then 9).
    const during = whileBothGo(perWindow);
    expect(during.length).toBeGreaterThan(0);
    // Each window's floor is loose (a loaded machine's runs can be late to ask) but still far
    // above that harmonic mean; the mean over the windows is held closer.
    for (const w of during) {
      expect(w.byRun[0]! + w.byRun[1]!).toBeGreaterThanOrEqual(0.55 * big);
      expect(w.byRun[1]!).toBeGreaterThanOrEqual(0.25 * small);
    }
    const mean = (f: (w: (typeof during)[number]) => number) => during.reduce((n, w) => n + f(w), 0) / during.length;
    expect(mean((w) => w.byRun[0]! + w.byRun[1]!)).toBeGreaterThanOrEqual(0.8 * big);
    expect(mean((w) => w.byRun[1]!)).toBeGreaterThanOrEqual(0.6 * small);
  }, 120_000);
});
