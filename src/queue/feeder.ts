import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { REVOKE_TARGETS, type RevokeTargetsData } from '../../jobs/revoke-targets/index.ts';
import { releaseOwnLock } from '../redis/lock.ts';
import { orgKeys, runKeys } from '../redis/keys.ts';
import { FINAL_RUN_STATES, type RunMeta } from '../runs/run-meta.ts';
import type { RunStore } from '../runs/run-store.ts';
import { MAX_TARGETS_PER_JOB, placeInQueue, stepFor } from './run-order.ts';

export interface FeederOptions {
  orgKey: string;
  /** Top up a run when at most this many of its jobs' worth of targets wait in the queue. */
  lowWater?: number;
  /** Jobs added per top-up, at most. */
  batch?: number;
  /** Targets per job, at most. */
  maxTargetsPerJob?: number;
  /** A run is spread over at least this many jobs (while its targets allow). */
  spreadOver?: number;
  intervalMs?: number;
  /**
   * A running run with pending targets, all of them fed, and no job left in the queue
   * for this long: those targets are orphans and are fed again (see sweepOrphans).
   */
  orphanGraceMs?: number;
  /** Called once a run is found final, before it leaves the org's active set. */
  onRunFinal?: (runId: string) => Promise<void>;
  /**
   * Called with the org's active runs at every pass. Only one process finds a run final, so
   * this is how the others learn to drop what they keep of it (see WorkerHost.forgetInactive).
   */
  onActive?: (active: readonly string[]) => void;
}

/**
 * Targets per job: a job per target costs more than its Okta request, so a large run
 * goes in batches; a small one is spread over at least `spread` jobs, so that every
 * worker (and every slot of its --concurrency) gets some.
 */
export const targetsPerJob = (left: number, max: number, spread = 64) => Math.max(1, Math.min(max, Math.ceil(left / spread)));

/** The run a job id names: the feeder's ids are `<runId>.<n>` and `<runId>.r<n>` (a run id may hold dots; its last segment is the job's). */
export const runIdOfJob = (jobId: string): string | null => /^(.+)\.r?\d+$/.exec(jobId)?.[1] ?? null;

/**
 * Feeds the queue from the runs' compact target lists a window at a time, so that a
 * million-target run costs Redis a compact record per target, not a BullMQ job per
 * target. Every worker process runs one; a lock per run lets one feed at a time.
 * Crash-safe: the list is read, the jobs added, and only then the position moved;
 * a crash in between adds the same job ids again, which BullMQ ignores while they
 * wait and the processor skips once their result is final.
 */
export class Feeder {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  private readonly lowWater: number;
  private readonly batch: number;
  private readonly maxPerJob: number;
  private readonly spread: number;
  private readonly intervalMs: number;
  private readonly orphanGraceMs: number;
  private readonly token = randomUUID();
  /** Per run: since when it has looked orphaned, and its pending count then. */
  private readonly orphaned = new Map<string, { since: number; pending: number }>();

  constructor(
    private readonly redis: Redis,
    private readonly store: RunStore,
    private readonly queue: Queue<RevokeTargetsData>,
    private readonly log: Logger,
    private readonly opts: FeederOptions,
  ) {
    this.lowWater = opts.lowWater ?? 64;
    this.batch = opts.batch ?? 64;
    this.maxPerJob = opts.maxTargetsPerJob ?? MAX_TARGETS_PER_JOB;
    this.spread = opts.spreadOver ?? 64;
    this.intervalMs = opts.intervalMs ?? 200;
    this.orphanGraceMs = opts.orphanGraceMs ?? 5_000;
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick()
        .catch((err) => this.log.warn({ err: String(err) }, 'feeder: top-up failed; will try again'))
        .finally(() => this.schedule(this.intervalMs));
    }, ms);
  }

  /** One top-up pass over the org's active runs. Exposed for tests. */
  async tick(): Promise<void> {
    const active = await this.redis.smembers(orgKeys(this.opts.orgKey).active);
    this.opts.onActive?.(active);
    for (const runId of active) {
      if (this.stopped) return;
      await this.feedRun(runId);
    }
  }

  private async feedRun(runId: string): Promise<void> {
    const k = runKeys(runId);
    if ((await this.redis.set(k.feedLock, this.token, 'PX', 10_000, 'NX')) !== 'OK') return;
    try {
      const meta = await this.store.getMeta(runId);
      if (!meta || FINAL_RUN_STATES.includes(meta.state)) {
        this.orphaned.delete(runId);
        // Before the SREM: a crash in between leaves the run active, and the next pass does both again.
        await this.opts.onRunFinal?.(runId);
        await this.redis.srem(orgKeys(this.opts.orgKey).active, runId);
        return;
      }
      // Retried targets first. Their job ids are numbered by a counter that only grows, so
      // a target retried twice never meets its earlier (failed, kept) job's id.
      const [requeueLen, orderLen, { pending }] = await Promise.all([this.redis.llen(k.requeue), this.redis.llen(k.order), this.store.getCounts(runId)]);
      const per = targetsPerJob(requeueLen + orderLen - meta.fed, this.maxPerJob, this.spread);
      // Each run keeps its own few jobs in the queue (not the queue as a whole a few jobs):
      // with a shared low water the run fed first in every pass would keep the others out,
      // and their turns (the jobs' priorities) would never come.
      const queued = pending - (orderLen - meta.fed) - requeueLen;
      const toFeed = requeueLen > 0 || meta.fed < orderLen;
      if (toFeed && queued > this.lowWater * per) return;
      if (toFeed) {
        let room = this.batch * per;
        const place = await this.placeOf(meta);
        let fedNow = 0;
        if (requeueLen > 0) {
          const requeued = await this.redis.lrange(k.requeue, 0, room - 1);
          await this.add(runId, requeued, per, meta.attempts, place, (i) => `${runId}.r${meta.requeueFed + i}`);
          // A crash here adds the same jobs again (same ids): BullMQ ignores those that still exist.
          await this.redis.multi().ltrim(k.requeue, requeued.length, -1).hincrby(k.meta, 'requeueFed', requeued.length).exec();
          room -= requeued.length;
          fedNow = requeued.length;
        }
        if (room > 0 && meta.fed < orderLen) {
          const next = await this.redis.lrange(k.order, meta.fed, meta.fed + room - 1);
          if (next.length > 0) {
            await this.add(runId, next, per, meta.attempts, place, (i) => `${runId}.${meta.fed + i}`, fedNow);
            await this.redis.hincrby(k.meta, 'fed', next.length);
          }
        }
      }
      if (meta.state === 'queued') await this.store.markRunning(runId);
      // Past the low water on purpose: every pending target of a fully fed run may be an orphan.
      if (meta.state === 'running' && meta.loaded && !toFeed) await this.sweepOrphans(runId, pending);
      else this.orphaned.delete(runId);
    } finally {
      // Only our own lock: it may have expired and been taken by another feeder.
      await releaseOwnLock(this.redis, k.feedLock, this.token);
    }
  }

  /**
   * Every target of the run was fed, some are still pending, the pending count has not
   * moved for `orphanGraceMs`, and no job of the run is left in the queue (waiting,
   * active, delayed…): no worker will ever take those targets. That happens when results
   * are lost after their jobs completed (a Redis Cluster failover to a replica that had
   * not received them, while the queue lives on another master; an OS crash under a
   * Redis that fsyncs every second) or when a job failed for good and its worker died
   * before recording that. They are fed again: a target done twice is revoked twice,
   * and Okta's answer to the second (nothing left) is harmless.
   */
  private async sweepOrphans(runId: string, pending: number): Promise<void> {
    const seen = this.orphaned.get(runId);
    if (pending === 0) {
      this.orphaned.delete(runId);
      return;
    }
    // The first look, or progress, starts the clock again: a run whose results keep coming is not stuck.
    if (!seen || seen.pending !== pending) {
      this.orphaned.set(runId, { since: Date.now(), pending });
      return;
    }
    if (Date.now() - seen.since < this.orphanGraceMs) return;
    seen.since = Date.now();
    // Job ids are the run's id and a position (see feedRun): one script call lists them all.
    const ids = await this.queue.getRanges(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children'], 0, -1);
    if (ids.some((id) => runIdOfJob(id) === runId)) return;
    this.orphaned.delete(runId);
    const n = await this.store.requeueOrphans(runId);
    this.log.warn({ runId, targets: n }, `feeder: ${n} pending targets of the run had no job left (results lost by Redis?): fed again`);
  }

  /**
   * The run's place among the org's runs (src/queue/run-order.ts): `tagAt(n)` is the
   * priority of a job whose first target is the n-th fed in this pass.
   */
  private async placeOf(meta: RunMeta): Promise<{ tagAt: (n: number) => number }> {
    const [first] = await this.queue.getPrioritized(0, 0);
    const head = first?.priority ? first.priority : null;
    const served = meta.fed + meta.requeueFed;
    const perStep = stepFor(meta.rateShare);
    const { base } = placeInQueue(meta.queueBase, served, head, perStep);
    if (base !== meta.queueBase) await this.redis.hset(runKeys(meta.runId).meta, 'queueBase', base);
    return { tagAt: (n) => placeInQueue(base, served + n, null, perStep).tag };
  }

  /** Jobs of `per` targets each; `idAt(i)` names the job whose first target is keys[i]; `offset`: targets fed before these in this pass. */
  private async add(runId: string, keys: string[], per: number, attempts: number, place: { tagAt: (n: number) => number }, idAt: (i: number) => string, offset = 0): Promise<void> {
    const jobs = [];
    for (let i = 0; i < keys.length; i += per) {
      jobs.push({
        name: REVOKE_TARGETS,
        data: { runId, keys: keys.slice(i, i + per) },
        opts: { jobId: idAt(i), attempts, backoff: { type: 'okta' }, priority: place.tagAt(offset + i) },
      });
    }
    await this.queue.addBulk(jobs);
  }
}
