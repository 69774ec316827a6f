import type { Pacing } from '../../config/schema.ts';
import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { createRevokeTargetsProcessor, type RevokeTargetsData, type RevokeTargetsProcessor } from '../../jobs/revoke-targets/index.ts';
import { createStartScheduledRunProcessor } from '../../jobs/start-scheduled-run.ts';
import type { WorkerMetrics } from '../metrics/worker-metrics.ts';
import type { OktaAuth } from '../okta/auth.ts';
import { OktaClient } from '../okta/client.ts';
import type { ProxySettings } from '../okta/http.ts';
import { backoffMs } from '../okta/retry-policy.ts';
import { abandonConnection, createRedis } from '../redis/connection.ts';
import { queuePrefix } from '../redis/keys.ts';
import { RequestCounter } from '../runs/request-counter.ts';
import type { RunMeta } from '../runs/run-meta.ts';
import { RunStore } from '../runs/run-store.ts';
import { CREDENTIAL_CAP_MS, leaseMsFor, OKTA_WINDOW_MS, SharedBudget } from './budget.ts';
import { Feeder, type FeederOptions } from './feeder.ts';
import { orgKeyOf, queueNameOf } from './org.ts';
import type { GateLease, RequestDescriptor, RequestGate } from '../okta/types.ts';
import { Schedules, schedulesQueueNameOf, type ScheduleData } from './schedules.ts';

export interface WorkerHostOptions {
  redisUrl: string;
  orgUrl: string;
  auth: OktaAuth;
  /** Jobs and Okta requests in flight in this process. */
  concurrency: number;
  /** Okta requests in flight across every process of the org. */
  maxInFlight: number;
  requestTimeoutMs: number;
  /** Reach Okta through this proxy (HTTPS_PROXY…). */
  proxy?: ProxySettings | null;
  /** Okta's rate-limit window (60 s); only the simulator's differ. */
  rateWindowMs?: number;
  log: Logger;
  feeder?: Omit<FeederOptions, 'orgKey'>;
  /** BullMQ lock duration: a killed worker's targets return to the queue after it. */
  lockDurationMs?: number;
  /** Prometheus metrics of this process (`worker --metrics-port`). */
  metrics?: WorkerMetrics;
  /**
   * Given, the host also starts the org's scheduled runs (`grantsweep schedule`), from the
   * org's schedules queue, with this process's credential.
   */
  schedules?: {
    auth: (scopes: string[]) => OktaAuth;
    rateShare: number;
    attempts: number;
    maxRateLimitDeferrals: number;
    pacing: Pacing;
    /** How far before the last completed run `{{since}}` reaches back (GRANTSWEEP_SCHEDULE_OVERLAP_MS). */
    sinceOverlapMs: number;
  };
}

const META_TTL_MS = 1_000;

/**
 * Everything one worker process runs for one org: the BullMQ worker with the
 * revoke-targets processor, the feeder, the Okta client behind the shared budget.
 */
export class WorkerHost {
  readonly store: RunStore;
  readonly budget: SharedBudget;
  readonly queue: Queue<RevokeTargetsData>;
  private readonly worker: Worker<RevokeTargetsData>;
  private readonly processor: RevokeTargetsProcessor;
  private readonly feeder: Feeder;
  private readonly client: OktaClient;
  private readonly counter: RequestCounter;
  private readonly gate: LocalGate;
  private readonly metaCache = new Map<string, { meta: RunMeta | null; at: number }>();
  private readonly paceReads = new Set<string>();
  private readonly scheduleWorker: Worker<ScheduleData> | null = null;
  /** The org's schedules queue, read for the start jobs in progress (overlap check). */
  private readonly schedules: Schedules | null = null;
  private closing: Promise<void> | null = null;
  private refused: ((reason: string) => void) | null = null;
  /**
   * Resolves with the reason when Okta refuses this process's own settings (its credential, its
   * proxy) for a run that has had answers: the process has stopped taking work (it is closing),
   * and the command ends with the reason (exit 3) while the run goes on with the other workers.
   */
  readonly refusedHere: Promise<string> = new Promise((resolve) => (this.refused = resolve));
  /** Shared by the queue and the worker; BullMQ does not close a connection it was given. */
  private readonly connection: Redis;

  constructor(
    redis: Redis,
    private readonly opts: WorkerHostOptions,
  ) {
    const orgKey = orgKeyOf(opts.orgUrl);
    const connection = (this.connection = createRedis({ url: opts.redisUrl, role: 'worker' }));
    this.store = new RunStore(redis);
    this.budget = new SharedBudget(redis, {
      orgKey,
      maxInFlight: opts.maxInFlight,
      leaseMs: leaseMsFor(opts.requestTimeoutMs),
      windowMs: opts.rateWindowMs,
      credential: opts.auth.principal,
      // Said by the process whose response taught it, each time it is learned or lowered.
      onCredentialCap: (bucket, cap, used) =>
        opts.log.warn(
          { bucket, capPercent: Math.round(cap * 100), usedPercent: Math.round(used * 100) },
          `Okta refused this credential more of the ${bucket} bucket while the bucket had room (${Math.round(used * 100)} % used): ` +
            `a cap on the API token or OAuth app (50 % by default). Every run with this credential now keeps under ${Math.round(cap * 100)} % ` +
            `of the bucket for ${CREDENTIAL_CAP_MS / 60_000} minutes. To use more, raise the token's or app's share in the Admin Console (Security > API > Rate limits), ` +
            'or run with a lower --rate-share',
        ),
    });
    this.gate = new LocalGate(this.budget, opts.concurrency);
    this.client = new OktaClient({
      orgUrl: opts.orgUrl,
      auth: opts.auth,
      timeoutMs: opts.requestTimeoutMs,
      connections: opts.concurrency,
      gate: this.gate,
      proxy: opts.proxy,
    });
    this.counter = new RequestCounter(this.store);
    this.queue = new Queue(queueNameOf(orgKey), { connection, prefix: queuePrefix });
    this.queue.on('error', (err) => opts.log.warn({ err: String(err) }, 'queue connection error'));
    const processor = (this.processor = createRevokeTargetsProcessor({
      store: this.store,
      client: this.client,
      budget: this.budget,
      concurrency: opts.concurrency,
      pauseQueue: (ms) => this.queue.rateLimit(ms),
      runMeta: (runId) => this.runMeta(runId),
      onRequest: (runId, status, req, m) => {
        const cached = this.metaCache.get(runId);
        if (!cached || Date.now() - cached.at >= META_TTL_MS) this.followPace(runId);
        // The run's budget a minute in the bucket: its rate-share × the limit the response states (per window).
        const share = cached?.meta?.rateShare;
        const limit = !m || m.rate.concurrency ? null : m.rate.limit;
        const perMinute = 60_000 / (opts.rateWindowMs ?? OKTA_WINDOW_MS);
        this.counter.add(runId, status, { name: req.bucket, budget: share && limit ? share * limit * perMinute : null });
        if (m) opts.metrics?.observeResponse(req.bucket, m);
        else opts.metrics?.observeNoAnswer(req.bucket);
      },
      onFinish: (_runId, _key, status, seconds) => opts.metrics?.observeTarget(status, seconds),
      // Only beside other workers of the org: a lone process halts the run instead, where `status` shows why.
      stopProcess: async (reason) => {
        if (!this.refused) return true; // stopping already
        if ((await this.queue.getWorkersCount().catch(() => 0)) <= 1) return false;
        if (!this.refused) return true;
        this.refused(reason);
        this.refused = null;
        opts.log.error({}, reason);
        void this.close();
        return true;
      },
      log: opts.log,
    }));
    this.worker = new Worker(queueNameOf(orgKey), processor, {
      connection,
      prefix: queuePrefix,
      concurrency: opts.concurrency,
      // A limiter must be configured for the manual rate limit (queue.rateLimit) to be honoured;
      // the real pacing is the shared budget's.
      limiter: { max: 1_000_000, duration: 1_000 },
      lockDuration: opts.lockDurationMs ?? 30_000,
      // Stalled jobs (a killed worker's) are looked for at least once per lock duration,
      // so they return to the queue within about two lock durations, not BullMQ's 30 s.
      stalledInterval: Math.min(30_000, opts.lockDurationMs ?? 30_000),
      maxStalledCount: 10,
      removeOnComplete: { count: 0 },
      removeOnFail: { count: 10_000 },
      settings: { backoffStrategy: (attemptsMade: number) => backoffMs('transient', attemptsMade) },
      autorun: false,
    });
    this.worker.on('error', (err) => opts.log.warn({ err: String(err) }, 'worker error'));
    this.worker.on('failed', (job, err) => void this.onJobFailed(job, err));
    this.feeder = new Feeder(redis, this.store, this.queue, opts.log, {
      orgKey,
      onRunFinal: (runId) => this.budget.forgetRun(runId),
      onActive: (active) => this.forgetInactive(active),
      ...opts.feeder,
    });
    opts.metrics?.watchQueue(this.queue);
    if (opts.schedules) {
      const s = opts.schedules;
      const schedules = (this.schedules = new Schedules(connection, orgKey));
      const processor = createStartScheduledRunProcessor({
        launch: {
          redis, store: this.store, log: opts.log, orgUrl: opts.orgUrl, auth: s.auth,
          requestTimeoutMs: opts.requestTimeoutMs, proxy: opts.proxy, maxInFlight: opts.maxInFlight, rateWindowMs: opts.rateWindowMs ?? OKTA_WINDOW_MS,
          attempts: s.attempts, maxRateLimitDeferrals: s.maxRateLimitDeferrals, pacing: s.pacing,
        },
        defaultRateShare: s.rateShare,
        sinceOverlapMs: s.sinceOverlapMs,
        startingRunIds: () => schedules.startingRunIds(),
        log: opts.log,
      });
      this.scheduleWorker = new Worker(schedulesQueueNameOf(orgKey), processor, {
        connection, prefix: queuePrefix, concurrency: 1, autorun: false,
        removeOnComplete: { count: 100 }, removeOnFail: { count: 100 },
      });
      this.scheduleWorker.on('error', (err) => opts.log.warn({ err: String(err) }, 'schedules worker error'));
    }
  }

  start(): void {
    this.feeder.start();
    void this.worker.run().catch((err) => this.opts.log.error({ err: String(err) }, 'worker stopped'));
    void this.scheduleWorker?.run().catch((err) => this.opts.log.error({ err: String(err) }, 'schedules worker stopped'));
  }

  /**
   * Finishes the requests in flight and stops. The same promise every time; a second
   * call with `force` stops at once (the targets left active are picked up by other
   * workers once their lock expires).
   */
  close(force = false): Promise<void> {
    if (force) {
      // No try starts or retries any more; the requests in flight are aborted first: a graceful close already under way
      // (BullMQ lets a forced close join it) would otherwise wait for their answers.
      // Their targets stay pending and go back to the queue (retried, or stalled).
      this.processor.drain();
      const aborted = this.client.close(true).catch(() => {});
      return Promise.all([aborted, this.feeder.stop(), this.worker.close(true), this.scheduleWorker?.close(true)]).then(() => this.cleanup(true));
    }
    this.closing ??= (async () => {
      this.processor.drain();
      await this.feeder.stop();
      await Promise.all([this.worker.close(), this.scheduleWorker?.close()]);
      await this.cleanup();
    })();
    return this.closing;
  }

  /**
   * Redis is gone and not coming back (GRANTSWEEP_REDIS_OUTAGE_MS): stop at once without
   * waiting on it. The queue's connection is cut, so what awaited it fails now; the
   * caller cuts the store's. A close() afterwards joins this one.
   */
  abandon(): Promise<void> {
    abandonConnection(this.connection);
    // BullMQ's own duplicates keep retrying: its close is not awaited, the process is ending.
    this.close(true).catch(() => {});
    this.closing = Promise.resolve();
    return this.closing;
  }

  private async cleanup(force = false): Promise<void> {
    const steps = [
      () => this.counter.flush(),
      () => this.opts.metrics?.unwatchQueue(this.queue),
      () => this.gate.stop(),
      () => this.queue.close(),
      () => this.schedules?.close(),
      () => this.client.close(force),
      () => this.connection.quit(),
    ];
    for (const step of steps) {
      try {
        await step();
      } catch (err) {
        this.opts.log.warn({ err: String(err) }, 'cleanup step failed');
      }
    }
  }

  /**
   * A run's pace can change while it runs (`grantsweep pace`): as its responses come, its
   * metadata is read again at most once a second, and the budget takes its share and pacing
   * for the requests that follow, not only for the next batch, which at a low share can be
   * minutes away.
   */
  private followPace(runId: string): void {
    if (this.paceReads.has(runId)) return;
    this.paceReads.add(runId);
    this.runMeta(runId)
      .then((meta) => {
        if (meta) this.budget.setShare(runId, meta.rateShare, meta.pacing);
      })
      .catch(() => {}) // the next response tries again; the share in use holds meanwhile
      .finally(() => this.paceReads.delete(runId));
  }

  /**
   * A worker lives for months and runs come daily: what it keeps per run (the cached
   * metadata, the share, the slow start's state) goes once the run leaves the org's active
   * set. A run made active again (`retry`) sets its share at its next job and starts slow,
   * as after a halt it should. A run with a job in progress here is kept: it may have been
   * made active again between the set's read and this call, and its job has set its share.
   */
  private forgetInactive(active: readonly string[]): void {
    const held = this.runsHeld();
    if (held.length === 0) return;
    const live = new Set(active);
    for (const runId of held) {
      if (live.has(runId) || this.processor.busyWith(runId)) continue;
      this.metaCache.delete(runId);
      this.budget.dropShare(runId);
      this.processor.forget(runId);
    }
  }

  /** The runs this process keeps something of. Exposed for tests. */
  runsHeld(): string[] {
    return [...new Set([...this.metaCache.keys(), ...this.budget.runsWithShares(), ...this.processor.runsHeld()])];
  }

  private async runMeta(runId: string): Promise<RunMeta | null> {
    const hit = this.metaCache.get(runId);
    if (hit && Date.now() - hit.at < META_TTL_MS) return hit.meta;
    const meta = await this.store.getMeta(runId);
    this.metaCache.set(runId, { meta, at: Date.now() });
    return meta;
  }

  /** A job that BullMQ failed for good (stalled too often, or Redis kept failing) still gives each target its one result. */
  private async onJobFailed(job: Job<RevokeTargetsData> | undefined, err: Error): Promise<void> {
    if (!job) return;
    // BullMQ emits `failed` for every attempt that threw; only a job that is failed for good counts.
    if ((await job.getState().catch(() => 'unknown')) !== 'failed') return;
    const { runId } = job.data;
    const keys = job.data.keys;
    const recs = await this.store.getRecords(runId, keys).catch(() => []);
    await Promise.all(
      keys.map(async (key, i) => {
        const rec = recs[i];
        if (!rec || rec.status !== 'pending') return;
        this.opts.log.error({ runId, target: key, err: err.message }, 'target failed: its job failed outside the processor');
        const recorded = await this.store
          .recordResult(runId, key, {
            ...rec,
            status: 'failed',
            // The tries Okta saw, as the processor counted them; the job's deliveries go in the summary.
            attempts: rec.attempts,
            errorCode: 'WORKER',
            // A job given back by killed or frozen workers counts stalls, not deliveries: both are said.
            errorSummary: `its job failed outside Okta (${job.attemptsMade} failed ${job.attemptsMade === 1 ? 'delivery' : 'deliveries'}, ${job.stalledCounter ?? 0} stalled): ${err.message}`.slice(0, 200),
            finishedAt: Date.now(),
          })
          .catch(() => 0);
        if (recorded === 1) this.opts.metrics?.observeTarget('failed', ((job.finishedOn ?? Date.now()) - (job.processedOn ?? job.timestamp)) / 1000);
      }),
    );
  }
}

/**
 * Bounds this process's Okta requests in flight (--concurrency) in front of the shared
 * budget: a FIFO semaphore. It replaced ProcessGate (Bottleneck) because Bottleneck's
 * local scheduler yields to the timer queue several times per job: about 20 ms per
 * acquire under load, which capped a worker at ~350 targets/s (see BENCHMARKS.md).
 */
class LocalGate implements RequestGate {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  private stopped = false;

  constructor(
    private readonly inner: RequestGate,
    maxConcurrent: number,
  ) {
    this.free = maxConcurrent;
  }

  async acquire(req: RequestDescriptor): Promise<GateLease> {
    if (this.free > 0 && this.waiting.length === 0) this.free--;
    // After stop() a waiter is never woken (like Bottleneck's dropped jobs): no new request starts.
    else await new Promise<void>((wake) => this.waiting.push(wake));
    let lease: GateLease;
    try {
      lease = await this.inner.acquire(req);
    } catch (err) {
      this.done();
      throw err;
    }
    let released = false;
    return {
      release: (meta) => {
        if (released) return;
        released = true;
        lease.release(meta);
        this.done();
      },
    };
  }

  private done(): void {
    const next = this.stopped ? undefined : this.waiting.shift();
    if (next) next(); // the slot passes straight to the next waiter
    else this.free++;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.waiting.length = 0;
  }
}
