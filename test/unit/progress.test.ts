import { describe, expect, it } from 'vitest';
import { formatDuration, plainLine, progressView, RateWindow } from '../../src/cli/progress.ts';
import { pacedBucket } from '../../src/runs/paced-bucket.ts';
import type { RunMeta } from '../../src/runs/run-meta.ts';
import type { RunCounts } from '../../src/runs/run-store.ts';

const meta = (state: RunMeta['state']): RunMeta => ({
  runId: 'r1', orgUrl: 'https://x.okta.com', orgKey: 'k', state, stateReason: null, dryRun: false, snapshot: false, tokens: false, reason: null,
  source: { kind: 'csv', value: '/x.csv' }, target: { clientId: null, scopeId: null }, rateShare: 0.5, pacing: 'even', attempts: 5,
  maxRateLimitDeferrals: 50, createdAt: 0, finishedAt: null, loaded: true, fed: 0, requeueFed: 0, queueBase: null, schedule: null,
});
const counts = (done: number, total: number, requests: number, extra: Partial<RunCounts> = {}): RunCounts => ({
  total, pending: total - done, revoked: done, would_revoke: 0, nothing_to_revoke: 0, user_not_found: 0, invalid: 0, failed: 0,
  requests, rateLimited: 0, buckets: {}, ...extra,
});

describe('progress', () => {
  it('knows no pace before a few seconds were seen, then measures it over the window', () => {
    const w = new RateWindow();
    w.add(0, 0, 0);
    w.add(1_000, 5, 10);
    expect(w.rates()).toBeNull();
    w.add(10_000, 50, 100);
    expect(w.rates()).toEqual({ requestsPerMinute: 600, targetsPerSecond: 5 });
  });

  it('under window pacing, gives a pace only over a whole minute: a window opening in a burst is not several times the budget', () => {
    const w = new RateWindow();
    const windowed: RunMeta = { ...meta('running'), pacing: 'window' };
    // 240 a minute, all sent in the first 5 s of each minute.
    w.add(0, 0, 0);
    w.add(5_000, 240, 240);
    w.add(15_000, 240, 240);
    expect(progressView(meta('running'), counts(240, 1_000, 240), w, 240, 15_000).requestsPerMinute).toBe(960);
    const early = progressView(windowed, counts(240, 1_000, 240), w, 240, 15_000);
    expect(early.requestsPerMinute).toBeNull();
    expect(early.etaSeconds).toBeNull();
    for (let t = 20_000; t <= 60_000; t += 10_000) w.add(t, 240, 240);
    w.add(65_000, 480, 480);
    w.add(70_000, 480, 480);
    // Over the last 65 s (one window's burst and the quiet after it): under the budget, as the run is.
    expect(progressView(windowed, counts(480, 1_000, 480), w, 240, 70_000).requestsPerMinute).toBe(Math.round((240 / 65_000) * 60_000));
  });

  it('forgets samples older than a minute', () => {
    const w = new RateWindow();
    w.add(0, 0, 0);
    for (let t = 10_000; t <= 120_000; t += 10_000) w.add(t, t / 1_000, t / 100);
    // Only the last minute's pace (1 target/s, 600 requests/min), not the first sample's.
    expect(w.rates()?.targetsPerSecond).toBeCloseTo(1);
    expect(w.rates()?.requestsPerMinute).toBeCloseTo(600);
  });

  it('estimates the time left from the recent pace, and says 0 once the run is final', () => {
    const w = new RateWindow();
    w.add(0, 0, 0);
    w.add(10_000, 50, 100);
    const v = progressView(meta('running'), counts(50, 250, 100, { failed: 0, rateLimited: 3 }), w, 300, 10_000);
    expect(v).toMatchObject({ done: 50, total: 250, percent: 20, requestsPerMinute: 600, budgetPerMinute: 300, etaSeconds: 40, rateLimited: 3 });
    expect(progressView(meta('completed'), counts(250, 250, 500), w, 300).etaSeconds).toBe(0);
    expect(progressView(meta('running'), counts(0, 10, 0), new RateWindow(), null).etaSeconds).toBeNull();
  });

  it('sets the requests of the budget bucket against the budget, and all of them only when none were counted apart', () => {
    // The demo's run: 100 requests to the grants bucket and 10 login lookups in 1.1 s, budget 6,000 a minute.
    const m = { ...meta('completed'), createdAt: 0, finishedAt: 1_100 };
    const c = counts(50, 50, 110, { buckets: { 'user-get': { requests: 10, budget: 150 }, 'user-grants': { requests: 100, budget: 6_000 } } });
    expect(pacedBucket(c)).toEqual({ name: 'user-grants', requests: 100, budget: 6_000 });
    expect(progressView(m, c, new RateWindow(), 6_000, 1_100).requestsPerMinute).toBe(5_455);
    expect(progressView(m, counts(50, 50, 110), new RateWindow(), 6_000, 1_100).requestsPerMinute).toBe(6_000);
  });

  it('starts the pace afresh when the bucket it follows changes', () => {
    const w = new RateWindow();
    w.add(0, 0, 40, 'user-get');
    w.add(5_000, 10, 30, 'user-grants');
    expect(w.rates()).toBeNull();
    w.add(10_000, 20, 80, 'user-grants');
    expect(w.rates()).toEqual({ requestsPerMinute: 600, targetsPerSecond: 2 });
  });

  it('prints a plain line with the counts, the pace against the budget and the ETA', () => {
    const w = new RateWindow();
    w.add(0, 0, 0);
    w.add(6_000, 6, 30);
    const c = counts(6, 10, 30, { failed: 1, revoked: 5, rateLimited: 2 });
    expect(plainLine(progressView(meta('running'), c, w, 300, 6_000), c)).toBe(
      'r1 running: 6/10 done · revoked 5 · failed 1 · requests 30 · 429s 2 · 300/300 req/min · ETA 4s\n',
    );
    expect(formatDuration(3_725)).toBe('1h02m');
    expect(formatDuration(125)).toBe('2m05s');
    expect(formatDuration(null)).toBe('?');
  });
});
