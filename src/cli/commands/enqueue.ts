import { EXIT, type ExitCode } from '../../errors.ts';
import { out, type CliIO } from '../io.ts';
import type { RunFlags } from '../run-options.ts';
import { startRun } from '../start-run.ts';

/** `grantsweep enqueue`: store the run for a fleet of workers; prints the run id alone. */
export async function enqueueCommand(io: CliIO, flags: RunFlags): Promise<ExitCode> {
  const { ctx, result } = await startRun(io, flags);
  try {
    await out(io, `${result.runId}\n`);
    return EXIT.ok;
  } finally {
    await ctx.resources.releaseAll();
  }
}
