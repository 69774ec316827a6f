import { type Job, RateLimitError } from 'bullmq';
import pLimit, { type LimitFunction } from 'p-limit';
import type { Logger } from 'pino';
import type { OktaClient } from '../src/okta/client.ts';
import { isUserNotFound, OktaApiError, OktaNetworkError } from '../src/okta/errors.ts';
import { resetDelayMs } from '../src/okta/rate-headers.ts';
import { backoffMs } from '../src/okta/retry-policy.ts';
import type { Grant, RequestDescriptor, ResponseMeta } from '../src/okta/types.ts';
import { jitter, type SharedBudget } from '../src/queue/budget.ts';
import { RunStoppedError } from '../src/queue/errors.ts';
import type { GrantEvidence, TargetRecord, TargetStatus } from '../src/runs/record.ts';
import type { RunMeta } from '../src/runs/run-meta.ts';
import type { RunStore } from '../src/runs/run-store.ts';

/** The revocation of one target: the only kind of job a worker runs today. */
export const REVOKE_TARGET = 'revoke-target';

/** Job data holds ids only, never a credential or a user's details. */
export interface RevokeTargetData {
  runId: string;
  /** The target's key in the run's targets hash. */
  key: string;
}

/** BullMQ job ids may not contain ':'; run ids and target keys never do. */
export const jobIdOf = (runId: string, key: string) => `${runId}.${key}`;

/** Grants revoked at once inside one target (a --scope target's grants). */
const FAN_OUT = 4;

export interface RevokeDeps {
  store: RunStore;
  client: OktaClient;
  budget: SharedBudget;
  /** Pauses every worker of the org's queue (BullMQ's manual rate limit). */
  pauseQueue: (ms: number) => Promise<void>;
  /** The run's metadata, cached briefly: it is read once per target. */
  runMeta: (runId: string) => Promise<RunMeta | null>;
  /** Every response (each retry too): counts, metrics, the budget it ran against. */
  onRequest: (runId: string, status: number, req: RequestDescriptor, meta: ResponseMeta) => void;
  /** A target's result was recorded (not for a redelivery of a finished one); `seconds` from pick-up. */
  onFinish?: (runId: string, key: string, status: TargetStatus, seconds: number) => void;
  log: Logger;
}

interface Outcome {
  status: TargetStatus;
  grantsRevoked: number | null;
  grants: GrantEvidence[] | null;
  httpStatus: number | null;
  resolvedUserId: string | null;
}

export function createRevokeTargetProcessor(deps: RevokeDeps) {
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
    return limit(fn);
  };
  const warmUp = (runId: string) => {
    warm.add(runId);
    firstSteps.delete(runId);
  };

  return async function processRevokeTarget(job: Job<RevokeTargetData>): Promise<void> {
    const { runId, key } = job.data;
    const meta = await deps.runMeta(runId);
    if (!meta || meta.state === 'halted' || meta.state === 'cancelled') return; // stays pending; `retry` feeds it again
    const rec = await deps.store.getRecord(runId, key);
    if (!rec || rec.status !== 'pending') return; // a redelivery of a finished target
    deps.budget.setShare(runId, meta.rateShare);

    let lastStatus: number | null = null;
    let lastRequestId: string | null = null;
    const ctx = {
      runId,
      onResponse: (req: RequestDescriptor, m: ResponseMeta) => {
        lastStatus = m.status;
        lastRequestId = m.rate.requestId;
        deps.onRequest(runId, m.status, req, m);
      },
    };
    const attempts = rec.attempts + job.attemptsMade + 1;
    const started = performance.now();
    const finish = async (fields: Partial<TargetRecord> & { status: TargetStatus }) => {
      const done: TargetRecord = { ...rec, httpStatus: lastStatus, ...fields, attempts, finishedAt: Date.now() };
      const recorded = await deps.store.recordResult(runId, key, done);
      if (recorded === 1) deps.onFinish?.(runId, key, done.status, (performance.now() - started) / 1000);
      deps.log.info(
        { runId, target: key, userId: done.resolvedUserId ?? done.userId, login: done.login, clientId: done.clientId,
          scopeId: done.scopeId, grantId: done.grantId, status: done.status, grantsRevoked: done.grantsRevoked,
          httpStatus: done.httpStatus, errorCode: done.errorCode, requestId: lastRequestId, attempts },
        `target ${done.status}`,
      );
    };

    try {
      const out = await gated(runId, () => execute(deps.client, meta, rec, ctx));
      warmUp(runId);
      await finish({ ...out, httpStatus: out.httpStatus ?? lastStatus });
    } catch (err) {
      await handleError(err, { deps, job, meta, rec, finish });
    }
  };
}

async function handleError(
  err: unknown,
  c: {
    deps: RevokeDeps;
    job: Job<RevokeTargetData>;
    meta: RunMeta;
    rec: TargetRecord;
    finish: (f: Partial<TargetRecord> & { status: TargetStatus }) => Promise<void>;
  },
): Promise<void> {
  const { deps, job, meta } = c;
  if (err instanceof RunStoppedError) return; // cancelled or halted meanwhile: no result, no request
  const failWith = (e: OktaApiError | OktaNetworkError | Error) =>
    c.finish({
      status: 'failed',
      httpStatus: e instanceof OktaApiError ? e.status : null,
      errorCode: e instanceof OktaApiError ? e.errorCode : e instanceof OktaNetworkError ? e.code ?? 'NETWORK' : 'ERROR',
      errorSummary: e instanceof OktaApiError ? e.errorSummary : e.message,
      errorId: e instanceof OktaApiError ? e.errorId : null,
    });
  const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);

  if (err instanceof OktaApiError) {
    switch (err.kind) {
      case 'rate_limited':
      case 'concurrency_limited': {
        // A 429 is not the target's fault: it goes back to waiting without spending an attempt,
        // but not forever.
        const deferrals = job.attemptsStarted - job.attemptsMade;
        if (deferrals > meta.maxRateLimitDeferrals) {
          return failWith(new Error(`rate limited ${deferrals} times: gave up (maxRateLimitDeferrals ${meta.maxRateLimitDeferrals})`));
        }
        const ms =
          err.kind === 'rate_limited' && err.rate
            ? resetDelayMs(err.rate, Date.now()) + jitter(1_000)
            : backoffMs('concurrency_limited', Math.max(1, deferrals));
        if (err.kind === 'concurrency_limited') await deps.budget.pauseOrg(ms);
        await deps.pauseQueue(ms);
        throw new RateLimitError();
      }
      case 'not_found':
        return c.finish({ status: isUserNotFound(err) ? 'user_not_found' : 'nothing_to_revoke', httpStatus: 404,
          errorCode: err.errorCode, errorSummary: err.errorSummary, errorId: err.errorId, grantsRevoked: 0 });
      case 'unauthorized':
        return halt(deps, meta, job.data.key, `credentials rejected (HTTP 401 ${err.errorCode ?? ''}): check OKTA_API_TOKEN, or the service app's client id, key and granted scopes`);
      case 'forbidden': {
        const forbidden = await deps.store.countForbidden(meta.runId);
        const counts = forbidden >= 5 ? await deps.store.getCounts(meta.runId) : null;
        const succeeded = counts ? counts.revoked + counts.would_revoke + counts.nothing_to_revoke + counts.user_not_found : 1;
        if (succeeded === 0) {
          return halt(deps, meta, job.data.key, 'permission missing (HTTP 403 on the first 5 requests): the token lacks okta.users.manage or an admin role for these users');
        }
        return failWith(err);
      }
      case 'transient':
        if (!lastAttempt) throw err;
        return failWith(err);
      default:
        return failWith(err);
    }
  }
  if (!lastAttempt) throw err; // network errors and the unexpected: BullMQ retries with backoff
  return failWith(err instanceof Error ? err : new Error(String(err)));
}

async function halt(deps: RevokeDeps, meta: RunMeta, target: string, reason: string): Promise<void> {
  await deps.budget.stopRun(meta.runId, reason);
  const state = await deps.store.stopRun(meta.runId, 'halted', reason);
  if (state === 'halted') deps.log.error({ runId: meta.runId, target }, `run halted: ${reason}`);
}

type Ctx = Parameters<OktaClient['getUser']>[1];

async function collect(it: AsyncIterable<Grant>): Promise<Grant[]> {
  const out: Grant[] = [];
  for await (const g of it) out.push(g);
  return out;
}

const evidence = (grants: Grant[]): GrantEvidence[] =>
  grants.map((g) => ({ id: g.id, clientId: g.clientId, scopeId: g.scopeId, created: g.created }));

/** What one target needs from Okta; throws Okta errors for the caller to classify. */
async function execute(client: OktaClient, meta: RunMeta, rec: TargetRecord, ctx: Ctx): Promise<Outcome> {
  const userId = rec.userId ?? rec.resolvedUserId ?? (await client.getUser(rec.login!, ctx)).id;
  const base = { resolvedUserId: rec.userId ? null : userId, httpStatus: null };
  const look = meta.snapshot || meta.dryRun;

  if (rec.grantId) {
    let grants: Grant[] | null = null;
    if (look) {
      try {
        grants = [await client.getUserGrant(userId, rec.grantId, {}, ctx)];
      } catch (err) {
        if (err instanceof OktaApiError && err.kind === 'not_found' && !isUserNotFound(err)) {
          return { ...base, status: 'nothing_to_revoke', grantsRevoked: 0, grants: [] };
        }
        throw err;
      }
    }
    if (meta.dryRun) return { ...base, status: 'would_revoke', grantsRevoked: null, grants: evidence(grants!) };
    try {
      await client.revokeUserGrant(userId, rec.grantId, ctx);
    } catch (err) {
      if (err instanceof OktaApiError && err.kind === 'not_found' && !isUserNotFound(err)) {
        return { ...base, status: 'nothing_to_revoke', grantsRevoked: 0, grants: grants ? evidence(grants) : null };
      }
      throw err;
    }
    return { ...base, status: 'revoked', grantsRevoked: 1, grants: grants ? evidence(grants) : null };
  }

  if (rec.scopeId) {
    let grants = await collect(client.listUserGrants(userId, { scopeId: rec.scopeId, limit: 200 }, ctx));
    if (rec.clientId) grants = grants.filter((g) => g.clientId === rec.clientId);
    if (grants.length === 0) return { ...base, status: 'nothing_to_revoke', grantsRevoked: 0, grants: look ? [] : null };
    if (meta.dryRun) return { ...base, status: 'would_revoke', grantsRevoked: null, grants: evidence(grants) };
    const limit = pLimit(FAN_OUT);
    const gone = await Promise.all(
      grants.map((g) =>
        limit(async () => {
          try {
            await client.revokeUserGrant(userId, g.id, ctx);
            return 1;
          } catch (err) {
            if (err instanceof OktaApiError && err.kind === 'not_found' && !isUserNotFound(err)) return 0;
            throw err;
          }
        }),
      ),
    );
    const n = gone.reduce<number>((a, b) => a + b, 0);
    return { ...base, status: n > 0 ? 'revoked' : 'nothing_to_revoke', grantsRevoked: n, grants: meta.snapshot ? evidence(grants) : null };
  }

  let grants: Grant[] | null = null;
  if (look) {
    grants = await collect(
      rec.clientId ? client.listUserClientGrants(userId, rec.clientId, { limit: 200 }, ctx) : client.listUserGrants(userId, { limit: 200 }, ctx),
    );
    if (grants.length === 0) return { ...base, status: 'nothing_to_revoke', grantsRevoked: 0, grants: [] };
    if (meta.dryRun) return { ...base, status: 'would_revoke', grantsRevoked: null, grants: evidence(grants) };
  }
  if (rec.clientId) await client.revokeUserClientGrants(userId, rec.clientId, ctx);
  else await client.revokeUserGrants(userId, ctx);
  return { ...base, status: 'revoked', grantsRevoked: grants ? grants.length : null, grants: grants ? evidence(grants) : null };
}
