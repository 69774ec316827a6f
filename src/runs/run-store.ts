import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { DEFAULTS } from '../../config/defaults.ts';
import type { Pacing } from '../../config/schema.ts';
import { UsageError } from '../errors.ts';
import { withLock } from '../redis/lock.ts';
import { callScript, defineScripts } from '../redis/scripts.ts';
import { TurnBatches } from '../redis/turn-batches.ts';
import { runKeys, runsIndexKey } from '../redis/keys.ts';
import { evidenceAfter, fromRedis, newRecord, STATUSES, toRedis, type GrantEvidence, type TargetRecord, type TargetStatus } from './record.ts';
import { metaFromRedis, metaToRedis, pacingOf, rateShareOf, type RunMeta, type RunState } from './run-meta.ts';

const SCRIPTS = fileURLToPath(new URL('./scripts', import.meta.url));
const CHUNK = 1000;

/** The grants a sent mark carries ('1' carries none; one that cannot be read, none either). */
function sentGrants(mark: string): GrantEvidence[] | null {
  if (mark === '1') return null;
  try {
    const grants: unknown = JSON.parse(mark);
    return Array.isArray(grants) ? (grants as GrantEvidence[]) : null;
  } catch {
    return null;
  }
}

/** What every command and the dashboard say of a run id that names no run (exit 2, 404). */
export const noSuchRun = (runId: string) => new UsageError(`run ${runId}: no such run (see \`grantsweep runs\`)`);

/** A run's requests in one rate-limit bucket, and its budget there as a worker last recorded it (null before one did). */
export interface BucketCount {
  requests: number;
  budget: number | null;
}

/** `requests` counts every endpoint; `buckets` the same requests by rate-limit bucket (fields `requests:<bucket>`, `budget:<bucket>`). */
export type RunCounts = Record<TargetStatus, number> & { total: number; requests: number; rateLimited: number; buckets: Record<string, BucketCount> };

/** A run's requests in one epoch minute, as `perMinute` reads them back. */
export interface MinuteCounts {
  minute: number;
  requests: number;
  rateLimited: number;
  /** The run's budget that minute in its busiest bucket, null before a worker learned one. */
  budget: number | null;
  buckets: Record<string, BucketCount>;
}

/** One process's request counts for a run and an epoch minute, as RequestCounter flushes them. */
export interface RequestCounts {
  runId: string;
  minute: number;
  requests: number;
  rateLimited: number;
  /** The run's budget that minute in its busiest bucket, null when no response said. */
  budget?: number | null;
  /** The same requests by bucket, with the run's budget there (null when no response said). */
  buckets?: ({ name: string } & BucketCount)[];
}

/** The refusal of a run id some run already has. */
export const runIdTaken = (runId: string) => new UsageError(`--run-id ${runId}: a run with this id already exists (see \`grantsweep runs\`)`);

/**
 * A run in Redis: metadata, one compact record per target (with its result), counters
 * per status and per minute. Every write that must stay consistent with the counters
 * is one Lua script over keys of a single hash slot.
 */
export class RunStore {
  constructor(readonly redis: Redis) {
    defineScripts(redis, SCRIPTS);
  }

  async createRun(meta: RunMeta): Promise<void> {
    const k = runKeys(meta.runId);
    if ((await this.redis.hsetnx(k.meta, 'runId', meta.runId)) === 0) {
      throw runIdTaken(meta.runId);
    }
    // One transaction per hash slot: the runs index is a key of its own (a Redis Cluster
    // refuses a MULTI across slots).
    await this.redis.multi().hset(k.meta, metaToRedis(meta)).hset(k.counts, { total: 0, pending: 0 }).exec();
    await this.redis.zadd(runsIndexKey, meta.createdAt, meta.runId);
  }

  async getMeta(runId: string): Promise<RunMeta | null> {
    return metaFromRedis(await this.redis.hgetall(runKeys(runId).meta));
  }

  async requireMeta(runId: string): Promise<RunMeta> {
    const meta = await this.getMeta(runId);
    if (!meta) throw noSuchRun(runId);
    return meta;
  }

  async getCounts(runId: string): Promise<RunCounts> {
    const h = await this.redis.hgetall(runKeys(runId).counts);
    const counts = { total: 0, requests: 0, rateLimited: 0, buckets: {} } as unknown as RunCounts;
    for (const s of STATUSES) counts[s] = 0;
    for (const [field, value] of Object.entries(h)) {
      const colon = field.indexOf(':');
      if (colon < 0) {
        (counts as unknown as Record<string, number>)[field] = Number(value);
        continue;
      }
      const name = field.slice(colon + 1);
      const b = (counts.buckets[name] ??= { requests: 0, budget: null });
      if (field.startsWith('requests:')) b.requests = Number(value);
      else if (field.startsWith('budget:')) b.budget = Number(value);
    }
    return counts;
  }

  /** Stores targets once each; returns how many were new (the rest were duplicates). */
  async addTargets(runId: string, items: { key: string; record: TargetRecord }[]): Promise<number> {
    const k = runKeys(runId);
    let added = 0;
    for (let i = 0; i < items.length; i += CHUNK) {
      const args: string[] = [];
      for (const { key, record } of items.slice(i, i + CHUNK)) args.push(key, toRedis(record), record.status);
      added += await callScript<number>(this.redis, 'addTargets', [k.targets, k.order, k.counts], args);
    }
    return added;
  }

  async finishLoading(runId: string): Promise<RunState> {
    const k = runKeys(runId);
    return callScript<RunState>(this.redis, 'finishLoading', [k.counts, k.meta], [Date.now()]);
  }

  async markRunning(runId: string): Promise<void> {
    const k = runKeys(runId);
    await callScript(this.redis, 'markRunning', [k.meta], []);
  }

  async getRecord(runId: string, key: string): Promise<TargetRecord | null> {
    const raw = await this.redis.hget(runKeys(runId).targets, key);
    return raw ? readRecord(raw) : null;
  }

  /** The records of these targets, in their order (null for an unknown key), with their sent marks. */
  async getRecords(runId: string, keys: string[]): Promise<(TargetRecord | null)[]> {
    if (keys.length === 0) return [];
    const k = runKeys(runId);
    const [raws, sent] = await Promise.all([this.redis.hmget(k.targets, ...keys), this.redis.hmget(k.sent, ...keys)]);
    return raws.map((raw, i) => {
      if (!raw) return null;
      const rec = readRecord(raw);
      const mark = sent[i];
      if (!mark) return rec;
      // The mark's try listed after the record's: its listing follows the record's as a try's does.
      const marked = sentGrants(mark);
      return { ...rec, revokeSent: true, grants: marked ? evidenceAfter(rec, marked) : rec.grants };
    });
  }

  /**
   * Marks that a DELETE of the target is leaving, before its answer: a worker killed before the
   * answer or its record leaves the mark to the next one (the lost-answer rule). One HSET per
   * run for the marks of one event-loop turn, on the connection the DELETE's slot came by.
   * A final result takes it away (record-results-4.lua), and so does a try that ends knowing
   * Okta did nothing (clearSent).
   */
  markSent(runId: string, key: string, grants: GrantEvidence[] | null): void {
    // With what the try listed before it (--scope, --snapshot): what the next try no longer finds
    // of those is this run's. A mark that cannot be written leaves the in-memory one.
    this.sentMarks.add(runId, { key, value: grants ? JSON.stringify(grants) : '1' }).catch(() => {});
  }

  private readonly sentMarks = new TurnBatches<{ key: string; value: string }, void>(async (runId, items) => {
    const fields: string[] = [];
    for (const { key, value } of items) fields.push(key, value);
    await this.redis.hset(runKeys(runId).sent, ...fields);
    return items.map(() => undefined);
  });

  /** A try that ends knowing its DELETEs did nothing (a 429, a 4xx): its mark goes. */
  async clearSent(runId: string, key: string): Promise<void> {
    await this.redis.hdel(runKeys(runId).sent, key);
  }

  /**
   * 1 recorded, 0 already final (a redelivery), -1 unknown target. The results of a run
   * that arrive in the same turn of the event loop (responses read together) go to
   * Redis in one script call.
   */
  recordResult(runId: string, key: string, record: TargetRecord): Promise<number> {
    return this.results.add(runId, { key, record });
  }

  /**
   * Stores a target's progress while it stays pending (the attempts it has spent), unless
   * it has a result meanwhile. 1 stored, 0 already final, -1 unknown target.
   */
  saveProgress(runId: string, key: string, record: TargetRecord): Promise<number> {
    if (record.status !== 'pending') throw new Error(`saveProgress: ${key} is ${record.status}, not pending`);
    return this.results.add(runId, { key, record });
  }

  private readonly results = new TurnBatches<{ key: string; record: TargetRecord }, number>(async (runId, items) => {
    const k = runKeys(runId);
    const args: (string | number)[] = [Date.now()];
    for (const { key, record } of items) args.push(key, toRedis(record), record.status);
    return (await callScript<number[]>(this.redis, 'recordResults', [k.targets, k.counts, k.meta, k.sent], args)).map(Number);
  });

  /** Counts a 403 for the run (HALT_AFTER_REFUSALS of them before any success halt it). Returns the count. */
  async countForbidden(runId: string): Promise<number> {
    return this.redis.hincrby(runKeys(runId).meta, 'forbidden', 1);
  }

  /** Counts a request of the run that found no Okta to talk to (refused, no such host, a bad certificate). */
  async countUnreachable(runId: string): Promise<number> {
    return this.redis.hincrby(runKeys(runId).meta, 'unreachable', 1);
  }

  /**
   * One change of a run's state together with its mark among the org's stopped runs at a time,
   * across processes (`retry`, `cancel`, a worker's halt): the two live in different hash slots,
   * so no one script can change both. What it covers takes a few round trips; a second caller waits.
   */
  withControlLock<T>(runId: string, fn: () => Promise<T>): Promise<T> {
    const busy = () => new UsageError(`run ${runId}: another retry, cancel or halt of it is under way; try again`);
    // A waiter outlasts the lock's life: a holder that died (a retry killed half-way) never makes a `cancel` fail.
    return withLock(this.redis, runKeys(runId).controlLock, { ttlMs: 10_000, waitMs: 15_000, busy }, fn);
  }

  /**
   * A halted or cancelled run runs again (its stop was undone by `retry`); false when it was
   * in another state by then.
   */
  async resume(runId: string): Promise<boolean> {
    const k = runKeys(runId);
    const state = await this.redis.hget(k.meta, 'state');
    if (state !== 'halted' && state !== 'cancelled') return false;
    await this.redis.hset(k.meta, { state: 'running', stateReason: '', finishedAt: '' });
    return true;
  }

  /** Halts or cancels a run that is not final yet. The run's state afterwards (null: no such run), and whether this call moved it there. */
  async stopRun(runId: string, state: 'halted' | 'cancelled', reason: string): Promise<{ state: RunState | null; changed: boolean }> {
    const r = await callScript<[RunState, number] | null>(this.redis, 'stopRun', [runKeys(runId).meta], [state, reason, Date.now()]);
    return r ? { state: r[0], changed: r[1] === 1 } : { state: null, changed: false };
  }

  /**
   * Sets a run's rate share and pacing (each only when given) unless it has completed; a run
   * whose share changes has its place in the queue counted afresh at its next feed. Null for an unknown run.
   */
  async setPace(runId: string, change: { rateShare?: number; pacing?: Pacing }): Promise<{ state: RunState; rateShare: number; pacing: Pacing } | null> {
    const r = await callScript<[RunState, string | null, string | null] | null>(
      this.redis, 'setPace', [runKeys(runId).meta], [change.rateShare ?? '', change.pacing ?? '', DEFAULTS.rateShare],
    );
    return r ? { state: r[0], rateShare: rateShareOf(r[1]), pacing: pacingOf(r[2]) } : null;
  }

  /**
   * Deletes the run's keys if it is final and finished before `cutoff` (ms), and drops it
   * from the runs index; null when it was left (not final, too recent, or gone).
   */
  async deleteRun(runId: string, cutoff: number): Promise<{ state: RunState; total: number } | null> {
    const k = runKeys(runId);
    const r = await callScript<[RunState, number] | null>(this.redis, 'deleteRun', [k.meta, k.targets, k.order, k.requeue, k.counts, k.perMinute, k.feedLock, k.sent], [cutoff]);
    if (!r) return null;
    await this.redis.zrem(runsIndexKey, runId);
    return { state: r[0], total: Number(r[1]) };
  }

  /** Runs created before `before` (ms), oldest first: `limit` of them from `offset`. */
  async runIdsCreatedBefore(before: number, offset: number, limit: number): Promise<string[]> {
    return this.redis.zrangebyscore(runsIndexKey, '-inf', `(${before}`, 'LIMIT', offset, limit);
  }

  /** Drops an index entry whose run is gone (a prune cut short between its two steps). */
  async forgetIndexEntry(runId: string): Promise<void> {
    await this.redis.zrem(runsIndexKey, runId);
  }

  /**
   * Puts failed targets back on the run (and, with `includePending`, the pending ones
   * that were already fed to the queue: those a halt or cancel left undone).
   */
  async requeue(runId: string, includePending: boolean): Promise<number> {
    const meta = await this.requireMeta(runId);
    const n = await this.requeueWhere(meta, (status, fed) => status === 'failed' || (includePending && status === 'pending' && fed), includePending);
    // Nothing left pending (all were final already): the run completes again.
    if (meta.loaded) await this.finishLoading(runId);
    return n;
  }

  /**
   * Feeds again the pending targets that were fed to the queue (the feeder found no job
   * left that holds them: a result lost with a Redis failover or an OS crash). Failed
   * targets stay failed: retrying them is the operator's `retry`.
   */
  async requeueOrphans(runId: string): Promise<number> {
    return this.requeueWhere(await this.requireMeta(runId), (status, fed) => status === 'pending' && fed, true);
  }

  /** Requeues the targets `pick` chooses (by status, and whether the feeder had reached them), in input order. */
  private async requeueWhere(meta: RunMeta, pick: (status: TargetStatus, fed: boolean) => boolean, includePending: boolean): Promise<number> {
    const k = runKeys(meta.runId);
    let n = 0;
    for await (const chunk of this.orderChunks(meta.runId)) {
      const keys = chunk.keys.filter((_, i) => {
        const raw = chunk.raws[i];
        return !!raw && pick(readRecord(raw).status, chunk.start + i < meta.fed);
      });
      if (keys.length === 0) continue;
      n += await callScript<number>(this.redis, 'requeue', [k.targets, k.counts, k.requeue, k.meta], [includePending ? '1' : '0', ...keys]);
    }
    return n;
  }

  /** The run's records in input order, a chunk at a time (memory stays flat). */
  async *records(runId: string): AsyncGenerator<TargetRecord> {
    for await (const chunk of this.orderChunks(runId)) {
      for (const raw of chunk.raws) if (raw) yield readRecord(raw);
    }
  }

  private async *orderChunks(runId: string) {
    const k = runKeys(runId);
    for (let start = 0; ; start += CHUNK) {
      const keys = await this.redis.lrange(k.order, start, start + CHUNK - 1);
      if (keys.length === 0) return;
      const raws = await this.redis.hmget(k.targets, ...keys);
      yield { start, keys, raws };
      if (keys.length < CHUNK) return;
    }
  }

  /** The newest `limit` runs, of one org (its key) or of all. */
  async listRuns(limit = 100, orgKey: string | null = null): Promise<RunMeta[]> {
    const found: RunMeta[] = [];
    const page = orgKey ? Math.max(limit, 200) : limit;
    for (let offset = 0; found.length < limit; offset += page) {
      const ids = await this.redis.zrevrange(runsIndexKey, offset, offset + page - 1);
      const metas = await Promise.all(ids.map((id) => this.getMeta(id)));
      for (const m of metas) if (m && (!orgKey || m.orgKey === orgKey) && found.length < limit) found.push(m);
      if (ids.length < page) break;
    }
    return found;
  }

  /** Request and 429 counts, flushed in batches by the workers (see request-counter.ts). */
  async addRequestCounts(entries: RequestCounts[]): Promise<void> {
    if (entries.length === 0) return;
    // One pipeline per run: a Redis Cluster pipeline may only touch one node.
    const byRun = new Map<string, typeof entries>();
    for (const e of entries) byRun.set(e.runId, [...(byRun.get(e.runId) ?? []), e]);
    await Promise.all([...byRun.values()].map((list) => this.addRunRequestCounts(list)));
  }

  private async addRunRequestCounts(entries: RequestCounts[]): Promise<void> {
    const p = this.redis.pipeline();
    // A minute's budgets: the highest in force that minute (set-max-1.lua), one call per run.
    const maxima: (string | number)[] = [];
    for (const e of entries) {
      const k = runKeys(e.runId);
      p.hincrby(k.counts, 'requests', e.requests);
      p.hincrby(k.perMinute, `r:${e.minute}`, e.requests);
      for (const b of e.buckets ?? []) {
        p.hincrby(k.counts, `requests:${b.name}`, b.requests);
        p.hincrby(k.perMinute, `r:${e.minute}:${b.name}`, b.requests);
        if (b.budget) {
          p.hset(k.counts, `budget:${b.name}`, Math.round(b.budget));
          maxima.push(`b:${e.minute}:${b.name}`, Math.round(b.budget));
        }
      }
      if (e.rateLimited) {
        p.hincrby(k.counts, 'rateLimited', e.rateLimited);
        p.hincrby(k.perMinute, `l:${e.minute}`, e.rateLimited);
      }
      // The run's budget that minute (rate-share × learned limit): the report's chart and the progress bar.
      if (e.budget) maxima.push(`b:${e.minute}`, Math.round(e.budget));
    }
    if (maxima.length > 0) (p as unknown as Record<string, (...a: (string | number)[]) => unknown>)['setMax']!(runKeys(entries[0]!.runId).perMinute, ...maxima);
    await p.exec();
  }

  /**
   * Per epoch minute: requests and 429s at every endpoint, the run's budget in that minute's
   * busiest bucket, and the requests and budget of each bucket (fields `r:<minute>:<bucket>`,
   * `b:<minute>:<bucket>`; absent in runs recorded before buckets were counted).
   */
  async perMinute(runId: string): Promise<MinuteCounts[]> {
    const h = await this.redis.hgetall(runKeys(runId).perMinute);
    const byMinute = new Map<number, MinuteCounts>();
    for (const [field, value] of Object.entries(h)) {
      const [kind, m, ...rest] = field.split(':');
      const minute = Number(m);
      const e = byMinute.get(minute) ?? { minute, requests: 0, rateLimited: 0, budget: null, buckets: {} };
      byMinute.set(minute, e);
      if (rest.length > 0) {
        const b = (e.buckets[rest.join(':')] ??= { requests: 0, budget: null });
        if (kind === 'r') b.requests = Number(value);
        else if (kind === 'b') b.budget = Number(value);
      } else if (kind === 'r') e.requests = Number(value);
      else if (kind === 'b') e.budget = Number(value);
      else e.rateLimited = Number(value);
    }
    return [...byMinute.values()].sort((a, b) => a.minute - b.minute);
  }
}

/**
 * A stored record, or, when it cannot be read (only a bug or a hand edit writes one), a
 * pending target that names no user: the worker then fails it for good (its job fails
 * at every delivery, and onJobFailed records the result over it), so the run completes
 * and the damage shows in its report, instead of a run that never ends.
 */
function readRecord(raw: string): TargetRecord {
  try {
    return fromRedis(raw);
  } catch {
    return newRecord({ userId: null, login: null, clientId: null, scopeId: null, grantId: null, line: null });
  }
}
