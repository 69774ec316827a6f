import { setMaxListeners } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { type Job, WaitingError } from 'bullmq';
import pLimit, { type LimitFunction } from 'p-limit';
import type { Logger } from 'pino';
import type { OktaClient } from '../../src/okta/client.ts';
import { OktaNetworkError } from '../../src/okta/errors.ts';
import type { RequestDescriptor, ResponseMeta } from '../../src/okta/types.ts';
import type { SharedBudget } from '../../src/queue/budget.ts';
import { FairSlots } from '../../src/queue/fair-slots.ts';
import type { TargetRecord, TargetStatus } from '../../src/runs/record.ts';
import type { RunMeta } from '../../src/runs/run-meta.ts';
import type { RunStore } from '../../src/runs/run-store.ts';
import { type Again, type Done, handleError } from './on-failure.ts';
import { execute, type Prior } from './execute.ts';

/**
 * The revocation of a batch of one run's targets. One BullMQ job per batch, not per
 * target: a job's life in BullMQ costs more than an Okta DELETE (see BENCHMARKS.md),
 * and each target's own result makes a batch safe to run again after a crash.
 */
export const REVOKE_TARGETS = 'revoke-targets';

/** Job data holds ids only, never a credential or a user's details. */
export interface RevokeTargetsData {
  runId: string;
  /** The targets' keys in the run's targets hash. */
  keys: string[];
}

export interface RevokeDeps {
  store: RunStore;
  client: OktaClient;
  budget: SharedBudget;
  /** Targets in progress in this process, over all its jobs (`--concurrency`). */
  concurrency: number;
  /** Pauses every worker of the org's queue (BullMQ's manual rate limit). */
  pauseQueue: (ms: number) => Promise<void>;
  /** The run's metadata, cached briefly: it is read once per batch. */
  runMeta: (runId: string) => Promise<RunMeta | null>;
  /** Every request (each retry too): counts, metrics, the budget it ran against; `meta` null for one that got no answer (a reset, a timeout), which Okta counts too. */
  onRequest: (runId: string, status: number, req: RequestDescriptor, meta: ResponseMeta | null) => void;
  /** A target's result was recorded (not for a redelivery of a finished one); `seconds` from pick-up. */
  onFinish?: (runId: string, key: string, status: TargetStatus, seconds: number) => void;
  /**
   * This process's own settings are refused (its credential, its proxy) by a run that has
   * succeeded before: it stops taking work, and the run goes on with the others (on-failure.ts).
   * False when there are no others (the run is halted then, as without it).
   */
  stopProcess?: (reason: string) => Promise<boolean>;
  log: Logger;
}

export interface RevokeTargetsProcessor {
  (job: Job<RevokeTargetsData>, token?: string): Promise<void>;
  /**
   * Graceful shutdown: targets not started yet are left pending and their jobs go back
   * to the queue unspent; waits between retries end at once, and so do requests waiting
   * for their budget slot (withdrawn, their targets left pending); requests in flight finish.
   */
  drain(): void;
  /** Drops what the processor keeps of a run (its slow start's state): the run is no longer active. */
  forget(runId: string): void;
  /** The runs it keeps something of. */
  runsHeld(): string[];
  /** Whether a job of the run is in progress in this process. */
  busyWith(runId: string): boolean;
}

export function createRevokeTargetsProcessor(deps: RevokeDeps): RevokeTargetsProcessor {
  /**
   * Slow start: until a run has one success in this process, its targets go one at a
   * time. A token that Okta rejects (401) or that lacks permission (403) then halts the
   * run after a handful of requests instead of a burst of `--concurrency` of them.
   */
  const warm = new Set<string>();
  const firstSteps = new Map<string, LimitFunction>();
  const gated = <T>(runId: string, fn: () => Promise<T>): Promise<T> => {
    if (warm.has(runId)) return fn();
    let limit = firstSteps.get(runId);
    if (!limit) firstSteps.set(runId, (limit = pLimit(1)));
    // The targets that queued up before the first success go at once when their turn finds the
    // run warm, not one after another: all of a worker's targets in progress queue up here at
    // its start, and at 300 ms an answer 128 of them took 40 s in single file.
    return new Promise<T>((resolve, reject) => {
      void limit(() => {
        const p = Promise.resolve().then(fn);
        // Warm before the next in line starts (it starts once this settles): it then goes at once.
        p.then(() => warmUp(runId), () => {});
        p.then(resolve, reject);
        return warm.has(runId) ? undefined : p.catch(() => {});
      });
    });
  };
  const warmUp = (runId: string) => {
    warm.add(runId);
    firstSteps.delete(runId);
  };
  // Targets in progress across every job of this process: the runs take turns, and a run's
  // targets go in order, so its oldest job finishes first rather than every job a little.
  const slots = new FairSlots(deps.concurrency * 2);
  const draining = new AbortController();
  // Every target waiting out a backoff listens on it: more than ten at once is normal, not a leak.
  setMaxListeners(0, draining.signal);
  // The per-target line carries ids only (built below, field by field), so it skips the
  // redaction of secrets, whose wildcard paths cost more than the rest of the line.
  const targetLog = deps.log.child({}, { redact: { paths: [] } });

  // Jobs in progress here, per run: what the processor keeps of a run is not dropped under them.
  const busy = new Map<string, number>();

  const processor = async function processRevokeTargets(job: Job<RevokeTargetsData>, token?: string): Promise<void> {
    const { runId } = job.data;
    busy.set(runId, (busy.get(runId) ?? 0) + 1);
    try {
      await processJob(job, token);
    } finally {
      const n = busy.get(runId)! - 1;
      if (n === 0) busy.delete(runId);
      else busy.set(runId, n);
    }
  } as RevokeTargetsProcessor;

  async function processJob(job: Job<RevokeTargetsData>, token?: string): Promise<void> {
    const { runId } = job.data;
    const keys = job.data.keys;
    const meta = await deps.runMeta(runId);
    if (!meta || meta.state === 'halted' || meta.state === 'cancelled') return; // stays pending; `retry` feeds it again
    deps.budget.setShare(runId, meta.rateShare, meta.pacing);
    const recs = await deps.store.getRecords(runId, keys);

    const settled = await Promise.allSettled(
      keys.map((key, i) => {
        const rec = recs[i];
        if (!rec || rec.status !== 'pending') return 'recorded' as const; // a redelivery of a finished target
        return revokeOne(meta, key, rec);
      }),
    );
    const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    // Something outside Okta failed (Redis, most likely): BullMQ retries the job, and
    // the targets already recorded are skipped then.
    if (failure) throw failure.reason;
    const left = settled.some((s) => s.status === 'fulfilled' && s.value === 'left');
    if (left && draining.signal.aborted && token) {
      await job.moveToWait(token);
      throw new WaitingError();
    }
  }
  processor.drain = () => draining.abort();
  processor.forget = (runId) => {
    warm.delete(runId);
    firstSteps.delete(runId);
  };
  processor.runsHeld = () => [...new Set([...warm, ...firstSteps.keys()])];
  processor.busyWith = (runId) => busy.has(runId);

  async function revokeOne(meta: RunMeta, key: string, rec: TargetRecord): Promise<Done> {
    const runId = meta.runId;
    // The result's httpStatus is the try's last DELETE (what revoked), else its last response:
    // a listing after the revocation (--tokens) does not stand for it.
    let lastStatus: number | null = null;
    let lastDelete: number | null = null;
    let lastRequestId: string | null = null;
    const ctx = {
      runId,
      // A graceful stop withdraws the requests still waiting for their slot: only those on the wire finish.
      signal: draining.signal,
      onResponse: (req: RequestDescriptor, m: ResponseMeta) => {
        lastStatus = m.status;
        if (req.method === 'DELETE') lastDelete = m.status;
        lastRequestId = m.rate.requestId;
        deps.onRequest(runId, m.status, req, m);
      },
      onNoAnswer: (req: RequestDescriptor) => deps.onRequest(runId, 0, req, null),
      // The lost-answer mark in Redis as a DELETE leaves, for a worker killed before its answer.
      onSend: (req: RequestDescriptor) => {
        if (req.method !== 'DELETE' || markSent) return;
        markSent = true;
        deps.store.markSent(runId, key, prior.grants);
      },
    };
    let markSent = false;
    const started = performance.now();
    // Tries that spent an attempt in this job, the current one included (a 429 spends none);
    // rec.roundAttempts holds those of earlier deliveries of the target since it was queued.
    let tries = 1;
    let deferrals = 0;
    const attempts = () => rec.attempts + tries;
    const prior: Prior = { revokeSent: rec.revokeSent, grants: rec.grants };
    const finish = async (fields: Partial<TargetRecord> & { status: TargetStatus }): Promise<Done> => {
      // A failure keeps what was listed and sent: the evidence in its report, and for a `retry`.
      const kept = fields.status === 'failed' ? { grants: prior.grants, revokeSent: prior.revokeSent } : { revokeSent: false };
      const done = finished(rec, { ...kept, ...fields }, lastDelete ?? lastStatus, attempts());
      const recorded = await deps.store.recordResult(runId, key, done);
      if (recorded === 1) deps.onFinish?.(runId, key, done.status, (performance.now() - started) / 1000);
      targetLog.info(
        { runId, target: key, userId: done.resolvedUserId ?? done.userId, login: done.login, clientId: done.clientId,
          scopeId: done.scopeId, grantId: done.grantId, status: done.status, grantsRevoked: done.grantsRevoked,
          httpStatus: done.httpStatus, errorCode: done.errorCode, requestId: lastRequestId, attempts: done.attempts },
        `target ${done.status}`,
      );
      return 'recorded';
    };

    // One try at a time holds one of the process's slots; the waits between tries do not.
    const tryOnce = async (): Promise<Done | Again> => {
      if (draining.signal.aborted) return 'left';
      let next: Done | Again;
      lastStatus = lastDelete = null;
      try {
        const out = await gated(runId, () => execute(deps.client, meta, rec, ctx, prior));
        warmUp(runId);
        return await finish(out);
      } catch (err) {
        // A request cut by a forced stop is ours, not Okta's: no result, no attempt spent; the target goes back.
        if (draining.signal.aborted && err instanceof OktaNetworkError) next = 'left';
        else next = await handleError(err, { deps, meta, key, tries: rec.roundAttempts + tries, deferrals: deferrals + 1, finish });
      }
      if (next === 'recorded') return next;
      // The target stays pending (another try, a stop, a halt): what this try listed and sent
      // goes on with it, to this job, another worker after a stop or a crash, or a retry; and
      // a failed try counts toward --attempts for whoever goes on.
      const again = typeof next === 'string' ? null : next;
      // The try ended knowing its DELETEs did nothing (a 429, a 4xx): its mark in Redis goes, or
      // the next try would count what someone else revokes meanwhile as this run's.
      if (markSent && !prior.revokeSent) {
        markSent = false;
        await deps.store.clearSent(runId, key);
      }
      const learned = prior.revokeSent !== rec.revokeSent || prior.grants !== rec.grants;
      if (learned || again?.attempt) {
        const spent = again?.attempt ? tries : tries - 1; // a 429, a stop or a halt spends none
        rec = { ...rec, revokeSent: prior.revokeSent, grants: prior.grants };
        await deps.store.saveProgress(runId, key, { ...rec, attempts: rec.attempts + spent, roundAttempts: rec.roundAttempts + spent });
      }
      if (!again) return 'left';
      if (again.attempt) tries++;
      else deferrals++;
      return again;
    };
    for (;;) {
      const next = await slots.run(runId, tryOnce);
      if (typeof next === 'string') return next;
      // A graceful stop ends the wait at once: the target is left pending for the next worker.
      const waited = await delay(next.ms, true, { signal: draining.signal }).catch(() => false);
      if (!waited) return 'left';
    }
  }

  return processor;
}

/** The record with its result: spelled out, not spread (see newRecord in record.ts). */
function finished(rec: TargetRecord, f: Partial<TargetRecord> & { status: TargetStatus }, httpStatus: number | null, attempts: number): TargetRecord {
  return {
    userId: rec.userId,
    login: rec.login,
    clientId: rec.clientId,
    scopeId: rec.scopeId,
    grantId: rec.grantId,
    line: rec.line,
    status: f.status,
    grantsRevoked: f.grantsRevoked !== undefined ? f.grantsRevoked : rec.grantsRevoked,
    attempts,
    httpStatus: f.httpStatus !== undefined ? f.httpStatus : httpStatus,
    errorCode: f.errorCode !== undefined ? f.errorCode : rec.errorCode,
    errorSummary: f.errorSummary !== undefined ? f.errorSummary : rec.errorSummary,
    errorId: f.errorId !== undefined ? f.errorId : rec.errorId,
    finishedAt: Date.now(),
    grants: f.grants !== undefined ? f.grants : rec.grants,
    resolvedUserId: f.resolvedUserId !== undefined ? f.resolvedUserId : rec.resolvedUserId,
    roundAttempts: 0,
    tokensRevokedFor: f.tokensRevokedFor !== undefined ? f.tokensRevokedFor : rec.tokensRevokedFor,
    revokeSent: f.revokeSent !== undefined ? f.revokeSent : rec.revokeSent,
  };
}
