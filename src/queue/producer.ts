import type { Pacing } from '../../config/schema.ts';
import type { Redis } from 'ioredis';
import { EXIT, ExitError, UsageError } from '../errors.ts';
import { orgKeys } from '../redis/keys.ts';
import { tombstoneAt, TOMBSTONE_MS } from '../runs/prune.ts';
import { newRecord, type TargetRecord } from '../runs/record.ts';
import type { RunMeta } from '../runs/run-meta.ts';
import { runIdTaken, type RunStore } from '../runs/run-store.ts';
import { targetKey, type SourceDescription, type SourceItem } from '../sources/target.ts';
import { abortable, LoadingInterrupted } from '../sources/abortable.ts';
import { firstPageFirst } from '../sources/first-page.ts';
import { orgKeyOf } from './org.ts';

export interface NewRun {
  runId: string;
  orgUrl: string;
  source: SourceDescription;
  target: { clientId: string | null; scopeId: string | null };
  dryRun: boolean;
  snapshot: boolean;
  tokens: boolean;
  reason: string | null;
  rateShare: number;
  pacing: Pacing;
  attempts: number;
  maxRateLimitDeferrals: number;
  schedule?: string | null;
}

export interface EnqueueResult {
  runId: string;
  targets: number;
  duplicates: number;
  invalid: number;
}

const CHUNK = 1_000;

/**
 * Stores a run and its targets, then hands it to the workers. The targets are
 * streamed from the source into Redis in chunks (memory stays flat in the size of the
 * input) and deduplicated there. The run is offered to the workers only once every
 * target is stored: a source that fails half-way, or a `signal` that aborts the loading
 * (Ctrl-C), leaves a halted run that revoked nothing, and `retry` refuses it.
 */
export async function enqueueRun(
  redis: Redis,
  store: RunStore,
  run: NewRun,
  items: AsyncIterable<SourceItem>,
  onProgress?: (stored: number) => void,
  signal?: AbortSignal,
  /**
   * `firstPage`: a directory query's first page is asked before the run is stored, so that
   * a query Okta refuses stores nothing (firstPageFirst); a scheduled run leaves it unset,
   * its halted run being where the schedule's history shows the reason. `onStored`: the run
   * now exists under this id (a refusal before it leaves alone whatever run has the id).
   */
  opts: { firstPage?: boolean; onStored?: () => void } = {},
): Promise<EnqueueResult> {
  const orgKey = orgKeyOf(run.orgUrl);
  const meta: RunMeta = {
    ...run,
    orgUrl: new URL(run.orgUrl).origin,
    orgKey,
    schedule: run.schedule ?? null,
    state: 'queued',
    stateReason: null,
    createdAt: Date.now(),
    finishedAt: null,
    loaded: false,
    fed: 0,
    requeueFed: 0,
    queueBase: null,
  };
  // An id whose pruned run left its stop mark (workers may still hold its targets) would start stopped, and hang.
  const prunedAt = tombstoneAt(await redis.hget(orgKeys(orgKey).stopped, run.runId));
  if (prunedAt !== null) {
    throw new UsageError(
      `--run-id ${run.runId}: a run with this id was pruned at ${new Date(prunedAt).toISOString()}, and its stop mark holds until ${new Date(prunedAt + TOMBSTONE_MS).toISOString()} (a worker may still hold its targets); choose another id`,
    );
  }
  if (opts.firstPage) {
    // A taken id is refused before the query's first request, as it would be after it.
    if (await store.getMeta(run.runId)) throw runIdTaken(run.runId);
    items = await firstPageFirst(abortable(items, signal), run.source);
  } else {
    items = abortable(items, signal);
  }
  await store.createRun(meta);
  opts.onStored?.();

  let seen = 0;
  let added = 0;
  let invalid = 0;
  let chunk: { key: string; record: TargetRecord }[] = [];
  // One chunk is written to Redis while the next is read from the source.
  let writing: Promise<void> = Promise.resolve();
  let writeError: { err: unknown } | null = null;
  const written = async () => {
    await writing;
    if (writeError) throw writeError.err;
  };
  const flush = async () => {
    const full = chunk;
    chunk = [];
    await written();
    writing = store.addTargets(run.runId, full).then(
      (n) => {
        added += n;
        onProgress?.(added);
      },
      (err: unknown) => {
        writeError = { err };
      },
    );
  };
  try {
    for await (const item of items) {
      seen++;
      if (item.kind === 'invalid') {
        invalid++;
        chunk.push({
          key: `invalid-${item.row.line}`,
          record: {
            ...newRecord({ userId: null, login: null, clientId: null, scopeId: null, grantId: null, line: item.row.line }, 'invalid'),
            errorCode: 'INVALID_ROW',
            errorSummary: item.row.problem,
            finishedAt: Date.now(),
          },
        });
      } else {
        const t = item.target;
        chunk.push({ key: targetKey(t, run.target), record: newRecord({
            userId: t.userId,
            login: t.login,
            clientId: t.clientId ?? run.target.clientId,
            scopeId: t.scopeId ?? run.target.scopeId,
            grantId: t.grantId,
            line: t.line,
          }),
        });
      }
      if (chunk.length >= CHUNK) await flush();
    }
    if (chunk.length > 0) await flush();
    await written();
  } catch (err) {
    await writing;
    if (err instanceof LoadingInterrupted) {
      const reason = `loading was interrupted (${err.message}) after ${added} targets were stored; nothing was revoked`;
      await store.stopRun(run.runId, 'halted', reason);
      throw new ExitError(EXIT.failures, `run ${run.runId}: ${reason}. Start it again as a new run`);
    }
    await store.stopRun(run.runId, 'halted', `the source failed while loading: ${(err as Error).message}`);
    throw err;
  }
  await store.finishLoading(run.runId);
  await redis.sadd(orgKeys(orgKey).active, run.runId);
  return { runId: run.runId, targets: added - invalid, duplicates: seen - added, invalid };
}
