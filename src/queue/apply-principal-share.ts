import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { PrivateKeyJwtAuth, type OktaAuth } from '../okta/auth.ts';
import type { ProxySettings } from '../okta/http.ts';
import { PRINCIPAL_LIMITS_SCOPE, readPrincipalShare } from '../okta/principal-share.ts';
import { credentialFields, orgKeys } from '../redis/keys.ts';
import type { SharedBudget } from './budget.ts';

/** How long a share read from Okta holds at least: a process that stops reading it (gone) stops holding it. */
const HOLD_MS = 6 * 3_600_000;
/** After a refused read, how long no process of the org asks again. */
const REFUSED_MS = 24 * 3_600_000;
/** What this process last read, per org and credential: a `run` reads it once for its listing and its worker. */
const lastRead = new Map<string, { at: number; percent: number | null }>();

export interface PrincipalShareOptions {
  redis: Redis;
  budget: SharedBudget;
  orgKey: string;
  orgUrl: string;
  /** The process's credential, with these scopes: only a service app's is read. */
  auth: (scopes: string[]) => OktaAuth;
  proxy?: ProxySettings | null;
  timeoutMs: number;
  log: Logger;
  /** Read again only when the last read is older than this (default: once per process). */
  maxAgeMs?: number;
  /** How often a long-lived process reads it again: the share holds for twice that at least. */
  refreshMs?: number;
}

/**
 * Reads a service app's principal rate limit and sets it on the budget before its first
 * request (`run`, `worker`, a directory listing). A refused token request is a failed grant
 * in the org's System Log: after one, no process of the org asks again for a day.
 */
export async function applyPrincipalShare(o: PrincipalShareOptions): Promise<void> {
  const memo = `${o.orgKey}\n${o.budget.credential}`;
  const last = lastRead.get(memo);
  if (last && Date.now() - last.at < (o.maxAgeMs ?? Infinity)) return;
  // An API token cannot read its own (its principal id is the token's id, which it does not know).
  const auth = o.auth([PRINCIPAL_LIMITS_SCOPE]);
  if (!(auth instanceof PrivateKeyJwtAuth)) return;
  const refusals = orgKeys(o.orgKey).org;
  const field = credentialFields(o.budget.credential).shareRefusedUntil;
  if (Number((await o.redis.hget(refusals, field)) ?? 0) > Date.now()) return;
  const share = await readPrincipalShare({ orgUrl: o.orgUrl, clientId: auth.clientId, auth, proxy: o.proxy, timeoutMs: o.timeoutMs });
  if ('percent' in share) {
    const cap = await o.budget.setCredentialShare(share.percent / 100, Math.max(HOLD_MS, 2 * (o.refreshMs ?? 0)));
    lastRead.set(memo, { at: Date.now(), percent: share.percent });
    // Said once, and again when an admin changes it.
    o.log[last?.percent === share.percent ? 'debug' : 'info'](
      { principalPercent: share.percent, capPercent: Math.round(cap * 1000) / 10 },
      `Okta lets this service app use ${share.percent} % of each bucket (its principal rate limit): every run with it keeps under ${Math.round(cap * 1000) / 10} %`,
    );
    return;
  }
  if (share.none) {
    // No entry (any more): Okta's default applies, learned from a 429 as for a token.
    await o.budget.clearCredentialShare();
    lastRead.set(memo, { at: Date.now(), percent: null });
    if (last?.percent) o.log.info({ principalPercent: null }, `this service app has no principal rate limit of its own any more (it had ${last.percent} %): a cap is learned from Okta's 429s`);
    return;
  }
  if (share.refused) await o.redis.hset(refusals, field, Date.now() + REFUSED_MS);
  o.log.debug({ reason: share.unknown }, "this service app's principal rate limit is unknown: a cap is learned from Okta's 429s");
}

/**
 * A long-lived process (a worker for days, a run of hours) reads the share again every
 * `refreshMs`, so that an admin's change holds without a restart. Returns the stop.
 */
export function keepPrincipalShare(o: PrincipalShareOptions & { refreshMs: number }): () => void {
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    applyPrincipalShare({ ...o, maxAgeMs: 0 })
      .catch((err: unknown) => o.log.debug({ err: (err as Error).message }, "reading the service app's principal rate limit again failed: the share read before holds"))
      .finally(() => (busy = false));
  }, o.refreshMs);
  timer.unref();
  return () => clearInterval(timer);
}
