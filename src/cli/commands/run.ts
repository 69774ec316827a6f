import type { ExitCode } from '../../errors.ts';
import { startHost, onSignals } from '../host.ts';
import { err, out, type CliIO } from '../io.ts';
import type { RunFlags } from '../run-options.ts';
import { startRun } from '../start-run.ts';
import { createProgress } from '../progress.ts';
import { exitCodeFor, summaryText, waitForRun } from '../watch-run.ts';

/** `grantsweep run`: enqueue a run and process it here until every target is final. */
export async function runCommand(io: CliIO, flags: RunFlags): Promise<ExitCode> {
  const { ctx, result, scopes } = await startRun(io, flags);
  try {
    const host = startHost(ctx, { scopes });
    const interrupted = new AbortController();
    const off = onSignals(
      () => {
        err(io, `stopping: finishing the requests in flight (again to stop at once). The run stays queued: \`grantsweep worker\` finishes it, \`grantsweep cancel ${result.runId}\` cancels it.\n`);
        interrupted.abort();
      },
      () => void host.close(true),
    );
    // A bar on a terminal (per-target log lines would tear it: they wait for the report unless LOG_LEVEL says otherwise).
    const progress = createProgress(io, ctx.store, result.runId, { final: 'caller' });
    if (progress.mode === 'bar' && !io.env.LOG_LEVEL) ctx.log.level = 'warn';
    try {
      const { meta, counts } = await waitForRun(ctx.store, result.runId, { onTick: progress.tick, signal: interrupted.signal });
      await host.close();
      const final = interrupted.signal.aborted ? { meta, counts } : { meta: await ctx.store.requireMeta(result.runId), counts: await ctx.store.getCounts(result.runId) };
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
