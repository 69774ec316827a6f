import { EXIT, type ExitCode } from '../../errors.ts';
import { runSummary } from '../../runs/report.ts';
import { openContext } from '../context.ts';
import { out, type CliIO } from '../io.ts';
import { checkRunId } from '../run-options.ts';
import { summaryText } from '../watch-run.ts';

/** `grantsweep status <runId>`: the run's state and counts so far. */
export async function statusCommand(io: CliIO, runId: string, flags: { json?: boolean }): Promise<ExitCode> {
  checkRunId(runId, 'runId');
  const ctx = await openContext(io, {});
  try {
    const meta = await ctx.store.requireMeta(runId);
    const counts = await ctx.store.getCounts(runId);
    await out(io, flags.json ? `${JSON.stringify(runSummary(meta, counts))}\n` : summaryText(meta, counts));
    return EXIT.ok;
  } finally {
    await ctx.resources.releaseAll();
  }
}
