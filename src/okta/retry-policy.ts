import type { OktaErrorKind } from './errors.ts';
import { resetDelayMs } from './rate-headers.ts';
import type { RateInfo } from './types.ts';

export interface RetryRule {
  retry: boolean;
  /** Whether a failure of this kind uses up one of the job's attempts. */
  countsAsAttempt: boolean;
  /** Rate-limit 429s wait until the window resets (X-Rate-Limit-Reset), not a backoff. */
  waitFromHeaders: boolean;
  baseMs: number;
  maxMs: number;
}

const NO_RETRY: RetryRule = { retry: false, countsAsAttempt: true, waitFromHeaders: false, baseMs: 0, maxMs: 0 };

/**
 * What each kind of failure means for a job. A 429 is the budget's problem, not the
 * target's, so it never burns an attempt; a 5xx or a dropped connection may be the
 * target's (a request Okta cannot serve), so it does. 401/403/404/400 will not change
 * by asking again.
 */
export const RETRY_POLICY: Readonly<Record<OktaErrorKind, Readonly<RetryRule>>> = Object.freeze({
  // baseMs/maxMs only apply when the 429 carried no usable Reset header.
  rate_limited: { retry: true, countsAsAttempt: false, waitFromHeaders: true, baseMs: 1_000, maxMs: 60_000 },
  // The concurrency Reset is only an estimate (Okta docs); a short backoff frees slots sooner.
  concurrency_limited: { retry: true, countsAsAttempt: false, waitFromHeaders: false, baseMs: 1_000, maxMs: 5_000 },
  transient: { retry: true, countsAsAttempt: true, waitFromHeaders: false, baseMs: 1_000, maxMs: 30_000 },
  not_found: NO_RETRY,
  forbidden: NO_RETRY,
  unauthorized: NO_RETRY,
  invalid_request: NO_RETRY,
  // The operator must fix HTTPS_PROXY; retries would only wait (a directory listing retries dozens of times).
  proxy_refused: NO_RETRY,
  other: NO_RETRY,
});

/**
 * Exponential backoff with jitter: for attempt n (1-based) the ceiling is
 * min(max, base·2^(n−1)) and the delay is uniform in [ceiling/2, ceiling]. Half the
 * ceiling is kept so that a retry is never instant; the other half spreads workers
 * that failed together. 0 for kinds that are not retried.
 */
export function backoffMs(kind: OktaErrorKind, attempt: number, random: () => number = Math.random): number {
  if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError(`attempt must be an integer ≥ 1, got ${attempt}`);
  const rule = RETRY_POLICY[kind];
  if (!rule.retry) return 0;
  const ceiling = Math.min(rule.maxMs, rule.baseMs * 2 ** (attempt - 1));
  const r = Math.min(1, Math.max(0, random()));
  return Math.floor(ceiling / 2 + (r * ceiling) / 2);
}

/** The wait before retrying a failure: Okta's Reset for a rate-limit 429, else backoff. */
export function retryDelayMs(
  kind: OktaErrorKind,
  attempt: number,
  rate: RateInfo | null,
  nowMs: number,
  random: () => number = Math.random,
): number {
  if (RETRY_POLICY[kind].waitFromHeaders && rate?.resetAt != null) return resetDelayMs(rate, nowMs);
  return backoffMs(kind, attempt, random);
}
