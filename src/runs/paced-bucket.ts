import type { RunCounts } from './run-store.ts';

/** A rate-limit bucket of a run: its requests and the run's budget a minute there. */
export interface PacedBucket {
  /** '' when the run counted no bucket with a known budget: then `requests` is every endpoint's. */
  name: string;
  requests: number;
  budget: number | null;
}

/**
 * The bucket whose budget a run's pace is set against (the progress line, the report's chart):
 * the one with most of its requests among those with a known budget. A login's lookup, in
 * another bucket, does not read as spending it. A run whose workers never learned a budget (or
 * recorded before buckets were counted) has all its requests and no budget.
 */
export function pacedBucket(counts: RunCounts): PacedBucket {
  return busiestBucket(Object.entries(counts.buckets).map(([name, b]) => ({ name, ...b }))) ?? { name: '', requests: counts.requests, budget: null };
}

/** The bucket with the most requests among those whose budget is known; null when none is. */
export function busiestBucket(buckets: Iterable<PacedBucket>): PacedBucket | null {
  let best: PacedBucket | null = null;
  for (const b of buckets) if (b.budget !== null && (!best || b.requests > best.requests)) best = b;
  return best;
}
