import { EXIT, HaltError, type ExitCode } from '../errors.ts';
import { err, out, type CliIO } from './io.ts';
import { FINAL_RUN_STATES, shownState, type RunMeta } from '../runs/run-meta.ts';
import type { RunCounts, RunStore } from '../runs/run-store.ts';

export interface WatchOptions {
  intervalMs?: number;
  /** Called on every poll (and awaited); `run` uses it to draw progress. */
  onTick?: (meta: RunMeta, counts: RunCounts) => void | Promise<void>;
  signal?: AbortSignal;
}

/** Polls the run store until the run is final (or the signal aborts); returns the last view. */
export async function waitForRun(store: RunStore, runId: string, opts: WatchOptions = {}) {
  for (let seen = false; ; seen = true) {
    const meta = seen ? await store.getMeta(runId) : await store.requireMeta(runId);
    // Seen, then gone: not a usage error. A Redis that restarted without persistence (or a prune of it meanwhile).
    if (!meta) {
      throw new HaltError(
        `run ${runId} is gone from Redis while it was watched: Redis restarted without persistence (appendonly no), or the run was pruned. ` +
          'What Okta revoked meanwhile is not recorded; `grantsweep check` shows how Redis keeps its data',
      );
    }
    const counts = await store.getCounts(runId);
    await opts.onTick?.(meta, counts);
    if (FINAL_RUN_STATES.includes(meta.state) || opts.signal?.aborted) return { meta, counts };
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 250));
  }
}

export function exitCodeFor(meta: RunMeta, counts: RunCounts): ExitCode {
  if (meta.state === 'halted') return EXIT.halted;
  if (meta.state === 'cancelled') return EXIT.failures;
  if (meta.state === 'completed') return counts.failed > 0 ? EXIT.failures : EXIT.ok;
  return EXIT.failures; // interrupted before the end
}

export function countsLine(counts: RunCounts): string {
  const done = counts.total - counts.pending;
  const parts = [`${done}/${counts.total} done`];
  for (const s of ['revoked', 'would_revoke', 'nothing_to_revoke', 'user_not_found', 'invalid', 'failed'] as const) {
    if (counts[s] > 0) parts.push(`${s} ${counts[s]}`);
  }
  parts.push(`requests ${counts.requests}`);
  if (counts.rateLimited > 0) parts.push(`429s ${counts.rateLimited}`);
  return parts.join(' · ');
}

/** The state, with its reason; a queued run whose targets are not all stored yet says so. */
export function stateText(meta: RunMeta): string {
  if (shownState(meta) === 'loading') {
    return `queued, loading (if the command that started it was stopped, nothing was revoked: \`grantsweep cancel ${meta.runId}\` closes it)`;
  }
  return `${meta.state}${meta.stateReason ? ` (${meta.stateReason})` : ''}`;
}

/**
 * A completed run of one client or one scope in which no target held it: most often a mistyped
 * client id or scope (Okta answers a DELETE for a client the org does not have with 204 all the
 * same). Not for an earlier run's targets: a check afterwards that finds nothing is the good news.
 */
export function noHolderWarning(meta: RunMeta, counts: RunCounts): string | null {
  const { clientId, scopeId } = meta.target;
  if ((!clientId && !scopeId) || meta.source.kind === 'run' || meta.state !== 'completed' || counts.nothing_to_revoke === 0) return null;
  if (counts.revoked + counts.would_revoke + counts.failed + counts.pending > 0) return null;
  if (clientId && scopeId) return `warning: no target held grants of client ${clientId} with scope ${scopeId}: are the client id and the scope right?\n`;
  if (scopeId) return `warning: no target held grants of scope ${scopeId}: is the scope right? (its name, e.g. api:write, or a custom scope's scp… id)\n`;
  return `warning: no target held grants of client ${clientId}: is the client id right? (it is the app's client_id, 0oa…, as in Okta's admin console)\n`;
}

export function summaryText(meta: RunMeta, counts: RunCounts): string {
  const lines = [
    `run ${meta.runId}: ${stateText(meta)}${meta.dryRun ? ' [dry run]' : ''}`,
    `  ${countsLine(counts)}`,
  ];
  if (meta.dryRun && meta.state === 'completed' && counts.would_revoke > 0) {
    lines.push(`  to revoke exactly these ${counts.would_revoke}: grantsweep run --from-run ${meta.runId} --yes`);
  }
  if (counts.failed > 0) lines.push(`  failed targets: grantsweep report ${meta.runId} --format csv --status failed   retry: grantsweep retry ${meta.runId} --wait`);
  return `${lines.join('\n')}\n`;
}

/**
 * A final view of a run as every command prints it (`run`, `retry --wait`, `status`): the summary
 * on stdout and, where the run found nothing to revoke of its client or scope, the warning on
 * stderr, whichever process ran it.
 */
export async function printSummary(io: CliIO, meta: RunMeta, counts: RunCounts): Promise<void> {
  await out(io, summaryText(meta, counts));
  const warning = noHolderWarning(meta, counts);
  if (warning) err(io, warning);
}

/**
 * Waits until the run's request count has not moved for a flush interval and a little (3 s at
 * most): every worker writes its counts once a second, so a count read as the run completes can
 * be a second behind; the summary that goes into a ticket waits for them.
 */
export async function settledCounts(store: RunStore, runId: string): Promise<void> {
  let last = (await store.getCounts(runId)).requests;
  for (let waited = 0; waited < 3_000; waited += 1_200) {
    await new Promise((r) => setTimeout(r, 1_200));
    const now = (await store.getCounts(runId)).requests;
    if (now === last) return;
    last = now;
  }
}
