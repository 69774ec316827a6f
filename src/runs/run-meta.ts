import { DEFAULTS } from '../../config/defaults.ts';
import type { Pacing } from '../../config/schema.ts';
import type { SourceDescription } from '../sources/target.ts';

export const RUN_STATES = ['queued', 'running', 'completed', 'halted', 'cancelled'] as const;
export type RunState = (typeof RUN_STATES)[number];
export const FINAL_RUN_STATES: readonly RunState[] = ['completed', 'halted', 'cancelled'];

/** The state as people are shown it: a queued run whose targets are not all stored yet is `loading`. */
export const shownState = (m: { state: RunState; loaded: boolean }): RunState | 'loading' => (m.state === 'queued' && !m.loaded ? 'loading' : m.state);

/** A run's metadata: what it revokes, how, and where it stands. Stored as a hash of strings. */
export interface RunMeta {
  runId: string;
  /** The org this run revokes in (origin only); its queue and budget follow from it. */
  orgUrl: string;
  orgKey: string;
  state: RunState;
  /** Why the run halted or was cancelled. */
  stateReason: string | null;
  dryRun: boolean;
  snapshot: boolean;
  /** Also revoke the targets' refresh tokens (--tokens): per client, a call apart from the grants'. */
  tokens: boolean;
  reason: string | null;
  source: SourceDescription;
  target: { clientId: string | null; scopeId: string | null };
  rateShare: number;
  /** How the share is spent within each window (config/schema.ts). */
  pacing: Pacing;
  attempts: number;
  maxRateLimitDeferrals: number;
  createdAt: number;
  finishedAt: number | null;
  /** Set once the producer has stored every target; the run cannot complete before. */
  loaded: boolean;
  /** How many entries of the order list the feeder has put on the queue. */
  fed: number;
  /** How many retried targets (the requeue list) it has put on the queue: it numbers their jobs. */
  requeueFed: number;
  /** Its place among the org's runs in the queue (src/queue/run-order.ts); null until first fed. */
  queueBase: number | null;
  /** Set by a schedule: its name. */
  schedule: string | null;
}

export function metaToRedis(m: RunMeta): Record<string, string> {
  return {
    runId: m.runId,
    orgUrl: m.orgUrl,
    orgKey: m.orgKey,
    state: m.state,
    stateReason: m.stateReason ?? '',
    dryRun: m.dryRun ? '1' : '0',
    snapshot: m.snapshot ? '1' : '0',
    tokens: m.tokens ? '1' : '0',
    reason: m.reason ?? '',
    source: JSON.stringify(m.source),
    target: JSON.stringify(m.target),
    rateShare: String(m.rateShare),
    pacing: m.pacing,
    attempts: String(m.attempts),
    maxRateLimitDeferrals: String(m.maxRateLimitDeferrals),
    createdAt: String(m.createdAt),
    finishedAt: m.finishedAt === null ? '' : String(m.finishedAt),
    loaded: m.loaded ? '1' : '0',
    fed: String(m.fed),
    requeueFed: String(m.requeueFed),
    queueBase: m.queueBase === null ? '' : String(m.queueBase),
    schedule: m.schedule ?? '',
  };
}

export function metaFromRedis(h: Record<string, string>): RunMeta | null {
  if (!h.runId) return null;
  const orNull = (v: string | undefined) => (v ? v : null);
  return {
    runId: h.runId,
    orgUrl: h.orgUrl ?? '',
    orgKey: h.orgKey ?? '',
    state: (h.state ?? 'queued') as RunState,
    stateReason: orNull(h.stateReason),
    dryRun: h.dryRun === '1',
    snapshot: h.snapshot === '1',
    tokens: h.tokens === '1',
    reason: orNull(h.reason),
    source: JSON.parse(h.source ?? '{"kind":"csv","value":""}'),
    target: JSON.parse(h.target ?? '{"clientId":null,"scopeId":null}'),
    rateShare: rateShareOf(h.rateShare),
    pacing: pacingOf(h.pacing),
    attempts: Number(h.attempts ?? DEFAULTS.attempts),
    maxRateLimitDeferrals: Number(h.maxRateLimitDeferrals ?? DEFAULTS.maxRateLimitDeferrals),
    createdAt: Number(h.createdAt ?? 0),
    finishedAt: h.finishedAt ? Number(h.finishedAt) : null,
    loaded: h.loaded === '1',
    fed: Number(h.fed ?? 0),
    requeueFed: Number(h.requeueFed ?? 0),
    queueBase: h.queueBase ? Number(h.queueBase) : null,
    schedule: orNull(h.schedule),
  };
}

/** A stored pacing; a meta written without one (or with a value this version does not know) paces evenly. */
export const pacingOf = (v: string | null | undefined): Pacing => (v === 'window' ? 'window' : DEFAULTS.pacing);

/** A stored rate share; a meta written without one has the default's. */
export const rateShareOf = (v: string | null | undefined): number => Number(v ?? DEFAULTS.rateShare);
