import { describe, expect, it } from 'vitest';
import { chartPoints, requestsChart, type MinutePoint } from '../../src/runs/requests-chart.ts';
import type { MinuteCounts, RunCounts } from '../../src/runs/run-store.ts';

describe('requestsChart', () => {
  const m0 = 29_000_000;
  const markers = (svg: string) => [...svg.matchAll(/class="marker-429" data-minute="(\d+)" data-count="(\d+)"/g)].map((m) => [Number(m[1]), Number(m[2])]);

  it('says so when nothing was recorded', () => {
    expect(requestsChart([]).toString()).toContain('id="no-requests"');
  });

  it('draws one bar a minute from the first to the last, quiet minutes included, and marks only minutes with 429s', () => {
    const points: MinutePoint[] = [
      { minute: m0, requests: 100, rateLimited: 0, budget: 300 },
      { minute: m0 + 2, requests: 300, rateLimited: 4, budget: 300 },
    ];
    const svg = requestsChart(points).toString();
    expect(svg.match(/<rect class="bar"/g)).toHaveLength(3);
    expect(markers(svg)).toEqual([[m0 + 2, 4]]);
    // The budget carries over the quiet minute: one unbroken step line.
    expect(svg.match(/<path class="budget" d="([^"]+)"/)?.[1]?.match(/M/g)).toHaveLength(1);
  });

  it('draws no markers and no budget line when there were neither', () => {
    const svg = requestsChart([{ minute: m0, requests: 10, rateLimited: 0, budget: null }]).toString();
    expect(markers(svg)).toEqual([]);
    expect(svg).not.toContain('class="budget"');
  });

  it('bins a long run so the chart stays readable, keeping every 429', () => {
    const points: MinutePoint[] = Array.from({ length: 3_000 }, (_, i) => ({ minute: m0 + i, requests: 60, rateLimited: i % 1_000 === 0 ? 1 : 0, budget: 300 }));
    const svg = requestsChart(points, 720).toString();
    const bars = svg.match(/<rect class="bar"/g)?.length ?? 0;
    expect(bars).toBeLessThanOrEqual(720);
    expect(bars).toBeGreaterThan(500);
    expect(markers(svg).reduce((n, [, c]) => n + c!, 0)).toBe(3);
    expect(svg).toContain('-minute bins');
  });
});

describe('chartPoints', () => {
  const m0 = 29_000_000;
  const counts = (requests: number, buckets: RunCounts['buckets']) => ({ requests, rateLimited: 0, buckets }) as unknown as RunCounts;
  const minute = (minute: number, buckets: MinuteCounts['buckets'], rateLimited = 0): MinuteCounts => ({
    minute,
    requests: Object.values(buckets).reduce((n, b) => n + b.requests, 0),
    rateLimited,
    budget: 6_000,
    buckets,
  });

  it('draws the paced bucket against its own budget, and says how many requests went elsewhere', () => {
    const minutes = [
      minute(m0, { 'user-get': { requests: 600, budget: 300 }, 'user-grants': { requests: 5_500, budget: 6_000 } }, 2),
      minute(m0 + 1, { 'user-get': { requests: 40, budget: 300 } }),
    ];
    const { points, bucket } = chartPoints(minutes, counts(6_140, { 'user-get': { requests: 640, budget: 300 }, 'user-grants': { requests: 5_500, budget: 6_000 } }));
    expect(bucket).toEqual({ name: 'user-grants', otherRequests: 640 });
    // 429s at any endpoint stay marked; a minute without the bucket draws nothing and no budget.
    expect(points).toEqual([
      { minute: m0, requests: 5_500, rateLimited: 2, budget: 6_000 },
      { minute: m0 + 1, requests: 0, rateLimited: 0, budget: null },
    ]);
    const svg = requestsChart(points, 720, bucket).toString();
    expect(svg).toContain('in the <code>user-grants</code> bucket (640 requests to other buckets');
    expect(svg).toContain('5500 requests, budget 6000');
  });

  it('keeps every request where no budget is known, and the totals of a minute recorded before buckets were', () => {
    const old = { minute: m0, requests: 90, rateLimited: 1, budget: 300, buckets: {} };
    expect(chartPoints([old], counts(90, {}))).toEqual({ points: [{ minute: m0, requests: 90, rateLimited: 1, budget: 300 }], bucket: null });
    const mixed = chartPoints([old, minute(m0 + 1, { 'user-grants': { requests: 50, budget: 300 } })], counts(140, { 'user-grants': { requests: 50, budget: 300 } }));
    expect(mixed.points.map((p) => p.requests)).toEqual([90, 50]);
    expect(requestsChart(mixed.points, 720, null).toString()).toContain('requests a minute (all endpoints)');
  });
});
