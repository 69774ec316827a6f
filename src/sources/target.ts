import { createHash } from 'node:crypto';

/**
 * One thing to revoke, as a source found it. Ids are validated path segments or null;
 * null clientId/scopeId mean "use the run-wide default" (and, if that is null too, "all").
 */
export interface TargetInput {
  userId: string | null;
  login: string | null;
  clientId: string | null;
  scopeId: string | null;
  grantId: string | null;
  /** Physical line where the CSV record starts (header = 1); null for directory sources. */
  line: number | null;
}

/** A row that cannot become a target. `line` is the CSV line, or the position in a directory listing. */
export interface InvalidRow {
  line: number;
  problem: string;
  /** The row as read, at most 200 characters, for the report. */
  raw?: string;
}

/**
 * `wide`: a CSV row that leaves empty every clientId, scopeId and grantId column its header
 * names: unless the run narrows it (--client, --scope), it revokes every grant of the user.
 */
export type SourceItem = { kind: 'target'; target: TargetInput; wide?: true } | { kind: 'invalid'; row: InvalidRow };

export interface SourceDescription {
  kind: 'csv' | 'search' | 'filter' | 'group' | 'app' | 'run';
  /** The file path, the search or filter expression, the group or app id, or an earlier run's id. */
  value: string;
  /** `run` only: the results of the earlier run whose targets are taken (see run-source.ts). */
  results?: string[];
}

export interface TargetDefaults {
  clientId: string | null;
  scopeId: string | null;
}

/**
 * A short stable key for deduplication and for naming a target's result. It hashes the
 * target as it will be acted on: the user (by id when known, else by login, lower-cased
 * because Okta logins are case-insensitive) and the effective client, scope and grant after
 * the row's own values win over the run-wide defaults. So two rows that would do the same
 * work share a key even when one spells out the default and the other leaves it blank.
 * A row naming a user by id and another naming the same user by login do NOT share a key:
 * that would need a lookup, and a duplicate revoke is harmless (404 = already gone).
 */
export function targetKey(t: TargetInput, defaults: TargetDefaults): string {
  const user = t.userId !== null ? ['u', t.userId] : ['l', (t.login ?? '').toLowerCase()];
  const normalised = [
    ...user,
    t.clientId ?? defaults.clientId,
    t.scopeId ?? defaults.scopeId,
    t.grantId,
  ];
  // JSON keeps field boundaries unambiguous (no separator can be forged by an id).
  return createHash('sha1').update(JSON.stringify(normalised)).digest('base64url').slice(0, 16);
}
