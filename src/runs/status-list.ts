import { UsageError } from '../errors.ts';
import type { TargetStatus } from './record.ts';

/**
 * A flag's comma-separated list of results (`--with-result would_revoke,revoked`,
 * `report --status failed`), checked against the ones it may name; duplicates dropped.
 * `what` finishes "is not a result …" in the refusal.
 */
export function parseStatusList(flag: string, list: string, allowed: readonly TargetStatus[], what: string): TargetStatus[] {
  const names = list.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (names.length === 0) throw new UsageError(`${flag}: name at least one result`);
  for (const n of names) {
    if (!(allowed as readonly string[]).includes(n)) {
      throw new UsageError(`${flag}: ${JSON.stringify(n.slice(0, 40))} is not a result ${what}; one or more of ${allowed.join(', ')}`);
    }
  }
  return [...new Set(names)] as TargetStatus[];
}
