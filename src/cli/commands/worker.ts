import { EXIT, HaltError, type ExitCode } from '../../errors.ts';
import { parsePort } from '../../listen.ts';
import { REVOKE_SCOPES } from '../../okta/auth.ts';
import { startMetricsServer } from '../../metrics/server.ts';
import { WorkerMetrics } from '../../metrics/worker-metrics.ts';
import { redisAnswers } from '../../redis/connection.ts';
import { openContext } from '../context.ts';
import { startHost } from '../host.ts';
import { giveUpOnOutage, onSignals } from '../stopping.ts';
import { err, type CliIO } from '../io.ts';

/** `grantsweep worker`: process queued runs of the org until SIGTERM/SIGINT. */
export async function workerCommand(
  io: CliIO,
  flags: { concurrency?: string; metricsPort?: string; metricsHost?: string },
): Promise<ExitCode> {
  const { metricsPort, metricsHost, ...rest } = flags;
  const port = metricsPort === undefined ? null : parsePort('--metrics-port', metricsPort);
  const ctx = await openContext(io, rest, { okta: true, credentials: true });
  try {
    const metrics = port === null ? undefined : new WorkerMetrics();
    let stopping = false;
    if (metrics && port !== null) {
      const server = await startMetricsServer({
        metrics,
        host: metricsHost ?? '127.0.0.1',
        port,
        health: async () => {
          if (stopping) return 'stopping';
          return (await redisAnswers(ctx.redis)) ? null : 'Redis does not answer';
        },
      });
      ctx.resources.add('metrics server', server, (s) => s.close());
      err(io, `metrics: ${server.url}/metrics (health: ${server.url}/healthz)\n`);
    }
    // After the metrics server: a port in use stops the worker before it takes any work.
    const host = await startHost(ctx, {
      scopes: [...REVOKE_SCOPES],
      metrics,
      schedules: true,
    });
    ctx.log.info({ concurrency: ctx.config.concurrency }, 'worker started');
    // A worker waits for a lost Redis for ever unless GRANTSWEEP_REDIS_OUTAGE_MS sets a limit: its supervisor decides.
    const outage = giveUpOnOutage(ctx, host, 0, (why) => `${why}. The targets it held stay pending in Redis for the other workers`);
    let off = () => {};
    const stopped = new Promise<void>((resolve) => {
      off = onSignals(
        () => {
          stopping = true;
          err(io, 'stopping: finishing the requests in flight (again to stop at once)\n');
          void host.close().then(resolve);
        },
        () => {
          err(io, 'stopping now: targets in flight return to the queue for the other workers\n');
          void host.close(true).finally(resolve);
        },
      );
    });
    // Okta refusing this process's own settings, for a run others can go on with: exit 3, the reason said
    // (also when a signal comes while it closes: the refusal is why it stopped).
    let refusal: string | null = null;
    const refused = host.refusedHere.then(async (reason) => {
      refusal = reason;
      await host.close();
      throw new HaltError(reason);
    });
    try {
      await Promise.race([stopped, outage.gaveUp, refused]);
    } finally {
      off();
      outage.off();
    }
    if (refusal !== null) throw new HaltError(refusal);
    return EXIT.ok;
  } finally {
    await ctx.resources.releaseAll();
  }
}
