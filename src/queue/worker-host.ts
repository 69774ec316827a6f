import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { createRevokeTargetProcessor, type RevokeTargetData } from '../../jobs/revoke-target.ts';
import type { OktaAuth } from '../okta/auth.ts';
import { OktaClient } from '../okta/client.ts';
import { backoffMs } from '../okta/retry-policy.ts';
import { createRedis } from '../redis/connection.ts';
import { queuePrefix } from '../runs/keys.ts';
import { newRecord } from '../runs/record.ts';
import { RequestCounter } from '../runs/request-counter.ts';
import type { RunMeta } from '../runs/run-meta.ts';
import { RunStore } from '../runs/run-store.ts';
import { SharedBudget } from './budget.ts';
import { Feeder, type FeederOptions } from './feeder.ts';
import { orgKeyOf, queueNameOf } from './org.ts';
import { ProcessGate } from './process-gate.ts';

export interface WorkerHostOptions {
  redisUrl: string;
  orgUrl: string;
  auth: OktaAuth;
  /** Jobs and Okta requests in flight in this process. */
  concurrency: number;
  /** Okta requests in flight across every process of the org. */
  maxInFlight: number;
  requestTimeoutMs: number;
  /** Okta's rate-limit window (60 s); only the simulator's differ. */
  rateWindowMs?: number;
  log: Logger;
  feeder?: Omit<FeederOptions, 'orgKey'>;
  /** BullMQ lock duration: a killed worker's targets return to the queue after it. */
  lockDurationMs?: number;
}

const META_TTL_MS = 1_000;

/**
 * Everything one worker process runs for one org: the BullMQ worker with the
 * revoke-target processor, the feeder, the Okta client behind the shared budget.
 */
export class WorkerHost {
  readonly store: RunStore;
  readonly budget: SharedBudget;
  readonly queue: Queue<RevokeTargetData>;
  private readonly worker: Worker<RevokeTargetData>;
  private readonly feeder: Feeder;
  private readonly client: OktaClient;
  private readonly counter: RequestCounter;
  private readonly gate: ProcessGate;
  private readonly metaCache = new Map<string, { meta: RunMeta | null; at: number }>();
  private closing: Promise<void> | null = null;
  /** Shared by the queue and the worker; BullMQ does not close a connection it was given. */
  private readonly connection: Redis;

  constructor(
    private readonly redis: Redis,
    private readonly opts: WorkerHostOptions,
  ) {
    const orgKey = orgKeyOf(opts.orgUrl);
    const connection = (this.connection = createRedis({ url: opts.redisUrl, role: 'worker' }));
    this.store = new RunStore(redis);
    this.budget = new SharedBudget(redis, {
      orgKey,
      maxInFlight: opts.maxInFlight,
      leaseMs: opts.requestTimeoutMs + 5_000,
      windowMs: opts.rateWindowMs,
    });
    this.gate = new ProcessGate(this.budget, opts.concurrency);
    this.client = new OktaClient({
      orgUrl: opts.orgUrl,
      auth: opts.auth,
      timeoutMs: opts.requestTimeoutMs,
      connections: opts.concurrency,
      gate: this.gate,
    });
    this.counter = new RequestCounter(this.store);
    this.queue = new Queue(queueNameOf(orgKey), { connection, prefix: queuePrefix });
    this.queue.on('error', (err) => opts.log.warn({ err: String(err) }, 'queue connection error'));
    const processor = createRevokeTargetProcessor({
      store: this.store,
      client: this.client,
      budget: this.budget,
      pauseQueue: (ms) => this.queue.rateLimit(ms),
      runMeta: (runId) => this.runMeta(runId),
      onRequest: (runId, status) => this.counter.add(runId, status),
      log: opts.log,
    });
    this.worker = new Worker(queueNameOf(orgKey), processor, {
      connection,
      prefix: queuePrefix,
      concurrency: opts.concurrency,
      // A limiter must be configured for the manual rate limit (queue.rateLimit) to be honoured;
      // the real pacing is the shared budget's.
      limiter: { max: 1_000_000, duration: 1_000 },
      lockDuration: opts.lockDurationMs ?? 30_000,
      maxStalledCount: 10,
      removeOnComplete: { count: 0 },
      removeOnFail: { count: 10_000 },
      settings: { backoffStrategy: (attemptsMade: number) => backoffMs('transient', attemptsMade) },
      autorun: false,
    });
    this.worker.on('error', (err) => opts.log.warn({ err: String(err) }, 'worker error'));
    this.worker.on('failed', (job, err) => void this.onJobFailed(job, err));
    this.feeder = new Feeder(redis, this.store, this.queue, opts.log, { orgKey, ...opts.feeder });
  }

  start(): void {
    this.feeder.start();
    void this.worker.run().catch((err) => this.opts.log.error({ err: String(err) }, 'worker stopped'));
  }

  /**
   * Finishes the requests in flight and stops. The same promise every time; a second
   * call with `force` stops at once (the targets left active are picked up by other
   * workers once their lock expires).
   */
  close(force = false): Promise<void> {
    if (force) return this.worker.close(true).then(() => this.cleanup());
    this.closing ??= (async () => {
      await this.feeder.stop();
      await this.worker.close();
      await this.cleanup();
    })();
    return this.closing;
  }

  private async cleanup(): Promise<void> {
    const steps = [
      () => this.counter.flush(),
      () => this.gate.stop(),
      () => this.queue.close(),
      () => this.client.close(),
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

  private async runMeta(runId: string): Promise<RunMeta | null> {
    const hit = this.metaCache.get(runId);
    if (hit && Date.now() - hit.at < META_TTL_MS) return hit.meta;
    const meta = await this.store.getMeta(runId);
    this.metaCache.set(runId, { meta, at: Date.now() });
    return meta;
  }

  /** A job that BullMQ failed outside the processor (stalled too often) still gets its one result. */
  private async onJobFailed(job: Job<RevokeTargetData> | undefined, err: Error): Promise<void> {
    if (!job) return;
    // BullMQ emits `failed` for every attempt that threw; only a job that is failed for good counts.
    if ((await job.getState().catch(() => 'unknown')) !== 'failed') return;
    const rec = await this.store.getRecord(job.data.runId, job.data.key).catch(() => null);
    if (!rec || rec.status !== 'pending') return;
    await this.store
      .recordResult(job.data.runId, job.data.key, {
        ...newRecord(rec),
        ...rec,
        status: 'failed',
        attempts: rec.attempts + job.attemptsMade,
        errorCode: 'WORKER',
        errorSummary: err.message.slice(0, 200),
        finishedAt: Date.now(),
      })
      .catch(() => {});
  }
}
