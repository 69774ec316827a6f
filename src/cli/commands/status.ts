import { EXIT, type ExitCode } from '../../errors.ts';
import { runSummary } from '../../runs/report.ts';
import { shownState } from '../../runs/run-meta.ts';
import { openContext } from '../context.ts';
import { onSignals } from '../stopping.ts';
import { err, out, type CliIO } from '../io.ts';
import { createProgress, progressMode } from '../progress.ts';
import { checkRunId } from '../run-options.ts';
import { exitCodeFor, printSummary, settledCounts, stateText, waitForRun } from '../watch-run.ts';

/**
 * `grantsweep status <runId>`: the run's state and counts so far. With --watch, progress
 * on stderr until the run is final (or Ctrl-C), then the summary on stdout; it exits as
 * `run` would for the run's outcome.
 */
export async function statusCommand(io: CliIO, runId: string, flags: { json?: boolean; watch?: boolean; intervalMs?: number }): Promise<ExitCode> {
  checkRunId(runId, 'runId');
  const ctx = await openContext(io, {});
  // The run as it stands, as JSON or as the summary the other commands print.
  const show = async () => {
    const meta = await ctx.store.requireMeta(runId);
    const counts = await ctx.store.getCounts(runId);
    if (flags.json) await out(io, `${JSON.stringify(runSummary(meta, counts))}\n`);
    else await printSummary(io, meta, counts);
    return { meta, counts };
  };
  try {
    if (flags.watch) {
      const first = await ctx.store.requireMeta(runId);
      // A loading whose producer was killed never ends: say so once, as `status` does, rather than wait in silence.
      if (shownState(first) === 'loading') err(io, `run ${runId}: ${stateText(first)}; watching until it is loaded and final (Ctrl-C stops watching)\n`);
      const progress = createProgress(io, runId, { mode: progressMode(io, flags.json) });
      const interrupted = new AbortController();
      const off = onSignals(() => interrupted.abort(), () => interrupted.abort());
      try {
        await waitForRun(ctx.store, runId, { onTick: progress.tick, signal: interrupted.signal, intervalMs: flags.intervalMs ?? 1_000 });
      } finally {
        progress.stop();
        off();
      }
      // The workers' request counts come up to a second after the last result: the final summary waits for them.
      if (!interrupted.signal.aborted) await settledCounts(ctx.store, runId);
      const { meta, counts } = await show();
      return exitCodeFor(meta, counts);
    }
    await show();
    return EXIT.ok;
  } finally {
    await ctx.resources.releaseAll();
  }
}
