import type { BucketName } from '../okta/types.ts';
import type { RuntimeConfig } from './options.ts';
import type { RejectKind, RequestLog } from './request-log.ts';

/**
 * Okta-style limits: a fixed window per bucket that starts at the bucket's first
 * request (so it is not aligned to the clock), an org-wide cap on requests in
 * flight, an optional per-principal share and an optional noisy neighbour that
 * spends its share of each window at a steady pace.
 */

/** What the headers report for a bucket with no limit. */
export const UNLIMITED = 1_000_000;

export interface RateDecision {
  allowed: boolean;
  reject?: RejectKind;
  limit: number;
  remaining: number;
  /** X-Rate-Limit-Reset, epoch seconds. */
  resetSec: number;
}

interface BucketState {
  windowStart: number;
  count: number;
  perPrincipal: Map<string, number>;
}

export class RateLimiter {
  private buckets = new Map<BucketName, BucketState>();
  private inFlight = 0;

  constructor(
    private readonly config: () => RuntimeConfig,
    private readonly now: () => number,
    private readonly log: RequestLog,
    /** The share of a principal that has one of its own (an OAuth app's principal rate limit), by principal label. */
    private readonly principalShareOf: (label: string) => number | undefined = () => undefined,
  ) {}

  /** Takes a concurrency slot; false means answer the concurrency 429. */
  enter(): boolean {
    const cap = this.config().concurrencyLimit;
    if (cap > 0 && this.inFlight >= cap) return false;
    this.inFlight++;
    this.log.concurrency(this.inFlight);
    return true;
  }

  leave(): void {
    this.inFlight--;
  }

  inFlightNow(): number {
    return this.inFlight;
  }

  /** Okta only estimates when a concurrency slot frees up; we say "next second". */
  concurrencyDecision(): RateDecision {
    return { allowed: false, reject: 'concurrency', limit: 0, remaining: 0, resetSec: Math.ceil(this.now() / 1000) + 1 };
  }

  /** Counts the request against its bucket, or refuses it. `principal` null = no share cap. */
  check(bucket: BucketName, principal: string | null): RateDecision {
    const cfg = this.config();
    const { limit } = cfg.buckets[bucket];
    const windowMs = (cfg.buckets[bucket].windowSec ?? cfg.windowSec) * 1000;
    const now = this.now();
    let st = this.buckets.get(bucket);
    if (!st) {
      st = { windowStart: now, count: 0, perPrincipal: new Map() };
      this.buckets.set(bucket, st);
    } else if (now >= st.windowStart + windowMs) {
      st.windowStart += Math.floor((now - st.windowStart) / windowMs) * windowMs;
      st.count = 0;
      st.perPrincipal.clear();
    }
    const entry = this.log.window(bucket, st.windowStart);
    const resetSec = Math.ceil((st.windowStart + windowMs) / 1000);
    if (limit <= 0) {
      st.count++;
      entry.count++;
      return { allowed: true, limit: UNLIMITED, remaining: Math.max(0, UNLIMITED - st.count), resetSec };
    }
    const share = cfg.noisyNeighbour?.share ?? 0;
    const neighbour = Math.floor(share * limit * Math.min(1, (now - st.windowStart) / windowMs));
    entry.neighbour = neighbour;
    const used = st.count + neighbour;
    if (used >= limit) {
      entry.rejected++;
      return { allowed: false, reject: 'bucket', limit, remaining: 0, resetSec };
    }
    const principalShare = principal === null ? null : (this.principalShareOf(principal) ?? cfg.perTokenShare);
    if (principal !== null && principalShare !== null) {
      const mine = st.perPrincipal.get(principal) ?? 0;
      if (mine >= Math.max(1, Math.floor(limit * principalShare))) {
        entry.rejected++;
        // UNCONFIRMED: whether the headers show the org bucket or the token's share;
        // we show the org bucket, so the client sees a 429 while Remaining > 0.
        return { allowed: false, reject: 'token', limit, remaining: limit - used, resetSec };
      }
      st.perPrincipal.set(principal, mine + 1);
    }
    st.count++;
    entry.count++;
    return { allowed: true, limit, remaining: limit - used - 1, resetSec };
  }

  reset(): void {
    this.buckets.clear();
  }
}
