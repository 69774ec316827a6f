import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

interface Limit {
  ms: number;
  onGiveUp: (ms: number) => void;
  timer?: NodeJS.Timeout;
}

/**
 * Watches one connection for an outage: a warning when it is lost, one when it is back,
 * and, for a caller that set a limit, a call when an outage has lasted longer than it.
 * 'reconnecting', not 'close', starts an outage: a quit at a command's end closes
 * without reconnecting.
 */
export class OutageWatch {
  #since: number | null = null;
  readonly #limits: Limit[] = [];

  constructor(redis: Redis, private readonly log: Logger) {
    redis.on('reconnecting', () => {
      if (this.#since !== null) return;
      this.#since = Date.now();
      log.warn('Redis connection lost: waiting for it to come back (results are kept in Redis; nothing is lost)');
      for (const l of this.#limits) this.#arm(l);
    });
    redis.on('ready', () => {
      if (this.#since === null) return;
      this.#since = null;
      for (const l of this.#limits) clearTimeout(l.timer);
      log.warn('Redis connection is back');
    });
  }

  /** Calls `onGiveUp` once an outage has lasted `ms` (0: never); returns the unsubscribe. */
  giveUpAfter(ms: number, onGiveUp: (ms: number) => void): () => void {
    if (ms <= 0) return () => {};
    const l: Limit = { ms, onGiveUp };
    this.#limits.push(l);
    if (this.#since !== null) this.#arm(l);
    return () => {
      clearTimeout(l.timer);
      this.#limits.splice(this.#limits.indexOf(l), 1);
    };
  }

  #arm(l: Limit): void {
    clearTimeout(l.timer);
    const left = Math.max(0, l.ms - (Date.now() - (this.#since ?? Date.now())));
    l.timer = setTimeout(() => {
      this.log.error({ outageMs: l.ms }, 'Redis unreachable for too long: giving up');
      l.onGiveUp(l.ms);
    }, left);
  }
}
