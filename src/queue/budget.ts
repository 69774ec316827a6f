import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import type { Pacing } from '../../config/schema.ts';
import { resetDelayMs, untilResetMs } from '../okta/rate-headers.ts';
import { BUCKET_NAMES, type BucketName, type GateLease, type RequestDescriptor, type RequestGate, type ResponseMeta } from '../okta/types.ts';
import { callScript, defineScripts } from '../redis/scripts.ts';
import { TurnBatches } from '../redis/turn-batches.ts';
import { credentialFields, orgKeys } from '../redis/keys.ts';
import { RequestWithdrawn, RunStoppedError } from './errors.ts';

const SCRIPTS = fileURLToPath(new URL('./scripts', import.meta.url));

/** The fraction of a run's share the budget hands out: clock skew and network jitter never tip a window over. */
export const BUDGET_SAFETY = 0.99;

export interface BudgetOptions {
  orgKey: string;
  /** Requests in flight across every process of the org (Okta's org-wide cap is 75, shared). */
  maxInFlight: number;
  /** How long a lease outlives its request: the request timeout plus a margin. */
  leaseMs: number;
  /** Okta's windows are 60 s; the headers do not say, so it is configuration. */
  windowMs?: number;
  /** Under the share, so that clock skew and network jitter never tip a window over. */
  safety?: number;
  /** When Remaining falls to this fraction of the limit, stop until the reset: leave the rest to the org's other integrations. */
  reserveFraction?: number;
  /** Default share when a run has not said its own. */
  defaultShare?: number;
  /** The credential this process's requests go with (OktaAuth.principal): a cap Okta holds it to is its own. */
  credential?: string;
  /**
   * This process taught the budget a cap on the credential (see release-3.lua): `cap` is
   * the fraction of the bucket every run now keeps under, `used` the fraction used when
   * the 429 came.
   */
  onCredentialCap?: (bucket: string, cap: number, used: number) => void;
}

/**
 * The org's rate budget, shared through Redis by every worker in every process.
 * It is the RequestGate the Okta client passes each request through.
 */
export class SharedBudget implements RequestGate {
  private readonly keys;
  /** The credential its requests go with (OktaAuth.principal), '' when not said. */
  readonly credential: string;
  /** The credential's fields in a bucket hash (its share and its learned cap). */
  private readonly fields: ReturnType<typeof credentialFields>;
  private readonly shares = new Map<string, Share>();
  /**
   * Lease ids: this instance's random prefix and a counter, unique across processes
   * like a UUID at a third of its bytes in every acquire, release and in-flight entry.
   */
  private readonly leasePrefix = randomBytes(9).toString('base64url');
  private leaseCount = 0;
  private readonly defaultShare: Share;
  /** Per bucket and run, the callers of this process waiting for their turn to ask again (see waitInLine). */
  private readonly lines = new Map<string, Promise<unknown>>();
  private readonly opts: Required<Omit<BudgetOptions, 'onCredentialCap' | 'credential'>> & Pick<BudgetOptions, 'onCredentialCap'>;
  /** Slots asked for in one turn of the event loop: one script call per run and bucket. */
  private readonly asks = new TurnBatches<Asked, [number, number | string]>((_, items) => this.ask(items));
  /** Slots given back in one turn: one script call per bucket. */
  private readonly returns = new TurnBatches<Returned, void>((bucket, items) => this.giveBack(bucket, items));
  /** Callers that woke from their slot's wait in one turn: one check per run and bucket. */
  private readonly checks = new TurnBatches<RequestDescriptor, [string | null, boolean]>((_, items) => this.check(items));

  constructor(
    private readonly redis: Redis,
    opts: BudgetOptions,
  ) {
    defineScripts(redis, SCRIPTS);
    this.opts = {
      ...opts,
      windowMs: opts.windowMs ?? OKTA_WINDOW_MS,
      safety: opts.safety ?? BUDGET_SAFETY,
      reserveFraction: opts.reserveFraction ?? 0.02,
      defaultShare: opts.defaultShare ?? 0.5,
    };
    this.credential = opts.credential ?? '';
    this.fields = credentialFields(this.credential);
    this.keys = orgKeys(opts.orgKey);
    this.defaultShare = { share: this.opts.defaultShare, pacing: 'even', asksKey: `\n\n${this.opts.defaultShare}\neven` };
  }

  /**
   * The run's --rate-share: its requests use that fraction of each bucket's window,
   * spread evenly over the window, or (pacing `window`) as soon as the window opens.
   */
  setShare(runId: string, share: number, pacing: Pacing = 'even'): void {
    const known = this.shares.get(runId);
    if (known?.share === share && known.pacing === pacing) return;
    this.shares.set(runId, { share, pacing, asksKey: `\n${runId}\n${share}\n${pacing}` });
  }

  /** Forgets a run's share here (the run left the org's active set); a later ask of it gets the default until setShare. */
  dropShare(runId: string): void {
    this.shares.delete(runId);
  }

  /** The runs whose share this process keeps. */
  runsWithShares(): IterableIterator<string> {
    return this.shares.keys();
  }

  /** The run's share, the default one for a run that has not set its own (each run its own batch key: the script checks one run's stop). */
  private shareOf(runId: string | undefined): Share {
    if (!runId) return this.defaultShare;
    let share = this.shares.get(runId);
    if (!share) this.shares.set(runId, (share = { ...this.defaultShare, asksKey: `\n${runId}\n${this.defaultShare.share}\neven` }));
    return share;
  }

  async acquire(req: RequestDescriptor): Promise<GateLease> {
    if (req.signal?.aborted) throw new RequestWithdrawn();
    const leaseId = this.leasePrefix + (++this.leaseCount).toString(36);
    const share = this.shareOf(req.runId);
    let [code, value] = await this.tryAcquire(req, leaseId, share);
    if (code === 0) [code, value] = await this.waitInLine(req, leaseId, share, Number(value));
    if (code === -1) throw new RunStoppedError(req.runId ?? '', String(value));
    // A caller that stopped while it waited (a paced slot can be a window away) sends nothing: the slot goes back.
    const withdraw = async () => {
      await this.releaseRaw([leaseId], req.bucket, '', 0, 0);
      throw new RequestWithdrawn();
    };
    if (req.signal?.aborted) return withdraw();
    if (Number(value) > 0) {
      if (!(await sleep(Number(value), req.signal))) return withdraw();
      // While this request waited for its slot, the run may have been stopped, or a 429
      // may have paused the bucket: then the slot is given back and nothing is sent.
      const [stopped, paused] = await this.stoppedOrPaused(req);
      if (stopped !== null || paused) await this.releaseRaw([leaseId], req.bucket, '', 0, 0);
      if (stopped !== null) throw new RunStoppedError(req.runId!, stopped);
      if (paused) return this.acquire(req);
    }
    return { release: (meta) => void this.release(leaseId, req.bucket, meta) };
  }

  private stoppedOrPaused(req: RequestDescriptor): Promise<[string | null, boolean]> {
    return this.checks.add(`${req.bucket}\n${req.runId ?? ''}`, req);
  }

  private async check(items: RequestDescriptor[]): Promise<[string | null, boolean][]> {
    const { bucket, runId } = items[0]!;
    const [reason, paused] = await callScript<[string | null, number]>(this.redis, 'slotCheck', [this.keys.stopped, this.keys.bucket(bucket), this.keys.org], [runId ?? '']);
    const answer: [string | null, boolean] = [reason, Number(paused) === 1];
    return items.map(() => answer);
  }

  /**
   * A caller the budget turned away waits for its turn: in each process only one caller
   * per bucket asks the shared budget again at a time, so a paced run's waiting workers
   * cost Redis a few calls per slot instead of one per worker per slot.
   */
  private async waitInLine(req: RequestDescriptor, leaseId: string, share: Share, retryMs: number): Promise<[number, number | string]> {
    // One line per run and bucket: a run below the largest share waits for its own clock, not in front of the others.
    const line = req.bucket + share.asksKey;
    const queued = this.lines.get(line);
    const ahead = queued ?? Promise.resolve();
    let leave!: () => void;
    const mine = new Promise<void>((r) => (leave = r));
    const tail = ahead.then(() => mine);
    this.lines.set(line, tail);
    try {
      await ahead;
      // After waiting for others, ask at once: the answer we had is stale.
      let wait = queued ? 0 : retryMs;
      for (;;) {
        if (!(await sleep(wait, req.signal))) throw new RequestWithdrawn();
        // The run's share and pacing as they are now: a `pace` while it waited holds for it too.
        const [code, value] = await this.tryAcquire(req, leaseId, this.shareOf(req.runId));
        if (code !== 0) return [code, value];
        wait = Number(value);
      }
    } finally {
      leave();
      if (this.lines.get(line) === tail) this.lines.delete(line);
    }
  }

  /** Asks the budget for one slot, together with the other requests of this turn for the same run and bucket. */
  private tryAcquire(req: RequestDescriptor, leaseId: string, share: Share): Promise<[number, number | string]> {
    return this.asks.add(req.bucket + share.asksKey, { req, leaseId, share });
  }

  private async ask(items: Asked[]): Promise<[number, number | string][]> {
    const { req, share } = items[0]!;
    const out = await callScript<(number | string)[]>(
      this.redis,
      'acquire',
      [this.keys.bucket(req.bucket), this.keys.inflight, this.keys.org, this.keys.stopped],
      [req.runId ?? '', this.opts.maxInFlight, this.opts.leaseMs, share.share * this.opts.safety, this.opts.windowMs, MAX_RESERVE_AHEAD_MS, share.pacing, this.credential, ...items.map((i) => i.leaseId)],
    );
    return items.map((_, i) => [Number(out[2 * i]), out[2 * i + 1]!]);
  }

  private release(leaseId: string, bucket: BucketName, meta: ResponseMeta | null): void {
    let limit = '';
    let pauseBucket = 0;
    let windowEnd = 0;
    let counted = -1;
    let capUsed = 0;
    if (meta && !meta.rate.concurrency && meta.rate.limit !== null && meta.rate.limit > 0) {
      limit = String(meta.rate.limit);
      // Pacing `window`: when the bucket's window ends, by Okta's clock (acquire-4.lua adds the
      // margins), and what Okta has counted in it (release-3.lua, an answer from the next window).
      windowEnd = untilResetMs(meta.rate, Date.now()) ?? 0;
      const { remaining } = meta.rate;
      if (remaining !== null) counted = Math.max(0, meta.rate.limit - remaining);
      const reserve = Math.max(1, Math.floor(meta.rate.limit * this.opts.reserveFraction));
      if (meta.status === 429 || (remaining !== null && remaining <= reserve)) {
        pauseBucket = resetDelayMs(meta.rate, Date.now()) + jitter(500);
      }
      capUsed = credentialCapHit(meta, this.opts.reserveFraction) ?? 0;
    }
    void this.returns.add(bucket, { leaseId, limit, pauseBucket, windowEnd, counted, capUsed });
  }

  /** The returns of one turn: the latest limit, the longest pause, the latest window end and the most counted in it, the lowest cap seen. */
  private async giveBack(bucket: string, items: Returned[]): Promise<void[]> {
    let limit = '';
    let pauseBucket = 0;
    let windowEnd = 0;
    let capUsed = 0;
    for (const i of items) {
      if (i.limit) limit = i.limit;
      pauseBucket = Math.max(pauseBucket, i.pauseBucket);
      windowEnd = Math.max(windowEnd, i.windowEnd);
      if (i.capUsed > 0 && (capUsed === 0 || i.capUsed < capUsed)) capUsed = i.capUsed;
    }
    // Answers of one turn can straddle a window's end: only the latest window's counts say what it holds.
    let counted = -1;
    for (const i of items) if (i.windowEnd > windowEnd - this.opts.windowMs / 2) counted = Math.max(counted, i.counted);
    const learned = await this.releaseRaw(items.map((i) => i.leaseId), bucket, limit, pauseBucket, 0, windowEnd, capUsed, counted);
    if (typeof learned === 'string') this.opts.onCredentialCap?.(bucket, Number(learned), capUsed);
    return [];
  }

  private releaseRaw(leaseIds: string[], bucket: string, limit: string, pauseBucket: number, pauseOrg: number, windowEndInMs = 0, capUsed = 0, counted = -1) {
    // 1, or the credential's cap as a string when this call set it.
    return callScript<number | string>(this.redis, 'release', [this.keys.inflight, this.keys.bucket(bucket), this.keys.org], [
      limit,
      Math.round(pauseBucket),
      Math.round(pauseOrg),
      Math.round(windowEndInMs),
      this.opts.windowMs,
      capUsed > 0 ? capUsed.toFixed(4) : '',
      CREDENTIAL_CAP_MS,
      this.credential,
      counted >= 0 ? counted : '',
      ...leaseIds,
    ]).catch(() => {
      // A lost release only keeps its in-flight slots until their leases expire.
    });
  }

  /** Every worker of the org stops sending for `ms` (a concurrency 429). */
  async pauseOrg(ms: number): Promise<void> {
    await this.releaseRaw([], 'other', '', 0, ms);
  }

  /** Every worker stops sending to this bucket for `ms` (a 429). */
  async pauseBucket(bucket: BucketName, ms: number): Promise<void> {
    await this.releaseRaw([], bucket, '', ms, 0);
  }

  /** No new request is made for the run after this returns, by any process. */
  async markStopped(runId: string, reason: string): Promise<void> {
    await this.redis.hset(this.keys.stopped, runId, reason);
  }

  /** A run that is final gives back what the buckets kept for it (see forget-run-6.lua). */
  async forgetRun(runId: string): Promise<void> {
    await callScript(this.redis, 'forgetRun', BUCKET_NAMES.map((b) => this.keys.bucket(b)), [runId]);
  }

  /**
   * The share of every bucket Okta gives this credential, as an admin set it (a service app's
   * principal rate limit): every run with it keeps under it from the first request, instead of
   * learning it from a 429. It replaces the share read before (an admin may have raised it); a
   * lower cap learned from a 429 still holds until it expires (acquire-4.lua takes the lower).
   */
  async setCredentialShare(fraction: number, holdMs: number): Promise<number> {
    const cap = fraction * this.opts.safety;
    const until = Date.now() + holdMs;
    for (const bucket of BUCKET_NAMES) await this.redis.hset(this.keys.bucket(bucket), this.fields.share, cap.toFixed(4), this.fields.shareUntil, until);
    return cap;
  }

  /** The app has no principal rate limit of its own any more: its runs learn Okta's default from a 429 again. */
  async clearCredentialShare(): Promise<void> {
    for (const bucket of BUCKET_NAMES) await this.redis.hdel(this.keys.bucket(bucket), this.fields.share, this.fields.shareUntil);
  }

  /** The share read from this credential's principal rate limit (a fraction of each bucket, with the safety margin) while it holds, else null. */
  async credentialShare(bucket: BucketName): Promise<number | null> {
    const [share, until] = await this.redis.hmget(this.keys.bucket(bucket), this.fields.share, this.fields.shareUntil);
    return share === null || Number(until) <= Date.now() ? null : Number(share);
  }

  /** The cap a 429 taught on this process's credential for the bucket (a fraction of its limit) while it holds, else null. */
  async credentialCap(bucket: BucketName): Promise<{ fraction: number; learnedAt: number; until: number } | null> {
    const [cap, at, until] = await this.redis.hmget(this.keys.bucket(bucket), this.fields.cap, this.fields.capAt, this.fields.capUntil);
    if (cap === null || until === null || Number(until) <= Date.now()) return null;
    return { fraction: Number(cap), learnedAt: Number(at), until: Number(until) };
  }

  /** The run may send again (a retry of a cancelled or halted run). */
  async clearStopMark(runId: string): Promise<void> {
    await this.redis.hdel(this.keys.stopped, runId);
  }

  async stoppedReason(runId: string): Promise<string | null> {
    return this.redis.hget(this.keys.stopped, runId);
  }
}

/** A run's share and pacing; `asksKey` groups its acquires of a turn (with the bucket). */
type Share = { share: number; pacing: Pacing; asksKey: string };
type Asked = { req: RequestDescriptor; leaseId: string; share: Share };
type Returned = { leaseId: string; limit: string; pauseBucket: number; windowEnd: number; counted: number; capUsed: number };

export function jitter(maxMs: number): number {
  return Math.floor(Math.random() * maxMs);
}

/**
 * A wait for a slot does not keep the process alive by itself: while there is work, the
 * Redis connections do; once a command has ended (a Ctrl-C during a paced listing), a
 * slot seconds away would otherwise hold its exit until the CLI's 3-s backstop.
 */
function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (!signal) return new Promise((r) => setTimeout(() => r(true), ms).unref());
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((r) => {
    const done = (slept: boolean) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', stop);
      r(slept);
    };
    const stop = () => done(false);
    const timer = setTimeout(() => done(true), ms).unref();
    signal.addEventListener('abort', stop, { once: true });
  });
}

/** A handle on an org's budget that makes no request (stop, resume, read): its limits do not matter. */
export const controlBudget = (redis: Redis, orgKey: string, credential?: string) => new SharedBudget(redis, { orgKey, maxInFlight: 1, leaseMs: 1, credential });

/** How long a cap learned on the credential holds before the runs try their share again. */
export const CREDENTIAL_CAP_MS = 30 * 60_000;

/** Okta's rate-limit window, which its headers do not state (GRANTSWEEP_RATE_WINDOW_MS changes it for the simulator). */
export const OKTA_WINDOW_MS = 60_000;

/** The furthest ahead a slot is reserved: a request waits at most this long for it, then asks again (acquire-4.lua). */
const MAX_RESERVE_AHEAD_MS = 5_000;

/**
 * How long a slot's lease outlives its request's timeout: a process that dies mid-request
 * frees its place among the org's requests in flight once the request could no longer be on the wire.
 */
export const leaseMsFor = (requestTimeoutMs: number) => requestTimeoutMs + 5_000;

/**
 * A rate-limit 429 that came while the bucket still had room by its own headers: a cap
 * on this credential, not the org's bucket (Okta lets one API token or OAuth app use 50 %
 * of a bucket by default; whether its headers then show the org's bucket or the token's
 * share is unconfirmed, and this is the first case). Returns the fraction of the bucket
 * used when it came (an upper bound of this credential's cap), else null.
 */
function credentialCapHit(meta: ResponseMeta, reserveFraction: number): number | null {
  const { limit, remaining, concurrency } = meta.rate;
  if (meta.status !== 429 || concurrency || limit === null || limit <= 0 || remaining === null) return null;
  if (remaining <= Math.max(1, Math.floor(limit * reserveFraction))) return null;
  return (limit - remaining) / limit;
}
