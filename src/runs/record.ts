import type { TargetInput } from '../sources/target.ts';

/**
 * One target and its result, as stored in the run's targets hash: a JSON array,
 * because a million of them must fit in a small Redis (well under 200 bytes for a
 * finished result). `toRedis`/`fromRedis` are the only code that knows the layout;
 * the Lua scripts read the status code at index STATUS_INDEX (1-based: STATUS_INDEX + 1):
 * 0 pending, 6 failed.
 */
export const STATUSES = [
  'pending',
  'revoked',
  'would_revoke',
  'nothing_to_revoke',
  'user_not_found',
  'invalid',
  'failed',
] as const;
export type TargetStatus = (typeof STATUSES)[number];
export const FINAL_STATUSES = STATUSES.filter((s) => s !== 'pending');

export interface GrantEvidence {
  id: string;
  clientId: string;
  scopeId: string;
  created: string;
}

/**
 * What a target's tries have listed, after a try that listed `now`: with what earlier tries listed
 * when one of them may have acted (its DELETE left and no answer said it did nothing), for those
 * grants may be this run's revocations; else `now` alone (a grant gone since was not this run's).
 */
export function evidenceAfter(earlier: { revokeSent: boolean; grants: GrantEvidence[] | null }, now: GrantEvidence[]): GrantEvidence[] {
  if (!earlier.revokeSent || !earlier.grants?.length) return now;
  const seen = new Set(earlier.grants.map((g) => g.id));
  return [...earlier.grants, ...now.filter((g) => !seen.has(g.id))];
}

/** A target as its source gave it (clientId and scopeId the effective ones: the row's own, else the run's), and what became of it. */
export interface TargetRecord extends TargetInput {
  status: TargetStatus;
  grantsRevoked: number | null;
  attempts: number;
  httpStatus: number | null;
  errorCode: string | null;
  errorSummary: string | null;
  errorId: string | null;
  /** epoch ms */
  finishedAt: number | null;
  grants: GrantEvidence[] | null;
  /** The user id a login resolved to. */
  resolvedUserId: string | null;
  /**
   * A pending target's attempts since it was last queued (by the producer or `retry`),
   * kept when a try fails and another follows, so that a worker that takes over after a
   * stop or a crash goes on counting toward --attempts. 0 once the target has a result.
   */
  roundAttempts: number;
  /**
   * With --tokens: the clients whose refresh tokens were revoked (a DELETE answered 204),
   * or would be in a dry run; null without --tokens or for a scope or grant target.
   */
  tokensRevokedFor: string[] | null;
  /**
   * A revoking DELETE was sent for the target by an earlier try (of this round or of one
   * that failed and was retried). Its answer may have been lost after Okta revoked: a later
   * try that finds nothing left then counts what `grants` listed, or the grant, as revoked
   * rather than `nothing_to_revoke`. Kept while the target is pending or failed; false on
   * any other result.
   */
  revokeSent: boolean;
}

/** Index of `status` in the stored array (0-based). Lua scripts depend on it. */
export const STATUS_INDEX = 6;

/**
 * A target's record before any result. Spelled out field by field: an object spread
 * followed by more fields hits a slow path in V8 (Node 20) that cost ~30 µs a call,
 * half the time of a 1,000,000-row enqueue (see BENCHMARKS.md).
 */
export function newRecord(
  t: Pick<TargetRecord, 'userId' | 'login' | 'clientId' | 'scopeId' | 'grantId' | 'line'>,
  status: TargetStatus = 'pending',
): TargetRecord {
  return {
    userId: t.userId,
    login: t.login,
    clientId: t.clientId,
    scopeId: t.scopeId,
    grantId: t.grantId,
    line: t.line,
    status,
    grantsRevoked: null,
    attempts: 0,
    httpStatus: null,
    errorCode: null,
    errorSummary: null,
    errorId: null,
    finishedAt: null,
    grants: null,
    resolvedUserId: null,
    roundAttempts: 0,
    tokensRevokedFor: null,
    revokeSent: false,
  };
}

/*
 * The stored layout, by index: 0 userId, 1 login, 2 clientId, 3 scopeId, 4 grantId,
 * 5 line, 6 status (its index in STATUSES), 7 grantsRevoked, 8 attempts, 9 httpStatus,
 * 10 errorCode, 11 errorSummary, 12 errorId, 13 finishedAt (epoch ms in base 36),
 * 14 grants, 15 resolvedUserId, 16 roundAttempts, 17 tokensRevokedFor, 18 revokeSent (1 or 0). An absent text, list or attempt count is 0 (one byte
 * where `null` takes four); an absent number that can be 0 stays null. Trailing absent
 * values are dropped. A finished result then fits jemalloc's 80-byte class, a pending
 * target its 48-byte one (see BENCHMARKS.md, figure 4).
 */
const TEXT = new Set([0, 1, 2, 3, 4, 10, 11, 12, 14, 15, 17]);
/** Counts and flags whose 0 is dropped when trailing. */
const ATTEMPTS = new Set([8, 16, 18]);

export function toRedis(r: TargetRecord): string {
  const a: unknown[] = [
    r.userId ?? 0, r.login ?? 0, r.clientId ?? 0, r.scopeId ?? 0, r.grantId ?? 0, r.line, STATUS_CODE[r.status],
    r.grantsRevoked, r.attempts, r.httpStatus, r.errorCode ?? 0, r.errorSummary ?? 0, r.errorId ?? 0,
    r.finishedAt === null ? null : r.finishedAt.toString(36),
    r.grants ? r.grants.map((g) => [g.id, g.clientId, g.scopeId, g.created]) : 0,
    r.resolvedUserId ?? 0,
    r.roundAttempts,
    r.tokensRevokedFor ?? 0,
    r.revokeSent ? 1 : 0,
  ];
  // Trailing absent values cost bytes a million times over.
  for (let i = a.length - 1; i > STATUS_INDEX && (a[i] === null || (a[i] === 0 && (TEXT.has(i) || ATTEMPTS.has(i)))); i--) a.pop();
  return JSON.stringify(a);
}

const STATUS_CODE = Object.fromEntries(STATUSES.map((s, i) => [s, i])) as Record<TargetStatus, number>;

export function fromRedis(raw: string): TargetRecord {
  const a = JSON.parse(raw) as unknown[];
  const text = (i: number): string | null => (a[i] === undefined || a[i] === 0 || a[i] === null ? null : (a[i] as string));
  const num = (i: number): number | null => (a[i] === undefined ? null : (a[i] as number | null));
  const grants = a[14] ? (a[14] as unknown[][]) : null;
  const status = a[6];
  const finishedAt = a[13];
  return {
    userId: text(0),
    login: text(1),
    clientId: text(2),
    scopeId: text(3),
    grantId: text(4),
    line: num(5),
    status: STATUSES[status as number] ?? 'pending',
    grantsRevoked: num(7),
    attempts: (a[8] as number | null | undefined) ?? 0,
    httpStatus: num(9),
    errorCode: text(10),
    errorSummary: text(11),
    errorId: text(12),
    finishedAt: typeof finishedAt === 'string' ? parseInt(finishedAt, 36) : null,
    grants: grants
      ? grants.map((g) => ({ id: String(g[0]), clientId: String(g[1]), scopeId: String(g[2]), created: String(g[3]) }))
      : null,
    resolvedUserId: text(15),
    roundAttempts: (a[16] as number | undefined) ?? 0,
    tokensRevokedFor: a[17] ? (a[17] as string[]) : null,
    revokeSent: a[18] === 1,
  };
}
