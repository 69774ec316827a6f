import type { ExitCode } from '../../errors.ts';
import type { CliIO } from '../io.ts';
import { processHere } from '../process-here.ts';
import type { RunFlags } from '../run-options.ts';
import { startRun } from '../start-run.ts';

/** `grantsweep run`: enqueue a run and process it here until every target is final. */
export async function runCommand(io: CliIO, flags: RunFlags): Promise<ExitCode> {
  const { ctx, result, scopes } = await startRun(io, flags);
  try {
    return await processHere(ctx, result.runId, { scopes });
  } finally {
    await ctx.resources.releaseAll();
  }
}
