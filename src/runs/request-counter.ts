import type { RunStore } from './run-store.ts';

/**
 * Counts each run's Okta requests and 429s per minute in memory and flushes them to
 * the run store once a second: one Redis write per second instead of one per request.
 * A crash loses at most the last second of counts (statistics, not results).
 */
export class RequestCounter {
  private pending = new Map<string, { runId: string; minute: number; requests: number; rateLimited: number }>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: RunStore,
    private readonly intervalMs = 1_000,
  ) {}

  add(runId: string, status: number): void {
    const minute = Math.floor(Date.now() / 60_000);
    const id = `${runId}\n${minute}`;
    let e = this.pending.get(id);
    if (!e) this.pending.set(id, (e = { runId, minute, requests: 0, rateLimited: 0 }));
    e.requests++;
    if (status === 429) e.rateLimited++;
    if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.intervalMs);
      this.timer.unref();
    }
  }

  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const entries = [...this.pending.values()];
    this.pending = new Map();
    try {
      await this.store.addRequestCounts(entries);
    } catch {
      // Statistics only: a failed flush must never fail a revocation.
    }
  }
}
