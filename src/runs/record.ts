/**
 * One target and its result, as stored in the run's targets hash: a JSON array,
 * because a million of them must fit in a small Redis (well under 200 bytes for a
 * finished result). `toRedis`/`fromRedis` are the only code that knows the layout;
 * the Lua scripts read the status at index STATUS_INDEX (1-based: STATUS_INDEX + 1).
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

export interface TargetRecord {
  userId: string | null;
  login: string | null;
  /** The effective client and scope: the row's own, else the run's. */
  clientId: string | null;
  scopeId: string | null;
  grantId: string | null;
  /** CSV line, null for directory sources. */
  line: number | null;
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
  };
}

export function toRedis(r: TargetRecord): string {
  const a: unknown[] = [
    r.userId, r.login, r.clientId, r.scopeId, r.grantId, r.line, r.status,
    r.grantsRevoked, r.attempts || null, r.httpStatus, r.errorCode, r.errorSummary, r.errorId, r.finishedAt,
    r.grants ? r.grants.map((g) => [g.id, g.clientId, g.scopeId, g.created]) : null,
    r.resolvedUserId,
  ];
  // Trailing nulls cost bytes a million times over.
  while (a.length > STATUS_INDEX + 1 && a[a.length - 1] === null) a.pop();
  return JSON.stringify(a);
}

export function fromRedis(raw: string): TargetRecord {
  const a = JSON.parse(raw) as unknown[];
  const at = <T>(i: number, fallback: T): T => (a[i] === undefined ? fallback : (a[i] as T));
  const grants = at<unknown[][] | null>(14, null);
  return {
    userId: at(0, null),
    login: at(1, null),
    clientId: at(2, null),
    scopeId: at(3, null),
    grantId: at(4, null),
    line: at(5, null),
    status: at(6, 'pending'),
    grantsRevoked: at(7, null),
    attempts: (a[8] as number | null | undefined) ?? 0,
    httpStatus: at(9, null),
    errorCode: at(10, null),
    errorSummary: at(11, null),
    errorId: at(12, null),
    finishedAt: at(13, null),
    grants: grants
      ? grants.map((g) => ({ id: String(g[0]), clientId: String(g[1]), scopeId: String(g[2]), created: String(g[3]) }))
      : null,
    resolvedUserId: at(15, null),
  };
}
