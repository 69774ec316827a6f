import { EXIT, UsageError, type ExitCode } from '../../errors.ts';
import { retryFailed } from '../../queue/run-actions.ts';
import { openContext } from '../context.ts';
import { err, type CliIO } from '../io.ts';
import { checkRunId } from '../run-options.ts';

/**
 * `grantsweep retry <runId>`: put the failed targets back (and, for a halted or
 * cancelled run, the ones it left pending), then with --wait process them here.
 */
export async function retryCommand(io: CliIO, runId: string, flags: { wait?: boolean; concurrency?: string }): Promise<ExitCode> {
  checkRunId(runId, 'runId');
  const ctx = await openContext(io, flags, { okta: !!flags.wait, credentials: !!flags.wait });
  try {
    const meta = await ctx.store.requireMeta(runId);
    if (flags.wait && ctx.config.orgUrl && new URL(ctx.config.orgUrl).origin !== meta.orgUrl) {
      throw new UsageError(`run ${runId} belongs to ${meta.orgUrl}, but OKTA_ORG_URL is ${ctx.config.orgUrl}`);
    }
    const { requeued: n } = await retryFailed(ctx.redis, ctx.store, runId);
    err(io, `${n} targets of ${runId} requeued\n`);
    if (!flags.wait) return EXIT.ok;
    // Imported here: only --wait runs a worker (BullMQ, the Okta client); a plain retry writes to Redis alone.
    const { processHere } = await import('../process-here.ts');
    return await processHere(ctx, runId);
  } finally {
    await ctx.resources.releaseAll();
  }
}
