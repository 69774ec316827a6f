import { EXIT, type ExitCode } from '../../errors.ts';
import { SharedBudget } from '../../queue/budget.ts';
import { openContext } from '../context.ts';
import { out, type CliIO } from '../io.ts';
import { checkRunId } from '../run-options.ts';

/** `grantsweep cancel <runId>`: once this returns, no process makes a new Okta request for the run. */
export async function cancelCommand(io: CliIO, runId: string): Promise<ExitCode> {
  checkRunId(runId, 'runId');
  const ctx = await openContext(io, {});
  try {
    const meta = await ctx.store.requireMeta(runId);
    if (meta.state === 'completed') {
      await out(io, `run ${runId} had already completed\n`);
      return EXIT.ok;
    }
    // The budget refuses the run's requests first; then the run is marked.
    await new SharedBudget(ctx.redis, { orgKey: meta.orgKey, maxInFlight: 1, leaseMs: 1 }).stopRun(runId, 'cancelled');
    const state = await ctx.store.stopRun(runId, 'cancelled', 'cancelled by `grantsweep cancel`');
    await out(io, `run ${runId}: ${state}\n`);
    return EXIT.ok;
  } finally {
    await ctx.resources.releaseAll();
  }
}
