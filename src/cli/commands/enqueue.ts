import { EXIT, UsageError, type ExitCode } from '../../errors.ts';
import { out, type CliIO } from '../io.ts';
import type { RunFlags } from '../run-options.ts';
import { startRun } from '../start-run.ts';

/** `grantsweep enqueue`: store the run for a fleet of workers; prints the run id alone. */
export async function enqueueCommand(io: CliIO, flags: RunFlags): Promise<ExitCode> {
  // Said, not ignored: the requests are the workers' to make.
  if (flags.concurrency !== undefined) throw new UsageError('--concurrency: enqueue makes no revocation; set it on the workers (grantsweep worker --concurrency N)');
  const { ctx, result } = await startRun(io, flags);
  try {
    await out(io, `${result.runId}\n`);
    return EXIT.ok;
  } finally {
    await ctx.resources.releaseAll();
  }
}
