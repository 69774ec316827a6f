import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { callScript, defineScripts } from './scripts.ts';

const SCRIPTS = fileURLToPath(new URL('./scripts', import.meta.url));

/** Deletes the lock only if `token` still holds it: one that expired and was taken by another holder stays theirs. */
export async function releaseOwnLock(redis: Redis, key: string, token: string): Promise<void> {
  defineScripts(redis, SCRIPTS);
  await callScript(redis, 'releaseLock', [key], [token]);
}

/**
 * Runs `fn` holding the lock `key` (SET NX PX `ttlMs`, so a holder that dies frees it), after
 * waiting up to `waitMs` for it; `busy` is the error when it stays taken.
 */
export async function withLock<T>(redis: Redis, key: string, opts: { ttlMs: number; waitMs: number; busy: () => Error }, fn: () => Promise<T>): Promise<T> {
  const token = randomUUID();
  const giveUpAt = Date.now() + opts.waitMs;
  while ((await redis.set(key, token, 'PX', opts.ttlMs, 'NX')) !== 'OK') {
    if (Date.now() > giveUpAt) throw opts.busy();
    await new Promise((r) => setTimeout(r, 20));
  }
  try {
    return await fn();
  } finally {
    await releaseOwnLock(redis, key, token).catch(() => {});
  }
}
