import { describe, expect, it } from 'vitest';
import { applyConfigPatch, defaultRuntimeConfig, type RuntimeConfig, type SimConfigPatch } from '../../src/sim/options.ts';
import { RateLimiter, UNLIMITED } from '../../src/sim/rate-limiter.ts';
import { RequestLog } from '../../src/sim/request-log.ts';

function setup(patch: SimConfigPatch, start = 1_700_000_000_250) {
  const clock = { t: start };
  let config: RuntimeConfig = applyConfigPatch(defaultRuntimeConfig(1), patch);
  const log = new RequestLog(() => clock.t);
  const limiter = new RateLimiter(() => config, () => clock.t, log);
  return { clock, log, limiter, set: (p: SimConfigPatch) => void (config = applyConfigPatch(config, p)) };
}

describe('simulated rate limits', () => {
  it('starts a bucket window at its first request, not on the clock minute, and reports its end', () => {
    const { limiter } = setup({ rateLimits: { 'user-grants': 5 } }, 1_700_000_020_250);
    const d = limiter.check('user-grants', null);
    expect(d).toMatchObject({ allowed: true, limit: 5, remaining: 4 });
    expect(d.resetSec).toBe(Math.ceil((1_700_000_020_250 + 60_000) / 1000));
  });

  it('counts down Remaining, answers 429 at zero and refills when the window rolls over', () => {
    const { limiter, clock, log } = setup({ rateLimits: { 'user-grants': { limit: 3, windowSec: 10 } } });
    const seen = [1, 2, 3, 4].map(() => limiter.check('user-grants', null));
    expect(seen.map((d) => d.allowed)).toEqual([true, true, true, false]);
    expect(seen.map((d) => d.remaining)).toEqual([2, 1, 0, 0]);
    expect(seen[3]?.reject).toBe('bucket');
    clock.t += 10_000;
    expect(limiter.check('user-grants', null)).toMatchObject({ allowed: true, remaining: 2 });
    const windows = log.snapshot().windows['user-grants'] ?? [];
    expect(windows.map((w) => [w.count, w.rejected])).toEqual([[3, 1], [1, 0]]);
    expect((windows[1]?.start ?? 0) - (windows[0]?.start ?? 0)).toBe(10_000);
  });

  it('keeps buckets apart', () => {
    const { limiter } = setup({ rateLimits: { 'users-list': 1, 'user-get': 1 } });
    expect(limiter.check('users-list', null).allowed).toBe(true);
    expect(limiter.check('users-list', null).allowed).toBe(false);
    expect(limiter.check('user-get', null).allowed).toBe(true);
  });

  it('caps a principal at its share while Remaining still shows the org bucket (UNCONFIRMED behaviour)', () => {
    const { limiter } = setup({ rateLimits: { apps: 10 }, perTokenShare: 0.5 });
    const a = [1, 2, 3, 4, 5, 6].map(() => limiter.check('apps', 'token'));
    expect(a.map((d) => d.allowed)).toEqual([true, true, true, true, true, false]);
    expect(a[5]).toMatchObject({ reject: 'token', limit: 10, remaining: 5 });
    expect(limiter.check('apps', 'readOnlyToken').allowed).toBe(true);
  });

  it('lets a noisy neighbour spend its share of the window at a steady pace', () => {
    const { limiter, clock } = setup({ rateLimits: { groups: { limit: 100, windowSec: 60 } }, noisyNeighbour: { share: 0.3 } });
    expect(limiter.check('groups', null).remaining).toBe(99);
    clock.t += 30_000;
    expect(limiter.check('groups', null).remaining).toBe(100 - 2 - 15);
    clock.t += 29_999;
    expect(limiter.check('groups', null).remaining).toBe(100 - 3 - 29);
  });

  it('stops the neighbour when the config says so at runtime', () => {
    const { limiter, clock, set } = setup({ rateLimits: { groups: 100 }, noisyNeighbour: { share: 0.5 } });
    limiter.check('groups', null);
    clock.t += 30_000;
    expect(limiter.check('groups', null).remaining).toBe(100 - 2 - 25);
    set({ noisyNeighbour: null });
    expect(limiter.check('groups', null).remaining).toBe(100 - 3);
  });

  it('reports a large limit and never refuses when limits are off', () => {
    const { limiter } = setup({ rateLimits: 'none' });
    for (let i = 0; i < 5000; i++) limiter.check('apps', 'token');
    expect(limiter.check('apps', 'token')).toMatchObject({ allowed: true, limit: UNLIMITED, remaining: UNLIMITED - 5001 });
  });

  it('refuses a request over the concurrency cap with Limit 0 and Remaining 0, and frees slots on leave', () => {
    const { limiter, log } = setup({ concurrencyLimit: 2 });
    expect([limiter.enter(), limiter.enter(), limiter.enter()]).toEqual([true, true, false]);
    expect(limiter.concurrencyDecision()).toMatchObject({ allowed: false, reject: 'concurrency', limit: 0, remaining: 0 });
    limiter.leave();
    expect(limiter.enter()).toBe(true);
    expect(log.snapshot().maxConcurrency).toBe(2);
  });
});
