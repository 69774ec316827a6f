import { readPaceChange } from '../../../config/pace-change.ts';
import { EXIT, type ExitCode } from '../../errors.ts';
import { paceRun } from '../../queue/run-actions.ts';
import { openContext } from '../context.ts';
import { out, type CliIO } from '../io.ts';
import { checkRunId } from '../run-options.ts';

/** `grantsweep pace <runId> --rate-share F [--pacing even|window]`: a running run's pace, changed without a restart. */
export async function paceCommand(io: CliIO, runId: string, flags: { rateShare?: string; pacing?: string; json?: boolean }): Promise<ExitCode> {
  checkRunId(runId, 'runId');
  // The flags only: the environment's defaults (GRANTSWEEP_RATE_SHARE) change nothing here.
  const change = readPaceChange(flags, 'flags');
  const ctx = await openContext(io, {});
  try {
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
