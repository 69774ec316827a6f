/**
 * Integer hashing and a seeded PRNG. Everything the simulator generates is a pure
 * function of (seed, index), so a million users cost no memory until they are read.
 */

export const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** 32-bit avalanche mix (lowbias32): cheap, and good enough to look random. */
export function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** Hash of a seed and up to three integers; inputs above 2^32 are folded in two halves. */
export function hash(seed: number, a: number, b = 0, c = 0): number {
  let h = mix32(seed ^ 0x9e3779b9);
  h = mix32(h ^ (a >>> 0)) ^ mix32(Math.floor(a / 0x100000000) + 0x85ebca6b);
  h = mix32(h ^ (b >>> 0) ^ 0xc2b2ae35);
  h = mix32(h ^ (c >>> 0) ^ 0x27d4eb2f);
  return h >>> 0;
}

/** Uniform float in [0, 1) from a hash. */
export function unit(h: number): number {
  return h / 0x100000000;
}

/** Seeded mulberry32: a reproducible stream of floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x100000000;
  };
}

/** Non-reproducible base62 string for request and error ids (they need no determinism). */
export function randomBase62(length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += BASE62[Math.floor(Math.random() * 62)];
  return out;
}

const idPrefix = randomBase62(12);
let idCounter = 0;
/**
 * Unique per-request ids (`req…`, `oae…`): a random per-process prefix and a
 * counter, cheaper than fresh randomness on the hot path.
 */
export function uniqueId(prefix: string): string {
  return `${prefix}${idPrefix}${(idCounter++).toString(36).padStart(10, '0')}`;
}

/** Secret-grade base62 string for tokens. */
export function secureBase62(length: number, bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < length; i++) out += BASE62[(bytes[i] ?? 0) % 62];
  return out;
}
