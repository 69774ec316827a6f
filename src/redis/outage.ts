import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';

interface Limit {
  ms: number;
  onGiveUp: (ms: number) => void;
  timer?: NodeJS.Timeout;
}

/** While the connection is up, a PING this often… */
export const HEARTBEAT_MS = 2_000;
/**
 * …and one left unanswered this long is an outage too: a Redis that keeps the connection
 * open and never answers (a network black hole, a frozen or paused server) raises no
 * error in ioredis, and every command would wait for ever.
 */
export const STALL_MS = 5_000;

/**
 * Watches one connection for an outage: a warning when it is lost or stops answering,
 * one when it is back, and, for a caller that set a limit, a call when an outage has
 * lasted longer than it. 'reconnecting', not 'close', starts a lost connection's outage:
 * a quit at a command's end closes without reconnecting.
 */
export class OutageWatch {
  #since: number | null = null;
  /** What the current outage is: the connection lost, or open and silent. */
  #cause: 'lost' | 'silent' | null = null;
  readonly #limits: Limit[] = [];
  /** When the heartbeat PING still unanswered was sent. */
  #pingAt: number | null = null;
  readonly #heartbeat: NodeJS.Timeout;

  constructor(
    private readonly redis: Redis | Cluster,
    private readonly log: Logger,
  ) {
    redis.on('reconnecting', () => {
      // A silent Redis that then drops the connection is the same outage, from its start.
      if (this.#cause === 'silent') this.#cause = 'lost';
      else this.#begin('lost', Date.now(), 'Redis connection lost: waiting for it to come back (results are kept in Redis; nothing is lost)');
    });
    redis.on('ready', () => {
      this.#pingAt = null;
      this.#end();
    });
    this.#heartbeat = setInterval(() => this.#beat(), HEARTBEAT_MS).unref();
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

  /** Stops the heartbeat (the connection is being closed). */
  stop(): void {
    clearInterval(this.#heartbeat);
    for (const l of this.#limits) clearTimeout(l.timer);
  }

  #beat(): void {
    const now = Date.now();
    if (this.#pingAt !== null) {
      if (this.#since === null && now - this.#pingAt >= STALL_MS) {
        this.#begin('silent', this.#pingAt, `Redis is not answering (the connection is open; no reply for ${Math.round((now - this.#pingAt) / 1000)} s): waiting for it`);
      }
      return;
    }
    if (this.redis.status !== 'ready') return;
    const sent = now;
    this.#pingAt = sent;
    this.redis.ping().then(
      () => {
        if (this.#pingAt !== sent) return;
        this.#pingAt = null;
        if (this.#cause === 'silent') this.#end();
      },
      // A lost connection fails its commands: 'reconnecting' tells that outage.
      () => {
        if (this.#pingAt === sent) this.#pingAt = null;
      },
    );
  }

  #begin(cause: 'lost' | 'silent', since: number, warning: string): void {
    if (this.#since !== null) return;
    this.#since = since;
    this.#cause = cause;
    this.log.warn(warning);
    for (const l of this.#limits) this.#arm(l);
  }

  #end(): void {
    if (this.#since === null) return;
    const cause = this.#cause;
    this.#since = null;
    this.#cause = null;
    for (const l of this.#limits) clearTimeout(l.timer);
    this.log.warn(cause === 'silent' ? 'Redis is answering again' : 'Redis connection is back');
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
