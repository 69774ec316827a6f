import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { scanKeys } from '../redis/scan.ts';
import { queuePrefix } from '../redis/keys.ts';

/**
 * One queue and one budget per Okta org: each org's rate limits are its own.
 * The org key is a short hash of the org's origin, so that no URL lands in a key name.
 */
export function orgKeyOf(orgUrl: string): string {
  return createHash('sha1').update(new URL(orgUrl).origin.toLowerCase()).digest('hex').slice(0, 12);
}

export function queueNameOf(orgKey: string): string {
  return `org-${orgKey}`;
}

/** What `orgKeyOf` makes: the only org keys a queue name may carry. */
export const ORG_KEY = /^[0-9a-f]{1,40}$/;

/**
 * The orgs whose queue BullMQ has written (its meta key), on every master of a cluster:
 * the queues of orgs no configuration names any more included.
 */
export async function orgKeysWithQueues(redis: Redis): Promise<string[]> {
  const head = `${queuePrefix}:${queueNameOf('')}`;
  const keys = await scanKeys(redis, `${head}*:meta`);
  return keys.map((k) => k.slice(head.length, -':meta'.length)).filter((k) => ORG_KEY.test(k));
}
