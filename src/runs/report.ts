import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { TargetRecord, TargetStatus } from './record.ts';
import type { RunMeta } from './run-meta.ts';
import type { RunCounts, RunStore } from './run-store.ts';

export const CSV_HEADER = [
  'userId', 'login', 'clientId', 'scopeId', 'grantId', 'status', 'grantsRevoked', 'attempts',
  'httpStatus', 'errorCode', 'errorSummary', 'errorId', 'line', 'finishedAt',
] as const;

/**
 * The CSV's columns for a run: with --snapshot or --dry-run, the grants listed (`clientId:scopeId`,
 * space-separated: the evidence a ticket needs); with --tokens, the clients whose refresh tokens
 * went (space-separated).
 */
export const csvHeaderFor = (meta: Pick<RunMeta, 'tokens' | 'snapshot' | 'dryRun'>): readonly string[] => [
  ...CSV_HEADER,
  ...(meta.snapshot || meta.dryRun ? ['grants'] : []),
  ...(meta.tokens ? ['tokensRevokedFor'] : []),
];

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The run's summary, as `status --json` and the report's head print it. */
export function runSummary(meta: RunMeta, counts: RunCounts) {
  const { requests, rateLimited, ...byStatus } = counts;
  return {
    runId: meta.runId,
    /** The org it revoked in: one Redis can hold the runs of several (prod, preview). */
    orgUrl: meta.orgUrl,
    state: meta.state,
    stateReason: meta.stateReason,
    /** Every target of the source is stored; until then the run is not offered to the workers. */
    loaded: meta.loaded,
    dryRun: meta.dryRun,
    snapshot: meta.snapshot,
    tokens: meta.tokens,
    reason: meta.reason,
    source: meta.source,
    target: meta.target,
    schedule: meta.schedule,
    /** As it stands now: `grantsweep pace` may have changed it while the run ran. */
    rateShare: meta.rateShare,
    pacing: meta.pacing,
    createdAt: iso(meta.createdAt),
    finishedAt: iso(meta.finishedAt),
    counts: {
      total: byStatus.total,
      pending: byStatus.pending,
      revoked: byStatus.revoked,
      would_revoke: byStatus.would_revoke,
      nothing_to_revoke: byStatus.nothing_to_revoke,
      user_not_found: byStatus.user_not_found,
      invalid: byStatus.invalid,
      failed: byStatus.failed,
    },
    requests: { total: requests, rateLimited },
  };
}

export function resultJson(r: TargetRecord, withGrants: boolean, withTokens = false) {
  return {
    userId: r.resolvedUserId ?? r.userId,
    login: r.login,
    clientId: r.clientId,
    scopeId: r.scopeId,
    grantId: r.grantId,
    status: r.status,
    grantsRevoked: r.grantsRevoked,
    ...(withGrants ? { grants: r.grants ?? [] } : {}),
    attempts: r.attempts,
    httpStatus: r.httpStatus,
    errorCode: r.errorCode,
    errorSummary: r.errorSummary,
    errorId: r.errorId,
    line: r.line,
    finishedAt: iso(r.finishedAt),
    ...(withTokens ? { tokensRevokedFor: r.tokensRevokedFor } : {}),
  };
}

/** Writes respecting backpressure, so a million-row report streams in flat memory. */
export async function writeChunk(out: Writable, chunk: string): Promise<void> {
  // A stream that failed (a full disk) says so at the next row, rather than taking rows it drops.
  if (out.errored) throw out.errored;
  if (!out.write(chunk)) await once(out, 'drain');
}

/** Which results a report lists: all, or those whose status is in `status` (the summary's counts stay the run's). */
export interface ReportFilter {
  status?: readonly TargetStatus[];
  /** The reader has gone (a pipe closed early): the rest of the rows are not read. */
  stop?: AbortSignal;
}

async function* chosen(store: RunStore, runId: string, filter: ReportFilter): AsyncGenerator<TargetRecord> {
  const only = filter.status ? new Set<string>(filter.status) : null;
  for await (const rec of store.records(runId)) {
    if (filter.stop?.aborted) return;
    if (!only || only.has(rec.status)) yield rec;
  }
}

export async function writeJsonReport(store: RunStore, runId: string, out: Writable, filter: ReportFilter = {}): Promise<void> {
  const meta = await store.requireMeta(runId);
  const summary = { ...runSummary(meta, await store.getCounts(runId)), ...(filter.status ? { resultsWithStatus: filter.status } : {}) };
  const head = JSON.stringify(summary, null, 2);
  // The summary object, then "results" streamed one row a line.
  await writeChunk(out, `${head.slice(0, -2)},\n  "results": [`);
  let first = true;
  const withGrants = meta.snapshot || meta.dryRun;
  for await (const rec of chosen(store, runId, filter)) {
    await writeChunk(out, `${first ? '\n' : ',\n'}    ${JSON.stringify(resultJson(rec, withGrants, meta.tokens))}`);
    first = false;
  }
  await writeChunk(out, `${first ? '' : '\n  '}]\n}\n`);
}

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  // Quote what RFC 4180 requires, and neutralise spreadsheet formulas in free text.
  const safe = /^[=+\-@\t\r]/.test(s) && Number.isNaN(Number(s)) ? `'${s}` : s;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export async function writeCsvReport(store: RunStore, runId: string, out: Writable, filter: ReportFilter = {}): Promise<void> {
  const meta = await store.requireMeta(runId);
  const header = csvHeaderFor(meta);
  await writeChunk(out, `${header.join(',')}\n`);
  for await (const rec of chosen(store, runId, filter)) {
    const row = resultJson(rec, false, meta.tokens) as Record<string, unknown>;
    if (Array.isArray(row.tokensRevokedFor)) row.tokensRevokedFor = row.tokensRevokedFor.join(' ');
    row.grants = rec.grants?.map((g) => `${g.clientId}:${g.scopeId}`).join(' ') ?? null;
    await writeChunk(out, `${header.map((h) => csvCell(row[h])).join(',')}\n`);
  }
}
