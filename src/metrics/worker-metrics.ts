import type { Queue } from 'bullmq';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ResponseMeta } from '../okta/types.ts';

/** The queue states reported as `grantsweep_queue_jobs{state}`. */
export const QUEUE_STATES = ['waiting', 'prioritized', 'active', 'delayed', 'failed'] as const;

/**
 * One worker process's Prometheus metrics, in a registry of its own (not prom-client's
 * global one, so that two hosts in one process, as in the tests, never collide).
 * Labels are bounded sets only: bucket, HTTP status, target status, queue and state.
 * A run id is never a label (a label per run is a new series per run, for ever).
 */
export class WorkerMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'bucket' | 'status'>;
  private readonly rateLimited: Counter<'bucket' | 'kind'>;
  private readonly remaining: Gauge<'bucket'>;
  private readonly limit: Gauge<'bucket'>;
  private readonly targets: Counter<'status'>;
  private readonly targetSeconds: Histogram<'status'>;
  private readonly queues: Queue[] = [];

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: 'grantsweep_okta_requests_total',
      help: 'Okta API requests, by rate-limit bucket and HTTP status (none: no answer came, a reset or a timeout; each retry counts).',
      labelNames: ['bucket', 'status'],
      registers,
    });
    this.rateLimited = new Counter({
      name: 'grantsweep_okta_rate_limited_total',
      help: 'Okta 429 responses, by bucket; kind is "rate" (bucket exhausted) or "concurrency" (too many requests in flight org-wide).',
      labelNames: ['bucket', 'kind'],
      registers,
    });
    this.remaining = new Gauge({
      name: 'grantsweep_okta_rate_limit_remaining',
      help: 'X-Rate-Limit-Remaining of the last response from the bucket: what is left of the org-wide window.',
      labelNames: ['bucket'],
      registers,
    });
    this.limit = new Gauge({
      name: 'grantsweep_okta_rate_limit_limit',
      help: 'X-Rate-Limit-Limit of the last response from the bucket: the limit learned for the window.',
      labelNames: ['bucket'],
      registers,
    });
    this.targets = new Counter({
      name: 'grantsweep_targets_total',
      help: 'Targets this process finished, by result status.',
      labelNames: ['status'],
      registers,
    });
    this.targetSeconds = new Histogram({
      name: 'grantsweep_target_duration_seconds',
      help: 'Time from picking a target up to recording its result (including waits for the rate budget).',
      labelNames: ['status'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers,
    });
    const queues = this.queues;
    new Gauge({
      name: 'grantsweep_queue_jobs',
      help: 'Jobs in the org queue by state (BullMQ getJobCounts), read at scrape time.',
      labelNames: ['queue', 'state'],
      registers,
      async collect() {
        this.reset();
        for (const q of queues) {
          try {
            const counts = await q.getJobCounts(...QUEUE_STATES);
            for (const state of QUEUE_STATES) this.set({ queue: q.name, state }, counts[state] ?? 0);
          } catch {
            // Redis unreachable during the scrape: the series is absent rather than the scrape failing.
          }
        }
      },
    });
  }

  /** Every Okta response (the OktaClient's onResponse). */
  observeResponse(bucket: string, meta: ResponseMeta): void {
    this.requests.inc({ bucket, status: String(meta.status) });
    if (meta.status === 429) this.rateLimited.inc({ bucket, kind: meta.rate.concurrency ? 'concurrency' : 'rate' });
    // The concurrency 429 says Limit 0 / Remaining 0 about requests in flight, not about the bucket.
    if (meta.rate.concurrency) return;
    if (meta.rate.remaining !== null) this.remaining.set({ bucket }, meta.rate.remaining);
    if (meta.rate.limit !== null) this.limit.set({ bucket }, meta.rate.limit);
  }

  /** A request that got no answer (a reset, a timeout): Okta may have counted it, so it is counted, as status "none". */
  observeNoAnswer(bucket: string): void {
    this.requests.inc({ bucket, status: 'none' });
  }

  /** A target's result was recorded. */
  observeTarget(status: string, seconds: number): void {
    this.targets.inc({ status });
    this.targetSeconds.observe({ status }, seconds);
  }

  /** Reports the queue's depth on every scrape. */
  watchQueue(queue: Queue): void {
    this.queues.push(queue);
  }

  unwatchQueue(queue: Queue): void {
    const i = this.queues.indexOf(queue);
    if (i >= 0) this.queues.splice(i, 1);
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
