import { Queue, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Pacing } from '../../config/schema.ts';
import { queuePrefix } from '../redis/keys.ts';
import { utcSecond } from '../runs/run-id.ts';
import type { SourceDescription } from '../sources/target.ts';

/** The job a schedule adds at each of its times (see jobs/start-scheduled-run.ts). */
export const START_SCHEDULED_RUN = 'start-scheduled-run';

/**
 * Schedules live in a queue of their own per org, next to the org's target queue: the
 * target queue is paused as a whole on a 429 (BullMQ's manual rate limit) and its
 * depth is the backlog of revocations, and neither should hold back or count a
 * nightly run's start.
 */
export const schedulesQueueNameOf = (orgKey: string) => `org-${orgKey}-schedules`;

/** What a schedule's time does while the schedule's previous run is still going. */
export const OVERLAPS = ['skip', 'allow'] as const;
export type Overlap = (typeof OVERLAPS)[number];
/** A schedule's overlap when `schedule add` named none, and for schedules stored before the flag. */
export const DEFAULT_OVERLAP: Overlap = 'skip';

/** A schedule's name becomes part of its runs' ids: `<name>-20261127T020000Z` (≤ 64). */
export const SCHEDULE_NAME = /^[A-Za-z0-9_.-]{1,40}$/;

/**
 * What a schedule's job carries: the run's flags, checked and normalised when the
 * schedule was added, and never a credential (the worker that starts the run uses its own).
 */
export interface ScheduleData {
  schedule: string;
  source: SourceDescription;
  target: { clientId: string | null; scopeId: string | null };
  dryRun: boolean;
  snapshot: boolean;
  /** Absent in schedules stored before --tokens. */
  tokens?: boolean;
  reason: string | null;
  /** --rate-share when given; else the worker's GRANTSWEEP_RATE_SHARE. */
  rateShare: number | null;
  /** --pacing when given; else the worker's GRANTSWEEP_PACING. Absent in schedules stored before it. */
  pacing?: Pacing | null;
  skipInvalid: boolean;
  /** When the schedule was added (ms): `{{since}}` of its first run. Absent in schedules stored before it. */
  addedAt?: number;
  /** --overlap; absent (schedules stored before it) is DEFAULT_OVERLAP. */
  overlap?: Overlap;
}

export interface ScheduleInfo {
  name: string;
  cron: string | null;
  every: number | null;
  tz: string | null;
  /** epoch ms of the next run, if known */
  next: number | null;
  data: ScheduleData | null;
}

/** The run id of a schedule's run at `at`: its name and the scheduled time, to the second, in UTC. */
export function scheduledRunId(name: string, at: number): string {
  return `${name}-${utcSecond(at)}`;
}

/** The time the scheduler meant a schedule's job for (not when a worker picked it up). */
export function scheduledTime(job: Pick<Job, 'opts' | 'id' | 'timestamp' | 'delay'>): number {
  if (job.opts.prevMillis) return job.opts.prevMillis;
  const fromId = Number(/:(\d+)$/.exec(job.id ?? '')?.[1]);
  return Number.isFinite(fromId) && fromId > 0 ? fromId : job.timestamp + (job.delay ?? 0);
}

/** The run's flags as a command line, for `schedule list`. */
export function describeFlags(d: ScheduleData): string {
  const q = (v: string) => (/^[A-Za-z0-9_./@:-]+$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`);
  const parts = [`--${d.source.kind} ${q(d.source.value)}`];
  if (d.target.clientId) parts.push(`--client ${q(d.target.clientId)}`);
  if (d.target.scopeId) parts.push(`--scope ${q(d.target.scopeId)}`);
  if (d.dryRun) parts.push('--dry-run');
  if (d.snapshot) parts.push('--snapshot');
  if (d.tokens) parts.push('--tokens');
  if (d.skipInvalid) parts.push('--skip-invalid');
  if (d.rateShare !== null) parts.push(`--rate-share ${d.rateShare}`);
  if (d.pacing) parts.push(`--pacing ${d.pacing}`);
  if (d.overlap && d.overlap !== DEFAULT_OVERLAP) parts.push(`--overlap ${d.overlap}`);
  if (d.reason) parts.push(`--reason ${q(d.reason)}`);
  return parts.join(' ');
}

/** An org's schedules, on BullMQ job schedulers. */
export class Schedules {
  readonly queue: Queue<ScheduleData>;

  constructor(connection: Redis, orgKey: string) {
    this.queue = new Queue(schedulesQueueNameOf(orgKey), { connection, prefix: queuePrefix });
  }

  /** Adds or replaces the schedule; returns whether it existed, and when it runs next. */
  async upsert(
    name: string,
    when: { cron: string; tz?: string } | { every: number },
    data: ScheduleData,
  ): Promise<{ replaced: boolean; next: number | null }> {
    const replaced = (await this.queue.getJobScheduler(name)) !== undefined;
    const repeat = 'cron' in when ? { pattern: when.cron, ...(when.tz ? { tz: when.tz } : {}) } : { every: when.every };
    const job = await this.queue.upsertJobScheduler(name, repeat, {
      name: START_SCHEDULED_RUN,
      data,
      opts: { attempts: 1, removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } },
    });
    // The scheduler's own next time, as `list` shows it (the job's timestamp + delay can be a few ms short).
    const next = (await this.queue.getJobScheduler(name))?.next ?? (job ? job.timestamp + (job.delay ?? 0) : null);
    return { replaced, next };
  }

  async list(): Promise<ScheduleInfo[]> {
    const all = await this.queue.getJobSchedulers(0, -1, true);
    return all
      .map((s) => ({
        name: s.key,
        cron: s.pattern ?? null,
        every: s.every ?? null,
        tz: s.tz ?? null,
        next: s.next ?? null,
        data: (s.template?.data as ScheduleData | undefined) ?? null,
      }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * The runs whose start job a worker holds now (loading them): an unloaded run that is not
   * among them lost its worker. A frozen worker's job stays active until BullMQ finds it stalled.
   */
  async startingRunIds(): Promise<Set<string>> {
    const active = await this.queue.getActive();
    return new Set(active.filter((j) => j?.data?.schedule).map((j) => scheduledRunId(j.data.schedule, scheduledTime(j))));
  }

  async remove(name: string): Promise<boolean> {
    return this.queue.removeJobScheduler(name);
  }

  close(): Promise<void> {
    return this.queue.close();
  }
}
