import { describe, expect, it } from 'vitest';
import { MAX_RESET_DELAY_MS, parseRateHeaders, resetDelayMs, secondsUntilReset } from '../../src/okta/rate-headers.ts';
import type { RateInfo } from '../../src/okta/types.ts';

const DATE = 'Fri, 27 Nov 2026 11:30:00 GMT';
const DATE_MS = Date.parse(DATE);
const RESET_S = DATE_MS / 1000 + 30;

function headers(h: Record<string, string | string[]>) {
  const lower = Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
  return (name: string) => lower[name];
}

describe('parseRateHeaders', () => {
  it('reads limit, remaining, reset (epoch seconds → ms), Date and the request id', () => {
    const rate = parseRateHeaders(
      headers({
        'X-Rate-Limit-Limit': '600',
        'X-Rate-Limit-Remaining': '598',
        'X-Rate-Limit-Reset': String(RESET_S),
        Date: DATE,
        'X-Okta-Request-Id': 'reqVy8wsvmBQN27h4soUE3ZEnA',
      }),
      200,
    );
    expect(rate).toEqual({
      limit: 600,
      remaining: 598,
      resetAt: RESET_S * 1000,
      date: DATE_MS,
      requestId: 'reqVy8wsvmBQN27h4soUE3ZEnA',
      concurrency: false,
      resetDuplicated: false,
    });
  });

  it('takes the first Reset and flags it when the header arrives twice as two values', () => {
    const rate = parseRateHeaders(headers({ 'X-Rate-Limit-Reset': [String(RESET_S), String(RESET_S + 5)] }), 429);
    expect(rate.resetAt).toBe(RESET_S * 1000);
    expect(rate.resetDuplicated).toBe(true);
  });

  it('takes the first Reset and flags it when the header arrives comma-joined', () => {
    const rate = parseRateHeaders(headers({ 'X-Rate-Limit-Reset': `${RESET_S}, ${RESET_S}` }), 429);
    expect(rate.resetAt).toBe(RESET_S * 1000);
    expect(rate.resetDuplicated).toBe(true);
  });

  it('marks a 429 with Limit 0 and Remaining 0 as the concurrency limit', () => {
    const get = headers({ 'X-Rate-Limit-Limit': '0', 'X-Rate-Limit-Remaining': '0', 'X-Rate-Limit-Reset': String(RESET_S) });
    expect(parseRateHeaders(get, 429).concurrency).toBe(true);
    // The same headers on a non-429, or a per-minute 429, are not concurrency.
    expect(parseRateHeaders(get, 200).concurrency).toBe(false);
    expect(parseRateHeaders(get).concurrency).toBe(false);
    const perMinute = headers({ 'X-Rate-Limit-Limit': '600', 'X-Rate-Limit-Remaining': '0' });
    expect(parseRateHeaders(perMinute, 429).concurrency).toBe(false);
  });

  it('returns nulls when headers are missing or not integers', () => {
    expect(parseRateHeaders(() => undefined, 200)).toEqual({
      limit: null,
      remaining: null,
      resetAt: null,
      date: null,
      requestId: null,
      concurrency: false,
      resetDuplicated: false,
    });
    const junk = parseRateHeaders(headers({ 'X-Rate-Limit-Limit': 'abc', 'X-Rate-Limit-Reset': '-5', Date: 'yesterday' }));
    expect([junk.limit, junk.resetAt, junk.date]).toEqual([null, null, null]);
  });
});

describe('secondsUntilReset', () => {
  const rate = (resetAt: number | null, date: number | null) => ({ limit: 60, remaining: 10, resetAt, date, concurrency: false }) as RateInfo;
  it("says the seconds left by Okta's clock, never more than a window (Reset and Date are whole seconds)", () => {
    expect(secondsUntilReset(rate(1_700_000_002_000, 1_700_000_000_000), 3_000)).toBe(2);
    // A 3-s window that began at x.9 s: Reset rounds up, Date down: 4 s apart.
    expect(secondsUntilReset(rate(1_700_000_004_000, 1_700_000_000_000), 3_000)).toBe(3);
    expect(secondsUntilReset(rate(1_700_000_000_000, 1_700_000_001_000), 60_000)).toBe(0);
    expect(secondsUntilReset(rate(null, 1_700_000_000_000), 60_000)).toBeNull();
    expect(secondsUntilReset(rate(1_700_000_004_000, null), 60_000)).toBeNull();
  });
});

describe('resetDelayMs', () => {
  const rate = (resetAt: number | null, date: number | null) => ({
    limit: 600,
    remaining: 0,
    resetAt,
    date,
    requestId: null,
    concurrency: false,
    resetDuplicated: false,
  });

  it('measures from the server Date, not the local clock, and adds 1 s', () => {
    const localClockFarAhead = DATE_MS + 3_600_000;
    expect(resetDelayMs(rate(RESET_S * 1000, DATE_MS), localClockFarAhead)).toBe(31_000);
  });

  it('falls back to the local clock without a Date', () => {
    expect(resetDelayMs(rate(RESET_S * 1000, null), DATE_MS + 10_000)).toBe(21_000);
  });

  it('is never negative when the reset is already past', () => {
    expect(resetDelayMs(rate(DATE_MS - 60_000, DATE_MS), DATE_MS)).toBe(0);
  });

  it('caps an absurd wait (no Date and a local clock far behind, or a reset far away) at 120 s', () => {
    expect(resetDelayMs(rate(RESET_S * 1000, null), 0)).toBe(MAX_RESET_DELAY_MS);
    expect(resetDelayMs(rate(DATE_MS + 86_400_000, DATE_MS), DATE_MS)).toBe(MAX_RESET_DELAY_MS);
    expect(MAX_RESET_DELAY_MS).toBe(120_000);
  });

  it('waits one full window plus the skew pad when there is no Reset', () => {
    expect(resetDelayMs(rate(null, DATE_MS), DATE_MS)).toBe(61_000);
  });
});
