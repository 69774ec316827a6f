import { EXIT, UsageError, type ExitCode } from '../../errors.ts';
import { retryFailed, retrySaid } from '../../queue/run-actions.ts';
import { openContext } from '../context.ts';
import { err, out, type CliIO } from '../io.ts';
import { checkRunId } from '../run-options.ts';

/**
 * `grantsweep retry <runId>`: put the failed targets back (and, for a halted or
 * cancelled run, the ones it left pending), then with --wait process them here.
 */
export async function retryCommand(io: CliIO, runId: string, flags: { wait?: boolean; concurrency?: string; json?: boolean }): Promise<ExitCode> {
  checkRunId(runId, 'runId');
  if (flags.json && flags.wait) throw new UsageError('--json: retry without --wait prints one JSON object; with --wait the summary is the run\'s, as with run');
  if (flags.concurrency !== undefined && !flags.wait) throw new UsageError('--concurrency: only with --wait (this process then does the requests); a worker sets its own');
  const ctx = await openContext(io, flags, { okta: !!flags.wait, credentials: !!flags.wait });
  try {
    const meta = await ctx.store.requireMeta(runId);
    if (flags.wait && ctx.config.orgUrl && new URL(ctx.config.orgUrl).origin !== meta.orgUrl) {
      throw new UsageError(`run ${runId} belongs to ${meta.orgUrl}, but OKTA_ORG_URL is ${ctx.config.orgUrl}`);
    }
    const r = await retryFailed(ctx.redis, ctx.store, runId);
    const said = retrySaid(runId, r);
    if (flags.wait) err(io, `${said}\n`);
    else if (flags.json) await out(io, `${JSON.stringify({ runId, requeued: r.requeued, resumed: r.resumed, pending: r.pending })}\n`);
    else await out(io, `${said}: the org's workers take them up (\`grantsweep status ${runId} --watch\`); --wait processes them here\n`);
    if (!flags.wait) return EXIT.ok;
    // Imported here: only --wait runs a worker (BullMQ, the Okta client); a plain retry writes to Redis alone.
    const { processHere } = await import('../process-here.ts');
    return await processHere(ctx, runId);
  } finally {
    await ctx.resources.releaseAll();
  }
}
