import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { PrivateKeyJwtAuth, type OktaAuth } from '../okta/auth.ts';
import type { ProxySettings } from '../okta/http.ts';
import { PRINCIPAL_LIMITS_SCOPE, readPrincipalShare } from '../okta/principal-share.ts';
import { orgKeys } from '../runs/keys.ts';
import type { SharedBudget } from './budget.ts';

/** How long a share read from Okta holds before the runs try their own again (each start reads it anew). */
const HOLD_MS = 6 * 3_600_000;
/** After a refused read, how long no process of the org asks again. */
const REFUSED_MS = 24 * 3_600_000;
/** Shares this process has read and set: a `run` reads it once for its listing and its worker. */
const applied = new Set<string>();

/**
 * Reads a service app's principal rate limit and sets it on the budget before its first
 * request (`run`, `worker`, a directory listing). A refused token request is a failed grant
 * in the org's System Log: after one, no process of the org asks again for a day.
 */
export async function applyPrincipalShare(o: {
  redis: Redis;
  budget: SharedBudget;
  orgKey: string;
  orgUrl: string;
  /** The process's credential, with these scopes: only a service app's is read. */
  auth: (scopes: string[]) => OktaAuth;
  proxy?: ProxySettings | null;
  timeoutMs: number;
  log: Logger;
}): Promise<void> {
  const memo = `${o.orgKey}\n${o.budget.credential}`;
  if (applied.has(memo)) return;
  // An API token cannot read its own (its principal id is the token's id, which it does not know).
  const auth = o.auth([PRINCIPAL_LIMITS_SCOPE]);
  if (!(auth instanceof PrivateKeyJwtAuth)) return;
  const refusals = orgKeys(o.orgKey).org;
  const field = `principalShareRefused:${o.budget.credential}`;
  if (Number((await o.redis.hget(refusals, field)) ?? 0) > Date.now()) return;
  const share = await readPrincipalShare({ orgUrl: o.orgUrl, clientId: auth.clientId, auth, proxy: o.proxy, timeoutMs: o.timeoutMs });
  if ('percent' in share) {
    const cap = await o.budget.setCredentialShare(share.percent / 100, HOLD_MS);
    applied.add(memo);
    o.log.info(
      { principalPercent: share.percent, capPercent: Math.round(cap * 1000) / 10 },
      `Okta lets this service app use ${share.percent} % of each bucket (its principal rate limit): every run with it keeps under ${Math.round(cap * 1000) / 10} %`,
    );
    return;
  }
  if (share.refused) await o.redis.hset(refusals, field, Date.now() + REFUSED_MS);
  o.log.debug({ reason: share.unknown }, "this service app's principal rate limit is unknown: a cap is learned from Okta's 429s");
}
