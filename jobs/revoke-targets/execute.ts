/*
 * What one target asks of Okta, by kind (a single grant, a scope, one client, every grant of a
 * user, and their refresh tokens), and what its answers mean for the result: a 404 or an empty
 * listing after a try whose DELETE may have acted is this run's revocation (the lost-answer mark).
 * Okta's errors are thrown for on-failure.ts to classify.
 */
import pLimit from 'p-limit';
import type { OktaClient } from '../../src/okta/client.ts';
import { isUserNotFound, mayHaveActed, OktaApiError } from '../../src/okta/errors.ts';
import type { Grant } from '../../src/okta/types.ts';
import { RequestWithdrawn, RunStoppedError } from '../../src/queue/errors.ts';
import { evidenceAfter, type GrantEvidence, type TargetRecord, type TargetStatus } from '../../src/runs/record.ts';
import type { RunMeta } from '../../src/runs/run-meta.ts';

/** DELETEs sent at once inside one target (a --scope target's grants, a --tokens target's clients). */
const FAN_OUT = 4;

export interface Outcome {
  status: TargetStatus;
  grantsRevoked: number | null;
  grants: GrantEvidence[] | null;
  resolvedUserId: string | null;
  /** Only a target that revokes tokens (--tokens, no scope or grant) sets it. */
  tokensRevokedFor?: string[] | null;
  /** Okta's error behind a result that is not a failure (a grant already gone: its 404). */
  errorCode?: string | null;
  errorSummary?: string | null;
  errorId?: string | null;
}

/**
 * What the tries of a target did that the next one must not forget: a DELETE whose answer
 * was lost may have revoked what the next try no longer finds. Kept in the target's record
 * when a try fails (TargetRecord.revokeSent and .grants).
 */
export interface Prior {
  revokeSent: boolean;
  /** The grants listed so far (--snapshot, a dry run, --scope). */
  grants: GrantEvidence[] | null;
}

export type Ctx = Parameters<OktaClient['getUser']>[1];

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const g of it) out.push(g);
  return out;
}

/** Whether the user holds grants or refresh tokens for the client (GET …/users/{id}/clients lists both). */
async function holdsClient(client: OktaClient, userId: string, clientId: string, ctx: Ctx): Promise<boolean> {
  for await (const c of client.listUserClients(userId, ctx)) if (c.client_id === clientId) return true;
  return false;
}

/** An earlier run's targets taken for what it found them holding: its would_revoke and revoked results only. */
const foundHolding = (meta: RunMeta): boolean =>
  meta.source.kind === 'run' && (meta.source.results ?? []).length > 0 && meta.source.results!.every((r) => r === 'would_revoke' || r === 'revoked');

/** Whether a listing has an item: one page of one, not every page. */
async function holdsAny(it: AsyncIterable<unknown>): Promise<boolean> {
  for await (const _ of it) return true;
  return false;
}

/** What a listing shows of the grants in force: one Okta lists as REVOKED is nothing to revoke, nor evidence of a consent. */
const evidence = (grants: Grant[]): GrantEvidence[] =>
  grants.filter((g) => g.status === undefined || g.status === 'ACTIVE').map((g) => ({ id: g.id, clientId: g.clientId, scopeId: g.scopeId, created: g.created }));

/**
 * Whether the grant is of the scope named: by Okta's `scopeId` (an Okta API scope's name, a
 * custom scope's `scp…` id) or, with `expand=scope`, the embedded scope's id or name (Okta
 * has documented both shapes: docs/okta-api.md §1.3). A name matches that scope on every
 * authorization server the user consented to it on; an id, that one server's.
 */
export function scopeMatches(g: Grant, scope: string): boolean {
  return g.scopeId === scope || g._embedded?.scope?.id === scope || g._embedded?.scope?.name === scope;
}

/**
 * Sends a revocation and marks the target's lost-answer flag, unless the failure shows
 * Okta did nothing (a 4xx such as a 429, a stop before sending, a refused connection): a
 * grant that someone else revokes before the next try is then not counted as this run's.
 */
async function revoking(prior: Prior, send: () => Promise<void>): Promise<void> {
  try {
    await send();
  } catch (err) {
    // A failure of the token endpoint (POST) came before the DELETE left.
    const method = (err as { method?: string } | null)?.method;
    if (!(err instanceof RunStoppedError || err instanceof RequestWithdrawn) && (method === undefined || method === 'DELETE') && mayHaveActed(err)) prior.revokeSent = true;
    throw err;
  }
  prior.revokeSent = true;
}

/**
 * The values of a target's fan-out of DELETEs, or its first failure once every one has settled:
 * a DELETE still in flight when the try ends could revoke after its lost-answer mark was kept.
 */
async function settleAll<T>(requests: Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(requests);
  const failure = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) throw failure.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/** A 404 for a grant or a client that is not the user's own: the thing is gone, the user is not. */
const goneNotUser = (err: unknown): err is OktaApiError => err instanceof OktaApiError && err.kind === 'not_found' && !isUserNotFound(err);
const oktaError = (err: OktaApiError) => ({ errorCode: err.errorCode, errorSummary: err.errorSummary, errorId: err.errorId });

/**
 * What one target needs from Okta; throws Okta errors for the caller to classify. `prior`
 * carries what earlier tries listed and whether they sent a DELETE, and is updated here:
 * after a lost answer, what the next try no longer finds was revoked by this run.
 */
export async function execute(client: OktaClient, meta: RunMeta, rec: TargetRecord, ctx: Ctx, prior: Prior): Promise<Outcome> {
  const userId = rec.userId ?? rec.resolvedUserId ?? (await client.getUser(rec.login!, ctx)).id;
  const base = { resolvedUserId: rec.userId ? null : userId };
  const look = meta.snapshot || meta.dryRun;

  const grantId = rec.grantId;
  if (grantId) {
    const sentBefore = prior.revokeSent;
    // The grant is not there (a 404, or listed as REVOKED): revoked by an earlier try whose answer was lost, or already gone.
    const gone = (err: OktaApiError | null): Outcome =>
      sentBefore
        ? { ...base, status: 'revoked', grantsRevoked: 1, grants: look ? prior.grants ?? [] : null }
        : { ...base, status: 'nothing_to_revoke', grantsRevoked: 0, grants: look ? prior.grants ?? [] : null, ...(err ? oktaError(err) : {}) };
    if (look && !prior.grants) {
      try {
        const listed = evidence([await client.getUserGrant(userId, grantId, {}, ctx)]);
        if (listed.length === 0) return gone(null);
        prior.grants = listed;
      } catch (err) {
        if (goneNotUser(err)) return gone(err);
        throw err;
      }
    }
    if (meta.dryRun) return { ...base, status: 'would_revoke', grantsRevoked: null, grants: prior.grants };
    try {
      await revoking(prior, () => client.revokeUserGrant(userId, grantId, ctx));
    } catch (err) {
      if (goneNotUser(err)) return gone(err);
      throw err;
    }
    return { ...base, status: 'revoked', grantsRevoked: 1, grants: look ? prior.grants : null };
  }

  if (rec.scopeId) {
    // Listed whole and matched here: Okta's scopeId filter takes what grants hold, a custom
    // scope's id (scp…), where people name the scope (api:write); see scopeMatches.
    let listed = (await collect(client.listUserGrants(userId, { expand: 'scope', limit: 200 }, ctx))).filter((g) => scopeMatches(g, rec.scopeId!));
    if (rec.clientId) listed = listed.filter((g) => g.clientId === rec.clientId);
    const now = evidence(listed);
    // Listed by an earlier try whose DELETEs were sent, and no longer there: revoked by this run.
    const goneEarlier = prior.revokeSent ? (prior.grants ?? []).filter((g) => !now.some((n) => n.id === g.id)).length : 0;
    prior.grants = evidenceAfter(prior, now);
    const shown = meta.snapshot || meta.dryRun ? prior.grants : null;
    if (now.length === 0) {
      return goneEarlier > 0
        ? { ...base, status: 'revoked', grantsRevoked: goneEarlier, grants: shown }
        : { ...base, status: 'nothing_to_revoke', grantsRevoked: 0, grants: look ? [] : null };
    }
    if (meta.dryRun) return { ...base, status: 'would_revoke', grantsRevoked: null, grants: now };
    const limit = pLimit(FAN_OUT);
    const revokedNow = await settleAll(
      now.map((g) =>
        limit(() =>
          revoking(prior, () => client.revokeUserGrant(userId, g.id, ctx)).then(
            () => 1,
            (err: unknown) => {
              if (goneNotUser(err)) return 0;
              throw err;
            },
          ),
        ),
      ),
    );
    const n = revokedNow.reduce((a, b) => a + b, 0) + goneEarlier;
    return { ...base, status: n > 0 ? 'revoked' : 'nothing_to_revoke', grantsRevoked: n, grants: shown };
  }

  // One client's grants (an incident): one listing of the user's clients tells whether there
  // is anything to revoke. Most users of an org never used the app: one request for them, as a
  // blind DELETE would be, but the result is true (`nothing_to_revoke`, where Okta answers a
  // DELETE 204 either way), and a mistyped client id shows as nobody holding it.
  // Not for targets an earlier run found holding it (`--from-run` of would_revoke/revoked results).
  // With --tokens, a dry run or --snapshot looks this way first too: a non-holder then costs one
  // request, not a listing of grants and one of tokens.
  if (rec.clientId && (!look || meta.tokens) && !foundHolding(meta) && !(await holdsClient(client, userId, rec.clientId, ctx))) {
    const tokensRevokedFor = meta.tokens ? [] : null;
    // Gone after a DELETE of an earlier try whose answer was lost: this run revoked it.
    if (prior.revokeSent) return { ...base, status: 'revoked', grantsRevoked: null, grants: look ? prior.grants ?? [] : null, tokensRevokedFor };
    return { ...base, status: 'nothing_to_revoke', grantsRevoked: 0, grants: look ? [] : null, tokensRevokedFor };
  }
  let grants: GrantEvidence[] | null = null;
  if (look) {
    const now = evidence(await collect(
      rec.clientId ? client.listUserClientGrants(userId, rec.clientId, { limit: 200 }, ctx) : client.listUserGrants(userId, { limit: 200 }, ctx),
    ));
    // After a DELETE whose answer was lost, what the earlier try listed was revoked by this run, found now or not.
    grants = prior.grants = evidenceAfter(prior, now);
  }
  const none = grants !== null && grants.length === 0;
  if (!meta.tokens) {
    if (none) return { ...base, status: 'nothing_to_revoke', grantsRevoked: 0, grants: [] };
    if (meta.dryRun) return { ...base, status: 'would_revoke', grantsRevoked: null, grants };
  }
  if (!meta.dryRun && !none) {
    const clientId = rec.clientId;
    await revoking(prior, () => (clientId ? client.revokeUserClientGrants(userId, clientId, ctx) : client.revokeUserGrants(userId, ctx)));
  }
  const tokensRevokedFor = meta.tokens ? await revokeTokens(client, meta, rec, userId, ctx) : null;
  const some = !none || (tokensRevokedFor !== null && tokensRevokedFor.length > 0);
  return {
    ...base,
    status: !some ? 'nothing_to_revoke' : meta.dryRun ? 'would_revoke' : 'revoked',
    grantsRevoked: grants ? (meta.dryRun && !none ? null : grants.length) : null,
    grants,
    tokensRevokedFor,
  };
}

/**
 * --tokens: the user's refresh tokens for the target's client, or for every client, are
 * revoked after the grants (a call apart: whether revoking a grant revokes the tokens
 * minted with it is unconfirmed). Without a client, the clients come from
 * GET …/clients, which after the grants are gone lists those still holding tokens. A
 * dry run, and a client target with --snapshot, look first which clients hold any.
 * Returns the clients whose tokens were (or would be) revoked.
 */
async function revokeTokens(client: OktaClient, meta: RunMeta, rec: TargetRecord, userId: string, ctx: Ctx): Promise<string[]> {
  let clients = rec.clientId ? [rec.clientId] : (await collect(client.listUserClients(userId, ctx))).map((c) => c.client_id);
  const limit = pLimit(FAN_OUT);
  const unlessClientGone = async <T>(fn: () => Promise<T>): Promise<T | null> => {
    try {
      return await fn();
    } catch (err) {
      // A client the org no longer has holds no tokens; a user gone is the target's result.
      if (goneNotUser(err)) return null;
      throw err;
    }
  };
  if (meta.dryRun || (rec.clientId && meta.snapshot)) {
    const held = await Promise.all(
      clients.map((c) => limit(() => unlessClientGone(() => holdsAny(client.listUserClientTokens(userId, c, { limit: 1 }, ctx))))),
    );
    clients = clients.filter((_, i) => held[i] === true);
  }
  if (meta.dryRun) return clients;
  const done = await settleAll(clients.map((c) => limit(() => unlessClientGone(() => client.revokeUserClientTokens(userId, c, ctx).then(() => true)))));
  return clients.filter((_, i) => done[i] === true);
}
