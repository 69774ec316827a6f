import { UsageError } from '../errors.ts';
import { readCsvTargets, type CsvSourceOptions } from './csv-source.ts';
import type { InvalidRow } from './target.ts';

export interface ValidateCsvOptions extends CsvSourceOptions {
  /** Invalid rows kept for the report; the rest are only counted. Default 1000. */
  keepInvalid?: number;
}

export interface CsvValidation {
  targets: number;
  /** The first `keepInvalid` invalid rows, in file order. */
  invalid: InvalidRow[];
  /** Every invalid row, including those not kept. */
  invalidTotal: number;
  /** SHA-256 of the file as checked: the storing pass must read the same (CsvSourceOptions.expectDigest). */
  sha256: string;
  /** The line of the first row that names a grantId (a grant is revoked whole: --client and --scope cannot narrow it). */
  firstGrantRow: number | null;
  /** The line of the first row whose clientId, scopeId and grantId cells are all empty though the header has such a column. */
  firstWideRow: number | null;
}

/**
 * One streaming pass over the file before anything is enqueued, so that a bad file is
 * refused whole instead of half-run. File-level problems throw (CsvFileError); row-level
 * ones are counted. Memory stays flat: only the kept invalid rows are held.
 */
export async function validateCsvFile(path: string, opts: ValidateCsvOptions = {}): Promise<CsvValidation> {
  const keep = opts.keepInvalid ?? 1000;
  const result: CsvValidation = { targets: 0, invalid: [], invalidTotal: 0, sha256: '', firstGrantRow: null, firstWideRow: null };
  for await (const item of readCsvTargets(path, { ...opts, onDigest: (d) => (result.sha256 = d) })) {
    if (item.kind === 'target') {
      result.targets++;
      if (item.target.grantId !== null && result.firstGrantRow === null) result.firstGrantRow = item.target.line;
      if (item.wide && result.firstWideRow === null) result.firstWideRow = item.target.line;
    } else {
      result.invalidTotal++;
      if (result.invalid.length < keep) result.invalid.push(item.row);
    }
  }
  return result;
}

/** `path:line: problem`, the form every message about a row takes. */
export function formatInvalidRow(path: string, row: InvalidRow): string {
  return `${path}:${row.line}: ${row.problem}`;
}

/**
 * The refusal for a file with invalid rows (when --skip-invalid was not given): the first
 * few rows verbatim, a count of the rest, and the way out.
 */
export function invalidRowsError(path: string, v: CsvValidation, show = 10): UsageError {
  // One bad row: one line that names it, like every other refusal.
  if (v.invalidTotal === 1 && v.invalid[0]) {
    return new UsageError(
      `${formatInvalidRow(path, v.invalid[0])} (nothing was enqueued: fix the row, or pass --skip-invalid to run the valid rows and list this one in the report)`,
    );
  }
  const lines = v.invalid.slice(0, show).map((row) => `  ${formatInvalidRow(path, row)}`);
  const more = v.invalidTotal - lines.length;
  if (more > 0) lines.push(`  … and ${more} more`);
  const rows = v.invalidTotal === 1 ? 'row is' : 'rows are';
  return new UsageError(
    `${path}: ${v.invalidTotal} ${rows} invalid; nothing was enqueued.\n${lines.join('\n')}\n` +
      'Fix the file, or pass --skip-invalid to run the valid rows and list the invalid ones in the report.',
  );
}

/**
 * What a row's own columns and the run's --client/--scope say together, refused where they
 * would revoke other than the file says: a row that names a grantId revokes that grant whole
 * (a --client or --scope would be silently overridden, and the report would name a scope the
 * grant does not have); a row that leaves empty the clientId, scopeId and grantId columns its
 * header has, with no --client or --scope, would revoke every grant of the user: an empty
 * cell is far likelier a gap in the file than a wish for that.
 */
export function checkRowTargets(path: string, v: CsvValidation, target: { clientId: string | null; scopeId: string | null }): void {
  const narrowed = Boolean(target.clientId || target.scopeId);
  if (v.firstGrantRow !== null && narrowed) {
    const flag = target.clientId ? '--client' : '--scope';
    throw new UsageError(`${path}:${v.firstGrantRow}: names a grantId, which is revoked whole whatever ${flag} says; drop ${flag}, or run the grant rows apart (nothing was enqueued)`);
  }
  if (v.firstWideRow !== null && !narrowed) {
    throw new UsageError(
      `${path}:${v.firstWideRow}: the clientId, scopeId and grantId cells are empty (the header has such a column), so this row would revoke every grant of the user; ` +
        'fill the cell, or write * in it if that is meant (nothing was enqueued)',
    );
  }
}
