import type { RateInfo } from './types.ts';

export type HeaderGetter = (name: string) => string | string[] | null | undefined;

/**
 * Okta windows last 60 s, so a legitimate reset is never much more than a minute after
 * the server's Date. Anything further means a bogus header or, without a Date, a local
 * clock that is behind Okta's. Sleeping on that would stall every worker sharing the
 * budget, so the wait is capped and the server is simply asked again afterwards.
 */
export const MAX_RESET_DELAY_MS = 120_000;
/** Okta's advice (Node SDK "Manual Retry"): add 1 s for sub-second skew. */
const SKEW_PAD_MS = 1_000;
/** No usable Reset at all: wait one full window. */
const UNKNOWN_RESET_DELAY_MS = 60_000 + SKEW_PAD_MS;

/** Every value of a header: repeated headers and comma-joined ones look the same here. */
function values(get: HeaderGetter, name: string): string[] {
  const raw = get(name);
  if (raw == null) return [];
  const list = Array.isArray(raw) ? raw : [raw];
  return list.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
}

function firstInt(get: HeaderGetter, name: string): number | null {
  const first = values(get, name)[0];
  return first !== undefined && /^\d{1,15}$/.test(first) ? Number(first) : null;
}

/** Reads the rate-limit headers of one response. `status` tells a concurrency 429 apart. */
export function parseRateHeaders(get: HeaderGetter, status?: number): RateInfo {
  const limit = firstInt(get, 'x-rate-limit-limit');
  const remaining = firstInt(get, 'x-rate-limit-remaining');
  const resetSeconds = firstInt(get, 'x-rate-limit-reset');
  // Okta has sent X-Rate-Limit-Reset twice (OKTA-112507); the first value is used, and
  // the flag lets the caller know the header was not clean.
  const resetDuplicated = values(get, 'x-rate-limit-reset').length > 1;
  // Date itself contains a comma ("Fri, 27 Nov ..."), so it is read whole, not split.
  const rawDate = get('date');
  const dateText = Array.isArray(rawDate) ? rawDate[0] : rawDate;
  const dateMs = dateText ? Date.parse(dateText) : NaN;
  const rawId = get('x-okta-request-id');
  const requestId = (Array.isArray(rawId) ? rawId[0] : rawId)?.trim() || null;
  return {
    limit,
    remaining,
    resetAt: resetSeconds === null ? null : resetSeconds * 1000,
    date: Number.isFinite(dateMs) ? dateMs : null,
    requestId,
    // Okta reports the concurrency cap, not the per-minute bucket, as Limit 0 / Remaining 0.
    concurrency: status === 429 && limit === 0 && remaining === 0,
    resetDuplicated,
  };
}

/**
 * How long to wait before the bucket has room again: reset − server Date + 1 s, measured
 * on Okta's clock when the response had a Date (ours may be skewed), never negative,
 * at most MAX_RESET_DELAY_MS.
 */
export function resetDelayMs(rate: RateInfo, nowMs: number): number {
  const until = rawUntilReset(rate, nowMs);
  return until === null ? UNKNOWN_RESET_DELAY_MS : clampDelay(until + SKEW_PAD_MS);
}

/** Time left in the bucket's window by Okta's clock (reset − Date), without the pad; null when unknown. */
export function untilResetMs(rate: RateInfo, nowMs: number): number | null {
  const until = rawUntilReset(rate, nowMs);
  return until === null ? null : clampDelay(until);
}

/**
 * Whole seconds until the window resets, for people (`check`): Reset and Date are whole
 * seconds, so their difference can exceed the window by one; never more than a window.
 */
export function secondsUntilReset(rate: RateInfo, windowMs: number): number | null {
  if (rate.date === null) return null;
  const until = rawUntilReset(rate, rate.date);
  return until === null ? null : Math.min(Math.ceil(windowMs / 1000), Math.max(0, Math.round(until / 1000)));
}

function rawUntilReset(rate: RateInfo, nowMs: number): number | null {
  if (rate.resetAt === null) return null;
  const until = rate.resetAt - (rate.date ?? nowMs);
  return Number.isFinite(until) ? until : null;
}

const clampDelay = (ms: number) => Math.min(MAX_RESET_DELAY_MS, Math.max(0, Math.round(ms)));
