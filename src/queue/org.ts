import { createHash } from 'node:crypto';

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
