import { HaltError, type ExitCode } from '../errors.ts';
import type { CliContext } from './context.ts';
import { startHost } from './host.ts';
import { giveUpOnOutage, onSignals, RUN_OUTAGE_MS } from './stopping.ts';
import { err } from './io.ts';
import { createProgress } from './progress.ts';
import { exitCodeFor, printSummary, settledCounts, waitForRun } from './watch-run.ts';

/**
 * What `run` and `retry --wait` share: a worker in this process until the run is final,
 * progress on stderr, the summary on stdout, the exit code the run earned. The first
 * signal stops taking work and leaves the run to the workers; a second stops at once.
 */
export async function processHere(ctx: CliContext, runId: string, opts: { scopes?: string[] } = {}): Promise<ExitCode> {
  const { io } = ctx;
  const host = await startHost(ctx, { scopes: opts.scopes });
  const interrupted = new AbortController();
  const off = onSignals(
    () => {
      err(io, `stopping: finishing the requests in flight (again to stop at once). The run is left to the workers: \`grantsweep worker\` finishes it, \`grantsweep cancel ${runId}\` cancels it.\n`);
      interrupted.abort();
    },
    () => void host.close(true),
  );
  // A Redis that does not come back ends the command (exit 3) instead of leaving it waiting for ever.
  const outage = giveUpOnOutage(ctx, host, RUN_OUTAGE_MS, (why) =>
    `${why}. The run stays in Redis: once it is back, \`grantsweep worker\` or \`grantsweep retry ${runId} --wait\` finishes it`,
  );
  // Okta refusing this process's own settings for a run that has had answers: the run goes on with
  // the other workers, and this command ends with the reason (exit 3).
  const refused = host.refusedHere.then((reason): never => {
    throw new HaltError(reason);
  });
  refused.catch(() => {});
  // A bar on a terminal (per-target log lines would tear it: they wait for the report unless LOG_LEVEL says otherwise).
  const progress = createProgress(io, runId, { final: 'caller' });
  if (progress.mode === 'bar' && !io.env.LOG_LEVEL) ctx.log.level = 'warn';
  try {
    const { meta, counts } = await Promise.race([waitForRun(ctx.store, runId, { onTick: progress.tick, signal: interrupted.signal }), outage.gaveUp, refused]);
    // Other workers on the org's queue flush their request counts up to a second after their last
    // request: the summary that goes into the ticket waits for them (this process's own are flushed by its close).
    const others = interrupted.signal.aborted ? 0 : Math.max(0, (await host.queue.getWorkersCount().catch(() => 1)) - 1);
    await host.close();
    if (others > 0) await settledCounts(ctx.store, runId);
    // Read after the close, which waited for the requests in flight: an interrupted run's summary counts them too.
    const final = { meta: (await ctx.store.getMeta(runId).catch(() => null)) ?? meta, counts: await ctx.store.getCounts(runId).catch(() => counts) };
    // The last progress after the worker flushed its counts: the same numbers as the summary.
    await progress.finish(final.meta, final.counts);
    await printSummary(io, final.meta, final.counts);
    return exitCodeFor(final.meta, final.counts);
  } finally {
    progress.stop();
    off();
    outage.off();
  }
}
