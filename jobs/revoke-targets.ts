import { setMaxListeners } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { type Job, WaitingError } from 'bullmq';
import pLimit, { type LimitFunction } from 'p-limit';
import type { Logger } from 'pino';
import type { OktaClient } from '../src/okta/client.ts';
import { isUserNotFound, mayHaveActed, NotOktaError, OktaApiError, OktaNetworkError } from '../src/okta/errors.ts';
import { backoffMs, RETRY_POLICY, retryDelayMs } from '../src/okta/retry-policy.ts';
import type { Grant, RequestDescriptor, ResponseMeta } from '../src/okta/types.ts';
import { jitter, type SharedBudget } from '../src/queue/budget.ts';
import { RequestWithdrawn, RunStoppedError } from '../src/queue/errors.ts';
import { FairSlots } from '../src/queue/fair-slots.ts';
import type { GrantEvidence, TargetRecord, TargetStatus } from '../src/runs/record.ts';
import type { RunMeta } from '../src/runs/run-meta.ts';
import type { RunStore } from '../src/runs/run-store.ts';

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

/** DELETEs sent at once inside one target (a --scope target's grants, a --tokens target's clients). */
const FAN_OUT = 4;

/**
 * 403s, or connections Okta never answered, before any target succeeded, that halt a run: a bad
 * token, a missing role or a wrong OKTA_ORG_URL shows within a handful of requests, and would
 * otherwise fail every target one slow try at a time.
 */
export const HALT_AFTER_REFUSALS = 5;

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
  log: Logger;
}

interface Outcome {
  status: TargetStatus;
  grantsRevoked: number | null;
  grants: GrantEvidence[] | null;
  resolvedUserId: string | null;
  /** Only a target that revokes tokens (--tokens, no scope or grant) sets it. */
  tokensRevokedFor?: string[] | null;
  /** Okta's error behind a result that is not a failure (a grant already gone: its 404). */
  errorCode?: string | null;
  errorSummary?: string | null;
  errorId?: string | null;
}

/**
 * What the tries of a target did that the next one must not forget: a DELETE whose answer
 * was lost may have revoked what the next try no longer finds. Kept in the target's record
 * when a try fails (TargetRecord.revokeSent and .grants).
 */
interface Prior {
  revokeSent: boolean;
  /** The grants listed so far (--snapshot, a dry run, --scope). */
  grants: GrantEvidence[] | null;
}

/** What became of one target in this job. */
type Done = 'recorded' | 'left';
/** After an error: record nothing and try again after `ms` (`attempt`: the try spent one). */
interface Again {
  ms: number;
  attempt: boolean;
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
    };
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

/**
 * What a failed try means for the target (RETRY_POLICY in src/okta/retry-policy.ts):
 * a final result, a halt of the run, or another try after a wait.
 */
async function handleError(
  err: unknown,
  c: {
    deps: RevokeDeps;
    meta: RunMeta;
    key: string;
    /** Tries that spent an attempt since the target was queued, this one included. */
    tries: number;
    /** 429s for this target so far, this one included. */
    deferrals: number;
    finish: (f: Partial<TargetRecord> & { status: TargetStatus }) => Promise<Done>;
  },
): Promise<Done | Again> {
  const { deps, meta } = c;
  // Cancelled or halted meanwhile, or withdrawn from its slot's wait by a stop: no result, no request.
  if (err instanceof RunStoppedError || err instanceof RequestWithdrawn) return 'left';
  const failWith = (e: OktaApiError | OktaNetworkError | Error) =>
    c.finish({
      status: 'failed',
      httpStatus: e instanceof OktaApiError ? e.status : null,
      errorCode: e instanceof OktaApiError ? e.errorCode : e instanceof OktaNetworkError ? e.code ?? 'NETWORK' : 'ERROR',
      errorSummary: e instanceof OktaApiError ? e.errorSummary : e.message,
      errorId: e instanceof OktaApiError ? e.errorId : null,
    });
  const lastAttempt = c.tries >= meta.attempts;

  if (err instanceof OktaApiError) {
    switch (err.kind) {
      case 'rate_limited':
      case 'concurrency_limited': {
        // A 429 is not the target's fault: it waits without spending an attempt, but not forever.
        if (c.deferrals > meta.maxRateLimitDeferrals) {
          return failWith(new Error(`rate limited ${c.deferrals} times: gave up (maxRateLimitDeferrals ${meta.maxRateLimitDeferrals})`));
        }
        // Okta's Reset for a rate-limit 429 (spread by a second of jitter), else a backoff.
        const ms = retryDelayMs(err.kind, c.deferrals, err.rate, Date.now()) + (err.kind === 'rate_limited' ? jitter(1_000) : 0);
        if (err.kind === 'concurrency_limited') await deps.budget.pauseOrg(ms);
        await deps.pauseQueue(ms);
        return { ms, attempt: RETRY_POLICY[err.kind].countsAsAttempt };
      }
      case 'not_found':
        return c.finish({ status: isUserNotFound(err) ? 'user_not_found' : 'nothing_to_revoke', httpStatus: 404,
          errorCode: err.errorCode, errorSummary: err.errorSummary, errorId: err.errorId, grantsRevoked: 0 });
      case 'unauthorized':
        await halt(deps, meta, c.key, `credentials rejected (HTTP 401 ${err.errorCode ?? ''}): check OKTA_API_TOKEN, or the service app's client id, key and granted scopes`);
        return 'left';
      case 'forbidden': {
        const forbidden = await deps.store.countForbidden(meta.runId);
        if (forbidden >= HALT_AFTER_REFUSALS && (await succeededNone(deps, meta))) {
          await halt(deps, meta, c.key, `permission missing (HTTP 403 on the first ${HALT_AFTER_REFUSALS} requests): the token lacks okta.users.manage or an admin role for these users`);
          return 'left';
        }
        return failWith(err);
      }
      case 'transient':
        if (!lastAttempt) return { ms: backoffMs('transient', c.tries), attempt: RETRY_POLICY.transient.countsAsAttempt };
        return failWith(err);
      default:
        return failWith(err);
    }
  }
  if (err instanceof NotOktaError) {
    await halt(deps, meta, c.key, err.message);
    return 'left';
  }
  if (err instanceof OktaNetworkError) {
    if (err.kind === 'proxy_refused') {
      await halt(deps, meta, c.key, err.proxyHint);
      return 'left';
    }
    // No Okta at that address (or none with a certificate we trust): a run that never reached
    // it halts after a handful of tries, as on 403s, rather than failing each target slowly.
    if (err.unreachable && (await deps.store.countUnreachable(meta.runId)) >= HALT_AFTER_REFUSALS && (await succeededNone(deps, meta))) {
      await halt(deps, meta, c.key, `Okta could not be reached (${err.code} on the first ${HALT_AFTER_REFUSALS} requests): check OKTA_ORG_URL, DNS, the proxy and the firewall; \`grantsweep check\` tries the way`);
      return 'left';
    }
    // A dropped connection is retried as a 5xx is.
    if (!lastAttempt) return { ms: backoffMs('transient', c.tries), attempt: RETRY_POLICY.transient.countsAsAttempt };
    return failWith(err);
  }
  throw err; // not Okta's: Redis, or a bug. The job fails and BullMQ retries it.
}

/** Whether no target of the run has had an answer from Okta that settled it. */
async function succeededNone(deps: RevokeDeps, meta: RunMeta): Promise<boolean> {
  const c = await deps.store.getCounts(meta.runId);
  return c.revoked + c.would_revoke + c.nothing_to_revoke + c.user_not_found === 0;
}

async function halt(deps: RevokeDeps, meta: RunMeta, target: string, reason: string): Promise<void> {
  // Under the run's control lock, as `retry` and `cancel`: a retry cannot take the mark away between the two.
  const { changed } = await deps.store.withControlLock(meta.runId, async () => {
    await deps.budget.stopRun(meta.runId, reason);
    return deps.store.stopRun(meta.runId, 'halted', reason);
  });
  // Logged once, by the process that halted it (others may see the same refusal at once).
  if (changed) deps.log.error({ runId: meta.runId, target }, `run halted: ${reason}`);
}

type Ctx = Parameters<OktaClient['getUser']>[1];

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const g of it) out.push(g);
  return out;
}

/** Whether the user holds grants or refresh tokens for the client (GET …/users/{id}/clients lists both). */
async function holdsClient(client: OktaClient, userId: string, clientId: string, ctx: Ctx): Promise<boolean> {
  for await (const c of client.listUserClients(userId, ctx)) if (c.client_id === clientId) return true;
  return false;
}

/** An earlier run's targets taken for what it found them holding: its would_revoke and revoked results only. */
const foundHolding = (meta: RunMeta): boolean =>
  meta.source.kind === 'run' && (meta.source.results ?? []).length > 0 && meta.source.results!.every((r) => r === 'would_revoke' || r === 'revoked');

/** Whether a listing has an item: one page of one, not every page. */
async function holdsAny(it: AsyncIterable<unknown>): Promise<boolean> {
  for await (const _ of it) return true;
  return false;
}

/** What a listing shows of the grants in force: one Okta lists as REVOKED is nothing to revoke, nor evidence of a consent. */
const evidence = (grants: Grant[]): GrantEvidence[] =>
  grants.filter((g) => g.status === undefined || g.status === 'ACTIVE').map((g) => ({ id: g.id, clientId: g.clientId, scopeId: g.scopeId, created: g.created }));

/**
 * Whether the grant is of the scope named: by Okta's `scopeId` (an Okta API scope's name, a
 * custom scope's `scp…` id) or, with `expand=scope`, the embedded scope's id or name (Okta
 * has documented both shapes: docs/okta-api.md §1.3). A name matches that scope on every
 * authorization server the user consented to it on; an id, that one server's.
 */
export function scopeMatches(g: Grant, scope: string): boolean {
  return g.scopeId === scope || g._embedded?.scope?.id === scope || g._embedded?.scope?.name === scope;
}

/** `earlier` with the grants of `now` it lacks: what a target's tries have listed. */
function mergeEvidence(earlier: GrantEvidence[] | null, now: GrantEvidence[]): GrantEvidence[] {
  if (!earlier?.length) return now;
  const seen = new Set(earlier.map((g) => g.id));
  return [...earlier, ...now.filter((g) => !seen.has(g.id))];
}

/**
 * Sends a revocation and marks the target's lost-answer flag, unless the failure shows
 * Okta did nothing (a 4xx such as a 429, a stop before sending, a refused connection): a
 * grant that someone else revokes before the next try is then not counted as this run's.
 */
async function revoking(prior: Prior, send: () => Promise<void>): Promise<void> {
  try {
    await send();
  } catch (err) {
    // A failure of the token endpoint (POST) came before the DELETE left.
    const method = (err as { method?: string } | null)?.method;
    if (!(err instanceof RunStoppedError || err instanceof RequestWithdrawn) && (method === undefined || method === 'DELETE') && mayHaveActed(err)) prior.revokeSent = true;
    throw err;
  }
  prior.revokeSent = true;
}

/**
 * The values of a target's fan-out of DELETEs, or its first failure once every one has settled:
 * a DELETE still in flight when the try ends could revoke after its lost-answer mark was kept.
 */
async function settleAll<T>(requests: Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(requests);
  const failure = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) throw failure.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/** A 404 for a grant or a client that is not the user's own: the thing is gone, the user is not. */
const goneNotUser = (err: unknown): err is OktaApiError => err instanceof OktaApiError && err.kind === 'not_found' && !isUserNotFound(err);
const oktaError = (err: OktaApiError) => ({ errorCode: err.errorCode, errorSummary: err.errorSummary, errorId: err.errorId });

/**
 * What one target needs from Okta; throws Okta errors for the caller to classify. `prior`
 * carries what earlier tries listed and whether they sent a DELETE, and is updated here:
 * after a lost answer, what the next try no longer finds was revoked by this run.
 */
async function execute(client: OktaClient, meta: RunMeta, rec: TargetRecord, ctx: Ctx, prior: Prior): Promise<Outcome> {
  const userId = rec.userId ?? rec.resolvedUserId ?? (await client.getUser(rec.login!, ctx)).id;
  const base = { resolvedUserId: rec.userId ? null : userId };
  const look = meta.snapshot || meta.dryRun;

  const grantId = rec.grantId;
  if (grantId) {
    const sentBefore = prior.revokeSent;
    // The grant is not there (a 404, or listed as REVOKED): revoked by an earlier try whose answer was lost, or already gone.
    const gone = (err: OktaApiError | null): Outcome =>
      sentBefore
        ? { ...base, status: 'revoked', grantsRevoked: 1, grants: look ? prior.grants ?? [] : null }
        : { ...base, status: 'nothing_to_revoke', grantsRevoked: 0, grants: look ? prior.grants ?? [] : null, ...(err ? oktaError(err) : {}) };
    if (look && !prior.grants) {
      try {
        const listed = evidence([await client.getUserGrant(userId, grantId, {}, ctx)]);
        if (listed.length === 0) return gone(null);
        prior.grants = listed;
      } catch (err) {
        if (goneNotUser(err)) return gone(err);
        throw err;
      }
    }
    if (meta.dryRun) return { ...base, status: 'would_revoke', grantsRevoked: null, grants: prior.grants };
    try {
      await revoking(prior, () => client.revokeUserGrant(userId, grantId, ctx));
    } catch (err) {
      if (goneNotUser(err)) return gone(err);
      throw err;
    }
    return { ...base, status: 'revoked', grantsRevoked: 1, grants: look ? prior.grants : null };
  }

  if (rec.scopeId) {
    // Listed whole and matched here: Okta's scopeId filter takes what grants hold, a custom
    // scope's id (scp…), where people name the scope (api:write); see scopeMatches.
    let listed = (await collect(client.listUserGrants(userId, { expand: 'scope', limit: 200 }, ctx))).filter((g) => scopeMatches(g, rec.scopeId!));
    if (rec.clientId) listed = listed.filter((g) => g.clientId === rec.clientId);
    const now = evidence(listed);
    // Listed by an earlier try whose DELETEs were sent, and no longer there: revoked by this run.
    const goneEarlier = prior.revokeSent ? (prior.grants ?? []).filter((g) => !now.some((n) => n.id === g.id)).length : 0;
    prior.grants = prior.revokeSent ? mergeEvidence(prior.grants, now) : now;
    const shown = meta.snapshot || meta.dryRun ? prior.grants : null;
    if (now.length === 0) {
      return goneEarlier > 0
        ? { ...base, status: 'revoked', grantsRevoked: goneEarlier, grants: shown }
        : { ...base, status: 'nothing_to_revoke', grantsRevoked: 0, grants: look ? [] : null };
    }
    if (meta.dryRun) return { ...base, status: 'would_revoke', grantsRevoked: null, grants: now };
    const limit = pLimit(FAN_OUT);
    const revokedNow = await settleAll(
      now.map((g) =>
        limit(() =>
          revoking(prior, () => client.revokeUserGrant(userId, g.id, ctx)).then(
            () => 1,
            (err: unknown) => {
              if (goneNotUser(err)) return 0;
              throw err;
            },
          ),
        ),
      ),
    );
    const n = revokedNow.reduce((a, b) => a + b, 0) + goneEarlier;
    return { ...base, status: n > 0 ? 'revoked' : 'nothing_to_revoke', grantsRevoked: n, grants: shown };
  }

  // One client's grants (an incident): one listing of the user's clients tells whether there
  // is anything to revoke. Most users of an org never used the app: one request for them, as a
  // blind DELETE would be, but the result is true (`nothing_to_revoke`, where Okta answers a
  // DELETE 204 either way), and a mistyped client id shows as nobody holding it.
  // Not for targets an earlier run found holding it (`--from-run` of would_revoke/revoked results).
  // With --tokens, a dry run or --snapshot looks this way first too: a non-holder then costs one
  // request, not a listing of grants and one of tokens.
  if (rec.clientId && (!look || meta.tokens) && !foundHolding(meta) && !(await holdsClient(client, userId, rec.clientId, ctx))) {
    const tokensRevokedFor = meta.tokens ? [] : null;
    // Gone after a DELETE of an earlier try whose answer was lost: this run revoked it.
    if (prior.revokeSent) return { ...base, status: 'revoked', grantsRevoked: null, grants: look ? prior.grants ?? [] : null, tokensRevokedFor };
    return { ...base, status: 'nothing_to_revoke', grantsRevoked: 0, grants: look ? [] : null, tokensRevokedFor };
  }
  let grants: GrantEvidence[] | null = null;
  if (look) {
    const now = evidence(await collect(
      rec.clientId ? client.listUserClientGrants(userId, rec.clientId, { limit: 200 }, ctx) : client.listUserGrants(userId, { limit: 200 }, ctx),
    ));
    // After a DELETE whose answer was lost, what the earlier try listed was revoked by this run, found now or not.
    grants = prior.grants = prior.revokeSent ? mergeEvidence(prior.grants, now) : now;
  }
  const none = grants !== null && grants.length === 0;
  if (!meta.tokens) {
    if (none) return { ...base, status: 'nothing_to_revoke', grantsRevoked: 0, grants: [] };
    if (meta.dryRun) return { ...base, status: 'would_revoke', grantsRevoked: null, grants };
  }
  if (!meta.dryRun && !none) {
    const clientId = rec.clientId;
    await revoking(prior, () => (clientId ? client.revokeUserClientGrants(userId, clientId, ctx) : client.revokeUserGrants(userId, ctx)));
  }
  const tokensRevokedFor = meta.tokens ? await revokeTokens(client, meta, rec, userId, ctx) : null;
  const some = !none || (tokensRevokedFor !== null && tokensRevokedFor.length > 0);
  return {
    ...base,
    status: !some ? 'nothing_to_revoke' : meta.dryRun ? 'would_revoke' : 'revoked',
    grantsRevoked: grants ? (meta.dryRun && !none ? null : grants.length) : null,
    grants,
    tokensRevokedFor,
  };
}

/**
 * --tokens: the user's refresh tokens for the target's client, or for every client, are
 * revoked after the grants (a call apart: whether revoking a grant revokes the tokens
 * minted with it is unconfirmed). Without a client, the clients come from
 * GET …/clients, which after the grants are gone lists those still holding tokens. A
 * dry run, and a client target with --snapshot, look first which clients hold any.
 * Returns the clients whose tokens were (or would be) revoked.
 */
async function revokeTokens(client: OktaClient, meta: RunMeta, rec: TargetRecord, userId: string, ctx: Ctx): Promise<string[]> {
  let clients = rec.clientId ? [rec.clientId] : (await collect(client.listUserClients(userId, ctx))).map((c) => c.client_id);
  const limit = pLimit(FAN_OUT);
  const unlessClientGone = async <T>(fn: () => Promise<T>): Promise<T | null> => {
    try {
      return await fn();
    } catch (err) {
      // A client the org no longer has holds no tokens; a user gone is the target's result.
      if (goneNotUser(err)) return null;
      throw err;
    }
  };
  if (meta.dryRun || (rec.clientId && meta.snapshot)) {
    const held = await Promise.all(
      clients.map((c) => limit(() => unlessClientGone(() => holdsAny(client.listUserClientTokens(userId, c, { limit: 1 }, ctx))))),
    );
    clients = clients.filter((_, i) => held[i] === true);
  }
  if (meta.dryRun) return clients;
  const done = await settleAll(clients.map((c) => limit(() => unlessClientGone(() => client.revokeUserClientTokens(userId, c, ctx).then(() => true)))));
  return clients.filter((_, i) => done[i] === true);
}
