import { EXIT, UsageError, type ExitCode } from '../../errors.ts';
import { paceRun } from '../../queue/run-actions.ts';
import { openContext } from '../context.ts';
import { out, type CliIO } from '../io.ts';
import { checkRunId } from '../run-options.ts';

/** `grantsweep pace <runId> --rate-share F [--pacing even|window]`: a running run's pace, changed without a restart. */
export async function paceCommand(io: CliIO, runId: string, flags: { rateShare?: string; pacing?: string; json?: boolean }): Promise<ExitCode> {
  checkRunId(runId, 'runId');
  if (flags.rateShare === undefined && flags.pacing === undefined) {
    throw new UsageError('pace: give --rate-share F (0 < F <= 1), --pacing even|window, or both');
  }
  // Validated as `run` validates them (the flags only: the environment's defaults change nothing here).
  const ctx = await openContext(io, { rateShare: flags.rateShare, pacing: flags.pacing });
  try {
    const change = {
      rateShare: flags.rateShare !== undefined ? ctx.config.rateShare : undefined,
      pacing: flags.pacing !== undefined ? ctx.config.pacing : undefined,
    };
    const r = await paceRun(ctx.store, runId, change);
    if (flags.json) {
      await out(io, `${JSON.stringify({ runId, ...r })}\n`);
    } else {
      const later = r.state === 'running' || r.state === 'queued' ? 'its workers take it up within a few seconds' : `it holds when a \`retry\` resumes it`;
      await out(io, `run ${runId} (${r.state}): rate share ${r.before.rateShare} → ${r.after.rateShare}, pacing ${r.before.pacing} → ${r.after.pacing}; ${later}\n`);
    }
    return EXIT.ok;
  } finally {
    await ctx.resources.releaseAll();
  }
}
