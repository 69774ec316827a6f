import { HaltError, UsageError } from '../errors.ts';
import { FINAL_STATUSES, type TargetStatus } from '../runs/record.ts';
import { parseStatusList } from '../runs/status-list.ts';
import { FINAL_RUN_STATES, type RunMeta } from '../runs/run-meta.ts';
import type { RunStore } from '../runs/run-store.ts';
import type { SourceItem } from './target.ts';

/**
 * The targets of an earlier run, chosen by their results (`--from-run RUN`): the targets a
 * dry run found something for, to revoke exactly those after a review; or the targets a
 * run revoked, to check with `--dry-run` that nothing came back. Each target is taken as
 * it was acted on (the user, the effective client, scope and grant), so the new run does
 * the same work on the same people whatever the directory or the file says today.
 */

/** By default: the targets that had something to revoke. */
export const DEFAULT_FROM_RUN_RESULTS: readonly TargetStatus[] = ['would_revoke', 'revoked'];

/** `invalid` rows have no target and `pending` targets no result: neither can be taken. */
const TAKEABLE: readonly TargetStatus[] = FINAL_STATUSES.filter((s) => s !== 'invalid');

/** `--with-result LIST`, checked before anything is opened. */
export function parseResults(list: string | undefined): TargetStatus[] {
  if (list === undefined) return [...DEFAULT_FROM_RUN_RESULTS];
  return parseStatusList('--with-result', list, TAKEABLE, 'a target can be taken from');
}

/**
 * The earlier run, checked as a source before anything is stored: it exists, it is final
 * (its results will not change under the new run), and it belongs to the org the new run
 * revokes in (its user ids mean nothing in another). Returns it with the number of its
 * targets that will be taken, from its counts.
 */
export async function checkSourceRun(store: RunStore, runId: string, orgUrl: string, results: readonly string[]): Promise<{ meta: RunMeta; targets: number }> {
  const meta = await store.getMeta(runId);
  if (!meta) throw new UsageError(`--from-run: no such run ${JSON.stringify(runId)} (see \`grantsweep runs\`)`);
  if (!FINAL_RUN_STATES.includes(meta.state)) {
    throw new UsageError(`--from-run: run ${runId} is ${meta.state}: its results may still change; wait for it (\`grantsweep status ${runId} --watch\`) or cancel it`);
  }
  const here = new URL(orgUrl).origin;
  if (meta.orgUrl !== here) throw new UsageError(`--from-run: run ${runId} revoked in ${meta.orgUrl}, not in ${here}: its user ids belong to that org`);
  const counts = await store.getCounts(runId);
  const targets = results.reduce((n, r) => n + (counts[r as TargetStatus] ?? 0), 0);
  return { meta, targets };
}

/**
 * Yields the targets of `runId` whose result is one of `results`, in the run's order,
 * a chunk at a time. A login that the run resolved is taken with its user id (no second
 * lookup). The run's lines are kept: they still point into the file it was loaded from.
 */
export async function* readRunTargets(store: RunStore, runId: string, results: readonly string[]): AsyncGenerator<SourceItem> {
  const wanted = new Set(results);
  for await (const r of store.records(runId)) {
    if (!wanted.has(r.status)) continue;
    const userId = r.userId ?? r.resolvedUserId;
    if (userId === null && r.login === null) {
      yield { kind: 'invalid', row: { line: r.line ?? 0, problem: `run ${runId}: a ${r.status} target that names no user` } };
      continue;
    }
    yield { kind: 'target', target: { userId, login: r.login, clientId: r.clientId, scopeId: r.scopeId, grantId: r.grantId, line: r.line } };
  }
  // A prune between the check and the end of the read would leave the new run a part of its
  // source: the producer halts it before it starts (exit 3), and nothing is revoked.
  if (!(await store.getMeta(runId))) {
    throw new HaltError(`--from-run: run ${runId} was deleted (\`runs prune\`) while its targets were read: the new run got only part of them, so it will not start; nothing was revoked`);
  }
}
