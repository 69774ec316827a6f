import type { Pacing } from '../../config/schema.ts';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { REVOKE_SCOPES, type OktaAuth } from '../okta/auth.ts';
import type { OktaClient } from '../okta/client.ts';
import type { ProxySettings } from '../okta/http.ts';
import { RequestCounter } from '../runs/request-counter.ts';
import type { RunStore } from '../runs/run-store.ts';
import { readCsvTargets } from '../sources/csv-source.ts';
import { requiredScopes } from '../sources/directory-source.ts';
import { readRunTargets } from '../sources/run-source.ts';
import type { SourceDescription, SourceItem } from '../sources/target.ts';
import { leaseMsFor, SharedBudget } from './budget.ts';
import { applyPrincipalShare } from './apply-principal-share.ts';
import { orgKeyOf } from './org.ts';
import { enqueueRun, type EnqueueResult, type NewRun } from './producer.ts';

/** What starting a run needs from its process: `run`/`enqueue` build it from the CLI's context, a worker from its own. */
export interface LaunchDeps {
  redis: Redis;
  store: RunStore;
  log: Logger;
  orgUrl: string;
  /** The credential, with the scopes the source needs (they matter for a service app). */
  auth: (scopes: string[]) => OktaAuth;
  requestTimeoutMs: number;
  proxy?: ProxySettings | null;
  maxInFlight: number;
  rateWindowMs: number;
  attempts: number;
  maxRateLimitDeferrals: number;
  pacing: Pacing;
}

/** A run as flags describe it, already checked: the producer's NewRun less what the process's config adds. */
export type RunSpec = Omit<NewRun, 'orgUrl' | 'pacing' | 'attempts' | 'maxRateLimitDeferrals' | 'schedule'> & {
  schedule: string | null;
  /** The run's own pacing (a schedule's --pacing); else the process's. */
  pacing?: Pacing | null;
  /** A CSV source's SHA-256 when it was checked: the file stored must be that one. */
  csvDigest?: string;
};

/** Okta scopes a run needs: its grants, plus whatever its source reads. */
export function scopesFor(source: SourceDescription): string[] {
  return [...REVOKE_SCOPES, ...requiredScopes(source).filter((s) => s !== 'okta.users.read')];
}

/**
 * Stores a run and its targets and hands it to the org's workers: the part of starting
 * a run that is not the command line (no flags, no prompt). A directory source is listed
 * through the shared budget, at the run's share. `items` replaces the source's own
 * reader (a scheduled run whose file turned out bad passes one that throws: the run is
 * stored halted with the reason, where an operator looks). `signal` stops the loading
 * (the run is stored halted, nothing revoked).
 */
export async function launchRun(deps: LaunchDeps, spec: RunSpec, items?: AsyncIterable<SourceItem>, signal?: AbortSignal): Promise<EnqueueResult> {
  const { source } = spec;
  let lister: OktaClient | null = null;
  let budget: SharedBudget | null = null;
  // The listing's requests count with the run's revocations (its report's `requests`, its chart).
  let counter: RequestCounter | null = null;
  let stored = false;
  if (!items) {
    if (source.kind === 'csv') {
      items = readCsvTargets(source.value, { expectDigest: spec.csvDigest });
    } else if (source.kind === 'run') {
      items = readRunTargets(deps.store, source.value, source.results ?? []);
    } else {
      const auth = deps.auth(scopesFor(source));
      budget = new SharedBudget(deps.redis, {
        orgKey: orgKeyOf(deps.orgUrl),
        maxInFlight: deps.maxInFlight,
        leaseMs: leaseMsFor(deps.requestTimeoutMs),
        windowMs: deps.rateWindowMs,
        credential: auth.principal,
      });
      budget.setShare(spec.runId, spec.rateShare, spec.pacing ?? deps.pacing);
      // A service app's own share of each bucket holds for its listing too.
      await applyPrincipalShare({
        redis: deps.redis,
        budget,
        orgKey: orgKeyOf(deps.orgUrl),
        orgUrl: deps.orgUrl,
        auth: deps.auth,
        proxy: deps.proxy,
        timeoutMs: deps.requestTimeoutMs,
        log: deps.log,
      });
      // The HTTP stack loads only for a directory source: a CSV's producer never calls Okta.
      const [{ OktaClient }, { readDirectoryTargets }] = await Promise.all([import('../okta/client.ts'), import('../sources/directory-source.ts')]);
      lister = new OktaClient({
        orgUrl: deps.orgUrl,
        auth,
        timeoutMs: deps.requestTimeoutMs,
        gate: budget,
        proxy: deps.proxy,
        readAttempts: deps.attempts + deps.maxRateLimitDeferrals,
      });
      const c = (counter = new RequestCounter(deps.store));
      items = readDirectoryTargets(lister, source, {
        runId: spec.runId,
        onResponse: (req, m) => c.add(spec.runId, m.status, { name: req.bucket, budget: null }),
        onNoAnswer: (req) => c.add(spec.runId, 0, { name: req.bucket, budget: null }),
      });
    }
  }
  try {
    const result = await enqueueRun(deps.redis, deps.store, {
      runId: spec.runId,
      orgUrl: deps.orgUrl,
      source,
      target: spec.target,
      dryRun: spec.dryRun,
      snapshot: spec.snapshot,
      tokens: spec.tokens,
      reason: spec.reason,
      rateShare: spec.rateShare,
      pacing: spec.pacing ?? deps.pacing,
      attempts: deps.attempts,
      maxRateLimitDeferrals: deps.maxRateLimitDeferrals,
      schedule: spec.schedule,
    }, items, undefined, signal, { firstPage: lister !== null && spec.schedule === null, onStored: () => (stored = true) });
    deps.log.info(
      { runId: spec.runId, schedule: spec.schedule ?? undefined, targets: result.targets, source: source.kind, dryRun: spec.dryRun },
      'run enqueued',
    );
    return result;
  } catch (err) {
    // A listing that waits for its slot (a paced bucket) finds the run stopped and sends nothing.
    // Only a run this launch stored: a refused id belongs to another run, which must go on.
    if (stored) await budget?.markStopped(spec.runId, 'loading stopped').catch(() => {});
    throw err;
  } finally {
    await lister?.close();
    // Counts of a run never stored (its creation refused) would be keys of no run, or another run's.
    if (counter && stored) await counter.flush();
  }
}
