import { seededRandom } from './hash.ts';
import type { FaultConfig } from './options.ts';

/**
 * Seeded fault decisions, drawn once per counted request in arrival order, so a
 * test that sends requests one at a time sees the same faults on every run.
 * 5xx answers are given before the handler runs (nothing changed); resets and slow
 * answers happen after it ran, which is the case that tests a client's idempotency:
 * the revoke took effect but the caller never heard.
 */

export type FaultKind = 'none' | 'error500' | 'error503' | 'reset' | 'slow' | 'limit429';

export interface FaultDecision {
  kind: FaultKind;
  /** Delay before answering (latency, plus slowMs for slow answers). */
  delayMs: number;
}

export class FaultInjector {
  private random: () => number;

  constructor(private readonly config: () => FaultConfig) {
    this.random = seededRandom(config().seed);
  }

  /** Restart the sequence (after a config change or a sim reset). */
  reseed(): void {
    this.random = seededRandom(this.config().seed);
  }

  draw(method: string): FaultDecision {
    const f = this.config();
    const limit = f.limitRate ?? 0;
    const none = (f.errorRate === 0 && f.resetRate === 0 && f.slowRate === 0 && limit === 0) || (f.methods != null && !f.methods.includes(method));
    if (none) return { kind: 'none', delayMs: f.latencyMs };
    // Its own draw, so that adding it leaves the other faults' seeded sequence as it was.
    if (limit > 0 && this.random() < limit) return { kind: 'limit429', delayMs: f.latencyMs };
    const r = this.random();
    if (r < f.errorRate) return { kind: this.random() < 0.5 ? 'error500' : 'error503', delayMs: f.latencyMs };
    if (r < f.errorRate + f.resetRate) return { kind: 'reset', delayMs: f.latencyMs };
    if (r < f.errorRate + f.resetRate + f.slowRate) return { kind: 'slow', delayMs: f.latencyMs + f.slowMs };
    return { kind: 'none', delayMs: f.latencyMs };
  }
}
