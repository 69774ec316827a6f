import { EXIT, UsageError, type ExitCode } from '../../errors.ts';
import { retryFailed } from '../../queue/run-actions.ts';
import { openContext } from '../context.ts';
import { onSignals, startHost } from '../host.ts';
import { err, out, type CliIO } from '../io.ts';
import { checkRunId } from '../run-options.ts';
import { createProgress } from '../progress.ts';
import { exitCodeFor, summaryText, waitForRun } from '../watch-run.ts';

/**
 * `grantsweep retry <runId>`: put the failed targets back (and, for a halted or
 * cancelled run, the ones it left pending), then with --wait process them here.
 */
export async function retryCommand(io: CliIO, runId: string, flags: { wait?: boolean; concurrency?: string }): Promise<ExitCode> {
  checkRunId(runId, 'runId');
  const ctx = await openContext(io, flags, { okta: !!flags.wait, credentials: !!flags.wait });
  try {
    const meta = await ctx.store.requireMeta(runId);
    if (flags.wait && ctx.config.orgUrl && new URL(ctx.config.orgUrl).origin !== meta.orgUrl) {
      throw new UsageError(`run ${runId} belongs to ${meta.orgUrl}, but OKTA_ORG_URL is ${ctx.config.orgUrl}`);
    }
    const { requeued: n } = await retryFailed(ctx.redis, ctx.store, runId);
    err(io, `${n} targets of ${runId} requeued\n`);
    if (!flags.wait) return EXIT.ok;
    const host = startHost(ctx);
    const interrupted = new AbortController();
    const off = onSignals(() => interrupted.abort(), () => void host.close(true));
    // A bar on a terminal (per-target log lines would tear it: they wait for the report unless LOG_LEVEL says otherwise).
    const progress = createProgress(io, ctx.store, runId, { final: 'caller' });
    if (progress.mode === 'bar' && !io.env.LOG_LEVEL) ctx.log.level = 'warn';
    try {
      await waitForRun(ctx.store, runId, { onTick: progress.tick, signal: interrupted.signal });
      await host.close();
      const final = { meta: await ctx.store.requireMeta(runId), counts: await ctx.store.getCounts(runId) };
      // The last progress after the worker flushed its counts: the same numbers as the summary.
      await progress.finish(final.meta, final.counts);
      await out(io, summaryText(final.meta, final.counts));
      return exitCodeFor(final.meta, final.counts);
    } finally {
      progress.stop();
      off();
    }
  } finally {
    await ctx.resources.releaseAll();
  }
}
