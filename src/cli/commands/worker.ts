import { EXIT, type ExitCode } from '../../errors.ts';
import { openContext } from '../context.ts';
import { onSignals, startHost } from '../host.ts';
import { err, type CliIO } from '../io.ts';

/** `grantsweep worker`: process queued runs of the org until SIGTERM/SIGINT. */
export async function workerCommand(io: CliIO, flags: { concurrency?: string }): Promise<ExitCode> {
  const ctx = await openContext(io, flags, { okta: true, credentials: true });
  try {
    const host = startHost(ctx, {
      scopes: ['okta.users.read', 'okta.users.manage'],
    });
    ctx.log.info({ concurrency: ctx.config.concurrency }, 'worker started');
    await new Promise<void>((resolve) => {
      const off = onSignals(
        () => {
          err(io, 'stopping: finishing the requests in flight (again to stop at once)\n');
          void host.close().then(() => {
            off();
            resolve();
          });
        },
        () => {
          err(io, 'stopping now: targets in flight return to the queue for the other workers\n');
          void host.close(true).finally(() => {
            off();
            resolve();
          });
        },
      );
    });
    return EXIT.ok;
  } finally {
    await ctx.resources.releaseAll();
  }
}
