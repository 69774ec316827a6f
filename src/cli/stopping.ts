import { EXIT, HaltError } from '../errors.ts';
import type { WorkerHost } from '../queue/worker-host.ts';
import { abandonConnection } from '../redis/connection.ts';
import type { CliContext } from './context.ts';

// How a command stops: on a signal, or when Redis stays away. Apart from host.ts so that a
// command that only stores a run (enqueue) does not load BullMQ and the Okta client with it.

/** How long `run`, `enqueue` and `retry --wait` wait for a lost Redis unless GRANTSWEEP_REDIS_OUTAGE_MS says otherwise. */
export const RUN_OUTAGE_MS = 300_000;

/**
 * SIGINT/SIGTERM: the first finishes what is in flight and stops; the second stops at
 * once (targets in flight return to the queue when their lock expires).
 */
export function onSignals(first: () => void, second: () => void): () => void {
  let count = 0;
  const handler = () => {
    count++;
    if (count === 1) return first();
    second();
    // "At once" holds even when stopping cannot finish (Redis unreachable): whatever
    // the process had in flight returns to the queue when its lock expires.
    if (count === 2) setTimeout(() => process.exit(EXIT.failures), 3_000).unref();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

/**
 * Gives up on a Redis that stays away longer than GRANTSWEEP_REDIS_OUTAGE_MS (else
 * `defaultMs`; 0: never): stops `host` at once, as a second Ctrl-C does, and cuts this
 * process's connections so that nothing waits on them any more; then `gaveUp` rejects
 * with a HaltError (exit 3) whose message `say` completes. Nothing is lost: results
 * already recorded stay in Redis's append-only file, and the targets in flight are
 * pending there, for the next worker. `off` ends the watch.
 */
export function giveUpOnOutage(
  ctx: CliContext,
  host: WorkerHost | null,
  defaultMs: number,
  say: (why: string) => string,
): { gaveUp: Promise<never>; off: () => void } {
  let off = () => {};
  const gaveUp = new Promise<never>((_, reject) => {
    off =
      ctx.outage?.giveUpAfter(ctx.config.redisOutageMs ?? defaultMs, (ms) => {
        void host?.abandon();
        abandonConnection(ctx.redis);
        reject(new HaltError(say(`Redis has been unreachable for ${ms / 1000} s (GRANTSWEEP_REDIS_OUTAGE_MS): gave up`)));
      }) ?? off;
  });
  gaveUp.catch(() => {}); // raced by the caller; never left unhandled
  return { gaveUp, off };
}
