import { hash, unit } from './hash.ts';
import { DEFAULT_STATUS_MIX, USER_STATUSES, type UserStatus } from './options.ts';

/** The distributions the seeded org draws from: user statuses and grants per user. */

/** Cumulative thresholds over USER_STATUSES; a partial mix means only the statuses named. */
export function statusThresholds(mix: Partial<Record<UserStatus, number>> | undefined): number[] {
  const weights = USER_STATUSES.map((s) => (mix ? (mix[s] ?? 0) : DEFAULT_STATUS_MIX[s]));
  const sum = weights.reduce((a, b) => a + b, 0) || 1;
  let acc = 0;
  return weights.map((w) => (acc += w / sum));
}

/** A number is a mean (spread ±2 around it), a pair an inclusive range. */
export function drawCount(spec: number | [number, number], h: number): number {
  const u = unit(h);
  if (Array.isArray(spec)) {
    const [lo, hi] = spec[0] <= spec[1] ? spec : [spec[1], spec[0]];
    return lo + Math.floor(u * (hi - lo + 1));
  }
  const base = Math.floor(spec);
  const spread = Math.min(base, 2);
  const extra = unit(mix(h)) < spec - base ? 1 : 0;
  return base - spread + Math.floor(u * (2 * spread + 1)) + extra;
}

function mix(h: number): number {
  return hash(h, 0x5bd1e995);
}
