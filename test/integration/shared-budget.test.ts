import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GateLease, RequestDescriptor, ResponseMeta } from '../../src/okta/types.ts';
import { SharedBudget } from '../../src/queue/budget.ts';
import { RequestWithdrawn, RunStoppedError } from '../../src/queue/errors.ts';
import { orgKeys } from '../../src/redis/keys.ts';
import { connectTestRedis, uniqueRunId } from '../helpers/redis.ts';

/**
 * The shared budget against a real Redis: the requests a worker asks for in one turn of
 * its event loop are served by one script call, and must still get one slot each, within
 * the in-flight cap and the pacing.
 */
let redis: Redis;
beforeAll(async () => {
  redis = await connectTestRedis();
});
afterAll(async () => {
  await redis.quit();
});

const req = (runId: string): RequestDescriptor => ({ bucket: 'user-grants', method: 'DELETE', path: '/api/v1/users/x/grants', runId }) as RequestDescriptor;
const response = (limit: number, remaining: number, status = 204): ResponseMeta =>
  ({ status, rate: { limit, remaining, resetAt: Date.now() + 60_000, concurrency: false, requestId: null, date: null } }) as unknown as ResponseMeta;

function budget(maxInFlight: number) {
  const orgKey = uniqueRunId('org');
  return { orgKey, keys: orgKeys(orgKey), b: new SharedBudget(redis, { orgKey, maxInFlight, leaseMs: 30_000, windowMs: 60_000 }) };
}

/** Teaches the bucket its limit, as a first response would. */
async function learn(b: SharedBudget, runId: string, limit: number) {
  const first = await b.acquire(req(runId));
  first.release(response(limit, limit - 1));
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setTimeout(r, 20));
}

describe('shared budget', () => {
  it("withdraws a request whose caller stops while it waits for its slot, in its slot's sleep or in line, and frees its lease", async () => {
    const { b, keys } = budget(50);
    const runId = uniqueRunId('r');
    // 18 a minute: a slot every 3.4 s or so; the next one is reserved ahead (within 5 s), later ones wait in line.
    b.setShare(runId, 0.03);
    await learn(b, runId, 600);
    const stop = new AbortController();
    // The slot now goes at once; the next ones wait: one holding a reserved slot ahead, the others in line.
    const now = await b.acquire({ ...req(runId), signal: stop.signal });
    const asked = Array.from({ length: 4 }, () => b.acquire({ ...req(runId), signal: stop.signal }).then(() => 'sent', (e: unknown) => e));
    await until(async () => (await redis.zcard(keys.inflight)) >= 2);
    stop.abort();
    const outcomes = await Promise.all(asked);
    for (const o of outcomes) expect(o).toBeInstanceOf(RequestWithdrawn);
    // Only the lease of the request that went is left, until its answer.
    await until(async () => (await redis.zcard(keys.inflight)) === 1);
    now.release(response(600, 590));
    await until(async () => (await redis.zcard(keys.inflight)) === 0);
    // A request of a caller already stopped is not even asked for.
    await expect(b.acquire({ ...req(runId), signal: stop.signal })).rejects.toBeInstanceOf(RequestWithdrawn);
  });

  it('gives each of many requests asked together its own slot, and never more than the in-flight cap', async () => {
    const { b, keys } = budget(5);
    const runId = uniqueRunId('r');
    b.setShare(runId, 1);
    await learn(b, runId, 1_000_000);
    const granted: GateLease[] = [];
    let phase2 = false;
    let maxSeen = 0;
    const asked = Array.from({ length: 12 }, () =>
      b.acquire(req(runId)).then(async (l) => {
        maxSeen = Math.max(maxSeen, await redis.zcard(keys.inflight));
        // After the first five, each request finishes as soon as it has its slot.
        if (phase2) l.release(response(1_000_000, 998_000));
        else granted.push(l);
      }),
    );
    // Five are granted, seven wait for slots to come back.
    await until(() => granted.length === 5);
    expect(await redis.zcard(keys.inflight)).toBe(5);
    await new Promise((r) => setTimeout(r, 100));
    expect(granted).toHaveLength(5);
    // Returned in one turn, the slots go back in one call; the waiting requests take them.
    phase2 = true;
    for (const l of granted) l.release(response(1_000_000, 999_000));
    await Promise.all(asked);
    expect(maxSeen).toBeLessThanOrEqual(5);
    await until(async () => (await redis.zcard(keys.inflight)) === 0);
    expect(await redis.hget(keys.bucket('user-grants'), 'limit')).toBe('1000000');
  });

  it('paces the requests of one turn one interval apart (the bucket’s clock moves by one interval per slot)', async () => {
    const { b, keys } = budget(100);
    const runId = uniqueRunId('r');
    b.setShare(runId, 1);
    await learn(b, runId, 600); // 600 a minute at share 1 × safety 0.99: 594, one per 101 ms
    const tat0 = Number(await redis.hget(keys.bucket('user-grants'), 'tat'));
    const t = await redis.time();
    const now = Number(t[0]) * 1000 + Math.floor(Number(t[1]) / 1000);
    const leases = await Promise.all(Array.from({ length: 4 }, () => b.acquire(req(runId))));
    const tat = Number(await redis.hget(keys.bucket('user-grants'), 'tat'));
    const interval = 60_000 / Math.floor(600 * 0.99);
    // Four slots from max(tat0, now): the clock moved four intervals.
    expect(tat - Math.max(tat0, now)).toBeGreaterThanOrEqual(4 * interval - 20);
    expect(tat - Math.max(tat0, now)).toBeLessThanOrEqual(4 * interval + 20);
    for (const l of leases) l.release(response(600, 500));
  });

  it('pacing window: a window that Okta says ends sooner than estimated starts the next one afresh', async () => {
    // The probe teaches the limit (20: 19 a window at share 1 × 0.99); nine more of this window.
    const { b, keys, runId } = await twentyAWindow(8_000, 'window', 5_000);
    const first = await Promise.all(Array.from({ length: 9 }, () => b.acquire(req(runId))));
    // Okta says this window ends in 5 s, not in the 8 s the budget assumed when it began.
    for (const l of first) l.release(at(5_000, 10));
    await new Promise((r) => setTimeout(r, 5_000 + 1_000 + 200));
    // Past the stated end and its margin: a whole window's 19, not the 9 left of the old one.
    const granted: GateLease[] = [];
    const asked = Array.from({ length: 19 }, () => b.acquire(req(runId)).then((l) => granted.push(l)));
    // At once: the old window's estimate would have kept ten of them waiting until 9 s.
    await until(() => granted.length === 19, 1_500);
    expect(Number(await redis.hget(keys.bucket('user-grants'), 'wUsed'))).toBe(19);
    await Promise.all(asked);
    for (const l of granted) l.release(at(3_000, 0));
  });

  it("pacing window: an answer from the next window starts counting it with what Okta counted there, not the old window's count", async () => {
    const { b, keys, runId } = await twentyAWindow(8_000, 'window', 5_000);
    // The window's whole share: 19 with the probe.
    const sent = await grantedWithin(b, runId, 18, 300);
    expect(sent).toHaveLength(18);
    await answered(keys, sent.slice(0, -1), at(5_000, 2), 1);
    // The last one reached Okta after its window ended: the next window's answer (it ends 8 s
    // later), in which Okta has counted 3 requests so far.
    await answered(keys, sent.slice(-1), at(13_000, 17));
    // The new window has room for 16 of the share, now: not a wait until the next one's end.
    const next = await grantedWithin(b, runId, 19, 500);
    expect(next).toHaveLength(16);
    for (const l of next) l.release(at(13_000, 1));
  });

  it("pacing window after even pacing: the window's count guessed from the even clock gives way to Okta's own count", async () => {
    const { b, keys, runId } = await twentyAWindow(8_000, 'even', 8_000);
    // Even pacing: one slot now, nine more reserved on the clock over the next few seconds.
    const held = await b.acquire(req(runId));
    expect(await grantedWithin(b, runId, 9, 300)).toHaveLength(0);
    // Switched to window pacing: the window's count is guessed from the even clock, which
    // went on for a whole window's worth: one request more in this window, to learn Okta's count.
    b.setShare(runId, 1, 'window');
    const one = await grantedWithin(b, runId, 5, 300);
    expect(one).toHaveLength(1);
    // Okta says its window has 3 requests so far (the probe, the one held, that one): the rest
    // of the share at once, not after the guessed window's end.
    await answered(keys, [held, ...one], at(7_500, 17));
    const rest = await grantedWithin(b, runId, 19, 500);
    expect(rest).toHaveLength(16);
    for (const l of rest) l.release(at(7_000, 1));
  });

  it("pacing window: answers that move the window's end on a little at a time keep its count (no second share in one window)", async () => {
    const { b, keys, runId } = await twentyAWindow(8_000, 'window', 8_000);
    const all = await grantedWithin(b, runId, 18, 300);
    expect(all).toHaveLength(18);
    // Each answer says the window ends a little later than the last (Reset's whole seconds, a
    // slow answer): 4.5 s in all, more than half the window, never more than half at once.
    const end = () => redis.hget(keys.bucket('user-grants'), 'wEnd').then(Number);
    const end0 = await end();
    for (const [i, l] of all.entries()) {
      const e = await end();
      l.release(at(e - Date.now() + 1_500, 10));
      await until(async () => (await end()) >= e + 1_000);
      if (i === 2) break;
    }
    expect(await end()).toBeGreaterThan(end0 + 4_200);
    // The window's share went out: none now, however far its end moved.
    expect(await grantedWithin(b, runId, 5, 300)).toHaveLength(0);
    for (const l of all.slice(3)) l.release(at(6_000, 1));
  });

  it('a request waiting in line asks with the share and pacing of a pace that came while it waited', async () => {
    const orgKey = uniqueRunId('org');
    const keys = orgKeys(orgKey);
    const b = new SharedBudget(redis, { orgKey, maxInFlight: 100, leaseMs: 30_000, windowMs: 60_000 });
    const runId = uniqueRunId('r');
    b.setShare(runId, 0.1, 'window');
    (await b.acquire(req(runId))).release(response(100, 99));
    await until(async () => (await redis.hget(keys.bucket('user-grants'), 'limit')) === '100');
    // 9 a window at 0.1: the probe and 8 more; three more wait in line for the next window.
    const first = await grantedWithin(b, runId, 8, 300);
    expect(first).toHaveLength(8);
    const stop = new AbortController();
    const waiting = Array.from({ length: 3 }, () => b.acquire({ ...req(runId), signal: stop.signal }).catch(() => null));
    await new Promise((r) => setTimeout(r, 300));
    // The run is paced up to 0.5 (49 a window): they go within their next ask, not a window later.
    b.setShare(runId, 0.5, 'window');
    const timer = setTimeout(() => stop.abort(), 2_500);
    const got = await Promise.all(waiting);
    clearTimeout(timer);
    expect(got.filter((l) => l !== null)).toHaveLength(3);
    for (const l of [...first, ...got]) l?.release(response(100, 50));
  });

  it('pacing window after even pacing that went on into the next window: that window is counted again, not the old count carried', async () => {
    // A window of Okta's ending in 3 s: the probe and 9 more (10 of 19).
    const { b, keys, runId } = await twentyAWindow(4_000, 'window', 3_000);
    await answered(keys, await grantedWithin(b, runId, 9, 300), at(2_700, 10));
    await new Promise((r) => setTimeout(r, 2_900));
    // Even pacing now, into Okta's next window: one request, whose answer moves the window's end on.
    b.setShare(runId, 1, 'even');
    (await b.acquire(req(runId))).release(at(4_000, 19));
    await until(async () => Number(await redis.hget(keys.bucket('user-grants'), 'wEnd')) > Date.now() + 3_000);
    // Window pacing again, in that window: the old window's 10 are not this one's count.
    b.setShare(runId, 1, 'window');
    const granted = await grantedWithin(b, runId, 19, 300);
    expect(granted.length).toBeGreaterThan(9);
    expect(granted.length).toBeLessThanOrEqual(18);
    for (const l of granted) l.release(at(3_500, 1));
  });

  it("even pacing after window pacing: an answer from the next window moves the window's end on, and makes no count of it", async () => {
    const { b, keys, runId } = await twentyAWindow(8_000, 'window', 5_000);
    await answered(keys, await grantedWithin(b, runId, 9, 300), at(5_000, 10));
    const counted = await redis.hmget(keys.bucket('user-grants'), 'wUsed', 'wUsedEnd');
    expect(counted[0]).toBe('10');
    // Now even pacing, and an answer from Okta's next window, which has 3 requests in it (the
    // neighbours'): no count of this run's, which would hold its even clock back in that window.
    b.setShare(runId, 1, 'even');
    const lease = await b.acquire(req(runId));
    lease.release(at(13_000, 17));
    await until(async () => Number(await redis.hget(keys.bucket('user-grants'), 'wEnd')) > Date.now() + 10_000);
    expect(await redis.hmget(keys.bucket('user-grants'), 'wUsed', 'wUsedEnd')).toEqual(counted);
  });

  it('pacing window: a run that was the largest until a larger one asked keeps, in that window, to its own share', async () => {
    const orgKey = uniqueRunId('org');
    const keys = orgKeys(orgKey);
    const b = new SharedBudget(redis, { orgKey, maxInFlight: 200, leaseMs: 30_000, windowMs: 60_000 });
    const [small, large] = [uniqueRunId('small'), uniqueRunId('large')];
    b.setShare(small, 0.2, 'window');
    b.setShare(large, 0.8, 'window');
    // The small run asks first. Its probe teaches the limit: 100, so 19 a window at 0.2 and 79 at 0.8.
    (await b.acquire(req(small))).release(response(100, 99));
    await until(async () => (await redis.hget(keys.bucket('user-grants'), 'limit')) === '100');
    // The largest share so far: its 19, the probe included.
    const firstGo = await grantedWithin(b, small, 25, 300);
    expect(firstGo.length).toBe(18);
    // The large run asks: from now on the small run is below the largest share, with its own count.
    const big = await grantedWithin(b, large, 1, 300);
    expect(big.length).toBe(1);
    // It has sent its 19 in this window already (the probe too): none, not another 19.
    const secondGo = await grantedWithin(b, small, 5, 300);
    expect(secondGo.length).toBe(0);
    for (const l of [...firstGo, ...big, ...secondGo]) l.release(response(100, 50));
  });

  it('refuses every request of a stopped run asked in the same turn, and takes no slot for them', async () => {
    const { b, keys } = budget(10);
    const runId = uniqueRunId('r');
    b.setShare(runId, 1);
    await learn(b, runId, 1_000_000);
    await b.markStopped(runId, 'cancelled by a test');
    const results = await Promise.allSettled(Array.from({ length: 3 }, () => b.acquire(req(runId))));
    for (const r of results) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(RunStoppedError);
    }
    expect(await redis.zcard(keys.inflight)).toBe(0);
  });

  it('a run stopped while its requests sleep until their slots sends none of them, and gives their slots back; another run sends', async () => {
    const { b, keys } = budget(100);
    const [stopped, live] = [uniqueRunId('stopped'), uniqueRunId('live')];
    b.setShare(stopped, 1);
    b.setShare(live, 1);
    await learn(b, stopped, 60); // 59 a minute: one slot per ~1,017 ms
    const first = await b.acquire(req(live)); // the clock's next slot, at once
    // Two requests of each run, asked together: the clock gives them slots 1 to 4 intervals ahead.
    const asked = [stopped, stopped, live, live].map((r) => b.acquire(req(r)).then((l) => ({ r, l })));
    await until(async () => (await redis.zcard(keys.inflight)) === 5);
    first.release(response(60, 58));
    await b.markStopped(stopped, 'cancelled by a test');
    const results = await Promise.allSettled(asked);
    const sent = results.filter((x) => x.status === 'fulfilled').map((x) => (x as PromiseFulfilledResult<{ r: string; l: GateLease }>).value);
    const refused = results.filter((x) => x.status === 'rejected').map((x) => (x as PromiseRejectedResult).reason);
    expect(sent.map((x) => x.r)).toEqual([live, live]);
    expect(refused).toHaveLength(2);
    for (const e of refused) expect(e).toBeInstanceOf(RunStoppedError);
    // The stopped run's slots came back at once; the live run's two are held until released.
    expect(await redis.zcard(keys.inflight)).toBe(2);
    for (const x of sent) x.l.release(response(60, 50));
    await until(async () => (await redis.zcard(keys.inflight)) === 0);
  });

  it("forgets a smaller run's own clock a window after its last slot, though no smaller run asks again", async () => {
    const orgKey = uniqueRunId('org');
    const keys = orgKeys(orgKey);
    const b = new SharedBudget(redis, { orgKey, maxInFlight: 100, leaseMs: 30_000, windowMs: 1_000 });
    const [big, small] = [uniqueRunId('big'), uniqueRunId('small')];
    b.setShare(big, 0.8);
    b.setShare(small, 0.2);
    await learn(b, big, 1_000_000);
    (await b.acquire(req(big))).release(response(1_000_000, 999_000));
    (await b.acquire(req(small))).release(response(1_000_000, 999_000));
    const rts = async () => redis.hget(keys.bucket('user-grants'), 'rts');
    expect(JSON.parse((await rts())!)).toHaveProperty([small]);
    // The small run is done; the large one goes on: a window and a second later its clock is gone.
    await new Promise((r) => setTimeout(r, 2_100));
    (await b.acquire(req(big))).release(response(1_000_000, 999_000));
    await until(async () => (await rts()) === null, 2_000);
  });

  it('two runs that set no share of their own are still asked for apart: a stopped one does not stop the other', async () => {
    const { b, keys } = budget(10);
    const [live, stopped] = [uniqueRunId('live'), uniqueRunId('stopped')];
    await learn(b, live, 1_000_000);
    await b.markStopped(stopped, 'cancelled by a test');
    const [a, c] = await Promise.allSettled([b.acquire(req(stopped)), b.acquire(req(live))]);
    expect(a.status).toBe('rejected');
    expect((a as PromiseRejectedResult).reason).toBeInstanceOf(RunStoppedError);
    expect(c.status).toBe('fulfilled');
    expect(await redis.zcard(keys.inflight)).toBe(1);
  });

  it('a 429 among the responses of one turn pauses the bucket until the reset', async () => {
    const { b, keys } = budget(10);
    const runId = uniqueRunId('r');
    b.setShare(runId, 1);
    await learn(b, runId, 1_000_000);
    const leases = await Promise.all([b.acquire(req(runId)), b.acquire(req(runId))]);
    leases[0]!.release(response(1_000_000, 900_000));
    leases[1]!.release(response(1_000_000, 0, 429));
    await until(async () => Number(await redis.hget(keys.bucket('user-grants'), 'pausedUntil')) > 0);
    const t = await redis.time();
    const now = Number(t[0]) * 1000 + Math.floor(Number(t[1]) / 1000);
    expect(Number(await redis.hget(keys.bucket('user-grants'), 'pausedUntil'))).toBeGreaterThan(now + 30_000);
    expect(await redis.zcard(keys.inflight)).toBe(0);
  });

  it("a credential's read share paces its runs; a lower cap a 429 taught holds over it until it expires; another credential keeps its own share", async () => {
    const orgKey = uniqueRunId('org');
    const keys = orgKeys(orgKey);
    const app = new SharedBudget(redis, { orgKey, maxInFlight: 100, leaseMs: 30_000, windowMs: 60_000, credential: 'app:0oaX' });
    const token = new SharedBudget(redis, { orgKey, maxInFlight: 100, leaseMs: 30_000, windowMs: 60_000, credential: 'token:abc' });
    const runId = uniqueRunId('r');
    app.setShare(runId, 1);
    token.setShare(runId, 1);
    await learn(app, runId, 600);
    // The bucket's clock moves one interval a slot: two slots asked together from a fresh clock.
    const interval = async (b: SharedBudget) => {
      await redis.hdel(keys.bucket('user-grants'), 'tat', 'smax', 'smaxAt', 'smaxCred');
      const leases = await Promise.all([b.acquire(req(runId)), b.acquire(req(runId))]);
      const tat = Number(await redis.hget(keys.bucket('user-grants'), 'tat'));
      // The script's own clock when it gave the slots: the first one's lease ends 30 s after it
      // (Redis's TIME read before the acquire drifted from it on a loaded machine).
      const [, first] = await redis.zrange(keys.inflight, 0, 0, 'WITHSCORES');
      const now = Number(first) - 30_000;
      for (const l of leases) l.release(response(600, 590));
      await until(async () => (await redis.zcard(keys.inflight)) === 0);
      return (tat - now) / 2;
    };
    const intervalFor = (share: number) => 60_000 / Math.floor(600 * share);
    expect(await interval(app)).toBeCloseTo(intervalFor(0.99), -1);

    expect(await app.setCredentialShare(0.3, 60_000)).toBeCloseTo(0.297, 6);
    expect(await app.credentialShare('user-grants')).toBeCloseTo(0.297, 4);
    expect(await interval(app)).toBeCloseTo(intervalFor(0.297), -1);
    expect(await interval(token)).toBeCloseTo(intervalFor(0.99), -1);

    // A 429 while the bucket had room (100 of 600 used): the cap learned is below the read share.
    const l = await app.acquire(req(runId));
    l.release(response(600, 500, 429));
    await until(async () => (await app.credentialCap('user-grants')) !== null);
    await redis.hdel(keys.bucket('user-grants'), 'pausedUntil');
    const learned = (await app.credentialCap('user-grants'))!.fraction;
    expect(learned).toBeCloseTo((100 / 600) * 0.9, 4);
    expect(await interval(app)).toBeCloseTo(intervalFor(learned), -1);

    // An admin raises the share: the learned cap still holds, the lower of the two.
    await app.setCredentialShare(0.6, 60_000);
    expect(await interval(app)).toBeCloseTo(intervalFor(learned), -1);
    // The learned cap expires: the read share holds again, not the run's own.
    await redis.hset(keys.bucket('user-grants'), 'pcapUntil:app:0oaX', 1);
    expect(await interval(app)).toBeCloseTo(intervalFor(0.594), -1);
    // The entry removed: the run's own share.
    await app.clearCredentialShare();
    expect(await app.credentialShare('user-grants')).toBeNull();
    expect(await interval(app)).toBeCloseTo(intervalFor(0.99), -1);
  });
});

async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** An answer from a bucket of 20 a window whose window ends in `resetInMs`, by Okta's clock. */
function at(resetInMs: number, remaining: number): ResponseMeta {
  return { status: 204, rate: { limit: 20, remaining, resetAt: Date.now() + resetInMs, date: Date.now(), concurrency: false, requestId: null } } as unknown as ResponseMeta;
}

/**
 * A budget over Okta's windows of `windowMs`, and a run at share 1 with `pacing`, whose probe
 * taught the bucket its limit, 20 (19 a window at share 1 × 0.99), in a window ending in `endsInMs`.
 */
async function twentyAWindow(windowMs: number, pacing: 'even' | 'window', endsInMs: number) {
  const orgKey = uniqueRunId('org');
  const keys = orgKeys(orgKey);
  const b = new SharedBudget(redis, { orgKey, maxInFlight: 100, leaseMs: 30_000, windowMs });
  const runId = uniqueRunId('r');
  b.setShare(runId, 1, pacing);
  (await b.acquire(req(runId))).release(at(endsInMs, 19));
  await until(async () => (await redis.hget(keys.bucket('user-grants'), 'limit')) === '20');
  return { b, keys, runId };
}

/** Gives the leases back with Okta's answer `meta`; returns once `left` leases are in flight. */
async function answered(keys: ReturnType<typeof orgKeys>, leases: GateLease[], meta: ResponseMeta, left = 0): Promise<void> {
  for (const l of leases) l.release(meta);
  await until(async () => (await redis.zcard(keys.inflight)) === left);
}

/** Asks for `count` slots of the run together; the leases granted within `ms`, the other asks withdrawn. */
async function grantedWithin(b: SharedBudget, runId: string, count: number, ms: number): Promise<GateLease[]> {
  const stop = new AbortController();
  const granted: GateLease[] = [];
  const asked = Array.from({ length: count }, () =>
    b.acquire({ ...req(runId), signal: stop.signal }).then(
      (l) => void granted.push(l),
      (e: unknown) => expect(e).toBeInstanceOf(RequestWithdrawn),
    ),
  );
  await new Promise((r) => setTimeout(r, ms));
  stop.abort();
  await Promise.all(asked);
  return granted;
}
