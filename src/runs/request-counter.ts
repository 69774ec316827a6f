import { busiestBucket } from './paced-bucket.ts';
import type { RunStore } from './run-store.ts';

interface Entry {
  runId: string;
  minute: number;
  requests: number;
  rateLimited: number;
  buckets: Map<string, { n: number; budget: number | null }>;
}


/**
 * Counts each run's Okta requests and 429s per minute in memory and flushes them to
 * the run store once a second: one Redis write per second instead of one per request.
 * A crash loses at most the last second of counts (statistics, not results).
 */
export class RequestCounter {
  private pending = new Map<string, Entry>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: RunStore,
    private readonly intervalMs = 1_000,
  ) {}

  /**
   * `bucket`: the request's rate-limit bucket and the run's budget in it (rate-share ×
   * the bucket's limit, null when the response did not say); the minute records the
   * budget of the bucket the run sent most requests to.
   */
  add(runId: string, status: number, bucket?: { name: string; budget: number | null }): void {
    const minute = Math.floor(Date.now() / 60_000);
    const id = `${runId}\n${minute}`;
    let e = this.pending.get(id);
    if (!e) this.pending.set(id, (e = { runId, minute, requests: 0, rateLimited: 0, buckets: new Map() }));
    e.requests++;
    if (status === 429) e.rateLimited++;
    if (bucket) {
      const b = e.buckets.get(bucket.name) ?? { n: 0, budget: null };
      b.n++;
      if (bucket.budget !== null) b.budget = bucket.budget;
      e.buckets.set(bucket.name, b);
    }
    if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.intervalMs);
      this.timer.unref();
    }
  }

  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const entries = [...this.pending.values()].map(({ buckets, ...e }) => {
      const counted = [...buckets].map(([name, b]) => ({ name, requests: b.n, budget: b.budget }));
      return { ...e, budget: busiestBucket(counted)?.budget ?? null, buckets: counted };
    });
    this.pending = new Map();
    try {
      await this.store.addRequestCounts(entries);
    } catch {
      // Statistics only: a failed flush must never fail a revocation.
    }
  }
}
