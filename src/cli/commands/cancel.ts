import { EXIT, type ExitCode } from '../../errors.ts';
import { cancelRun } from '../../queue/run-actions.ts';
import { openContext } from '../context.ts';
import { out, type CliIO } from '../io.ts';
import { checkRunId } from '../run-options.ts';

/** `grantsweep cancel <runId>`: once this returns, no process makes a new Okta request for the run. */
export async function cancelCommand(io: CliIO, runId: string, flags: { json?: boolean } = {}): Promise<ExitCode> {
  checkRunId(runId, 'runId');
  const ctx = await openContext(io, {});
  try {
    const { state, alreadyCompleted } = await cancelRun(ctx.redis, ctx.store, runId, 'cancelled by `grantsweep cancel`');
    if (flags.json) await out(io, `${JSON.stringify({ runId, state, alreadyCompleted })}\n`);
    else await out(io, alreadyCompleted ? `run ${runId} had already completed\n` : `run ${runId}: ${state}\n`);
    return EXIT.ok;
  } finally {
    await ctx.resources.releaseAll();
  }
}
