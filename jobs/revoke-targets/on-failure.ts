/*
 * What a failed try of a target means, after RETRY_POLICY (src/okta/retry-policy.ts): a final
 * result, another try after a wait (a 429 spends no attempt), or a halt of the whole run when
 * every request is refused the same way (bad credentials, no Okta at that address).
 */
import { isUserNotFound, NotOktaError, OktaApiError, OktaNetworkError, OktaResponseError } from '../../src/okta/errors.ts';
import { backoffMs, RETRY_POLICY, retryDelayMs } from '../../src/okta/retry-policy.ts';
import { jitter } from '../../src/queue/budget.ts';
import { RequestWithdrawn, RunStoppedError } from '../../src/queue/errors.ts';
import type { TargetRecord, TargetStatus } from '../../src/runs/record.ts';
import type { RunMeta } from '../../src/runs/run-meta.ts';
import type { RevokeDeps } from './index.ts';

/**
 * 403s, or connections Okta never answered, before any target succeeded, that halt a run: a bad
 * token, a missing role or a wrong OKTA_ORG_URL shows within a handful of requests, and would
 * otherwise fail every target one slow try at a time.
 */
export const HALT_AFTER_REFUSALS = 5;

/** What became of one target in this job. */
export type Done = 'recorded' | 'left';
/** After an error: record nothing and try again after `ms` (`attempt`: the try spent one). */
export interface Again {
  ms: number;
  attempt: boolean;
}

/**
 * What a failed try means for the target (RETRY_POLICY in src/okta/retry-policy.ts):
 * a final result, a halt of the run, or another try after a wait.
 */
export async function handleError(
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
  const failWith = (e: OktaApiError | OktaNetworkError | OktaResponseError | Error) =>
    c.finish({
      status: 'failed',
      httpStatus: e instanceof OktaApiError ? e.status : null,
      errorCode: e instanceof OktaApiError ? e.errorCode : e instanceof OktaNetworkError ? e.code ?? 'NETWORK' : e instanceof OktaResponseError ? 'BAD_RESPONSE' : 'ERROR',
      errorSummary: e instanceof OktaApiError ? e.errorSummary : e.message,
      errorId: e instanceof OktaApiError ? e.errorId : null,
    });
  // A 5xx, a dropped connection, an answer of a shape Okta does not document: tried again after a
  // backoff while attempts are left (RETRY_POLICY.transient), then the target's result.
  const transient = (e: OktaApiError | OktaNetworkError | OktaResponseError) =>
    c.tries < meta.attempts ? { ms: backoffMs('transient', c.tries), attempt: RETRY_POLICY.transient.countsAsAttempt } : failWith(e);

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
        return refusedHere(deps, meta, c.key, `credentials rejected (HTTP 401 ${err.errorCode ?? ''}): check OKTA_API_TOKEN, or the service app's client id, key and granted scopes`);
      case 'forbidden': {
        const forbidden = await deps.store.countForbidden(meta.runId);
        if (forbidden >= HALT_AFTER_REFUSALS && (await succeededNone(deps, meta))) {
          await halt(deps, meta, c.key, `permission missing (HTTP 403 on the first ${HALT_AFTER_REFUSALS} requests): the token lacks okta.users.manage or an admin role for these users`);
          return 'left';
        }
        return failWith(err);
      }
      case 'transient':
        return transient(err);
      default:
        return failWith(err);
    }
  }
  if (err instanceof OktaResponseError) return transient(err);
  if (err instanceof NotOktaError) return refusedHere(deps, meta, c.key, err.message);
  if (err instanceof OktaNetworkError) {
    if (err.kind === 'proxy_refused') return refusedHere(deps, meta, c.key, err.proxyHint);
    // No Okta at that address (or none with a certificate we trust): a run that never reached
    // it halts after a handful of tries, as on 403s, rather than failing each target slowly.
    if (err.unreachable && (await deps.store.countUnreachable(meta.runId)) >= HALT_AFTER_REFUSALS && (await succeededNone(deps, meta))) {
      await halt(deps, meta, c.key, `Okta could not be reached (${err.code} on the first ${HALT_AFTER_REFUSALS} requests): check OKTA_ORG_URL, DNS, the proxy and the firewall; \`grantsweep check\` tries the way`);
      return 'left';
    }
    return transient(err);
  }
  throw err; // not Okta's: Redis, or a bug. The job fails and BullMQ retries it.
}

/**
 * A refusal of this process's own settings: its credential (a 401), its proxy, what answers at its
 * OKTA_ORG_URL. Before the run's first success it is taken for the run's (a wrong token shows as
 * one halted run, with the reason, where an operator looks). After one, some process did the run's
 * work with settings that worked (a token rotated on some machines only): this one stops taking
 * work, and the run goes on with the other workers instead of halting for all of them. A process
 * with no other worker beside it halts the run as before: nobody would go on with it.
 */
async function refusedHere(deps: RevokeDeps, meta: RunMeta, target: string, reason: string): Promise<'left'> {
  const stopped =
    deps.stopProcess !== undefined &&
    !(await succeededNone(deps, meta)) &&
    (await deps.stopProcess(
      `${reason}. Run ${meta.runId} has had answers before: this process stops taking work, and the run stays for the other workers, whose settings may work (\`grantsweep cancel ${meta.runId}\` stops it)`,
    ));
  if (!stopped) await halt(deps, meta, target, reason);
  return 'left';
}

/** Whether no target of the run has had an answer from Okta that settled it. */
async function succeededNone(deps: RevokeDeps, meta: RunMeta): Promise<boolean> {
  const c = await deps.store.getCounts(meta.runId);
  return c.revoked + c.would_revoke + c.nothing_to_revoke + c.user_not_found === 0;
}

async function halt(deps: RevokeDeps, meta: RunMeta, target: string, reason: string): Promise<void> {
  // Under the run's control lock, as `retry` and `cancel`: a retry cannot take the mark away between the two.
  const { changed } = await deps.store.withControlLock(meta.runId, async () => {
    await deps.budget.markStopped(meta.runId, reason);
    return deps.store.stopRun(meta.runId, 'halted', reason);
  });
  // Logged once, by the process that halted it (others may see the same refusal at once).
  if (changed) deps.log.error({ runId: meta.runId, target }, `run halted: ${reason}`);
}
