import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { OktaErrorKind } from '../../src/okta/errors.ts';
import { backoffMs, retryDelayMs, RETRY_POLICY } from '../../src/okta/retry-policy.ts';

const KINDS = Object.keys(RETRY_POLICY) as OktaErrorKind[];

describe('RETRY_POLICY table', () => {
  it('retries 429s without spending an attempt, and 5xx/network failures spending one', () => {
    expect(RETRY_POLICY.rate_limited).toMatchObject({ retry: true, countsAsAttempt: false, waitFromHeaders: true });
    expect(RETRY_POLICY.concurrency_limited).toMatchObject({ retry: true, countsAsAttempt: false, baseMs: 1000, maxMs: 5000 });
    expect(RETRY_POLICY.transient).toMatchObject({ retry: true, countsAsAttempt: true, baseMs: 1000, maxMs: 30000 });
  });

  it('never retries 401, 403, 404, 400 or other answers', () => {
    for (const kind of ['unauthorized', 'forbidden', 'not_found', 'invalid_request', 'other'] as const) {
      expect(RETRY_POLICY[kind].retry).toBe(false);
      expect(backoffMs(kind, 1)).toBe(0);
    }
  });
});

describe('backoffMs', () => {
  it('grows as base·2^(n−1) with jitter in its upper half', () => {
    expect(backoffMs('transient', 1, () => 0)).toBe(500);
    expect(backoffMs('transient', 1, () => 1)).toBe(1000);
    expect(backoffMs('transient', 2, () => 0)).toBe(1000);
    expect(backoffMs('transient', 3, () => 0.5)).toBe(3000);
  });

  it('caps the ceiling at maxMs but keeps jitter there', () => {
    expect(backoffMs('transient', 10, () => 1)).toBe(30000);
    expect(backoffMs('transient', 10, () => 0)).toBe(15000);
    expect(backoffMs('concurrency_limited', 50, () => 1)).toBe(5000);
  });

  it('stays within [ceiling/2, ceiling] ≤ maxMs for any attempt and any random value', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...KINDS.filter((k) => RETRY_POLICY[k].retry)),
        fc.integer({ min: 1, max: 2000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (kind, attempt, r) => {
          const { baseMs, maxMs } = RETRY_POLICY[kind];
          const ceiling = Math.min(maxMs, baseMs * 2 ** (attempt - 1));
          const ms = backoffMs(kind, attempt, () => r);
          expect(Number.isInteger(ms)).toBe(true);
          expect(ms).toBeGreaterThanOrEqual(Math.floor(ceiling / 2));
          expect(ms).toBeLessThanOrEqual(ceiling);
          expect(ms).toBeLessThanOrEqual(maxMs);
        },
      ),
    );
  });

  it('refuses attempt numbers that are not positive integers', () => {
    expect(() => backoffMs('transient', 0)).toThrow(RangeError);
    expect(() => backoffMs('transient', 1.5)).toThrow(RangeError);
  });
});

describe('retryDelayMs', () => {
  const date = 1_800_000_000_000;
  const rate = { limit: 600, remaining: 0, resetAt: date + 20_000, date, requestId: null, concurrency: false, resetDuplicated: false };

  it('waits until Reset (+1 s) for a rate-limit 429', () => {
    expect(retryDelayMs('rate_limited', 1, rate, 0)).toBe(21_000);
  });

  it('backs off for a rate-limit 429 without Reset, and for everything else', () => {
    expect(retryDelayMs('rate_limited', 1, { ...rate, resetAt: null }, 0, () => 1)).toBe(1000);
    expect(retryDelayMs('concurrency_limited', 2, rate, 0, () => 1)).toBe(2000);
    expect(retryDelayMs('transient', 1, null, 0, () => 0)).toBe(500);
  });
});
