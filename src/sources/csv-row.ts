import { displayValue, InvalidIdError, validatePathId, type IdKind } from '../okta/ids.ts';
import type { SourceItem } from './target.ts';

const COLUMNS = ['userId', 'login', 'clientId', 'scopeId', 'grantId'] as const satisfies readonly IdKind[];
type Column = (typeof COLUMNS)[number];

/** Where each known column sits in a record, and how many fields the header has. */
export interface ColumnMap {
  fieldCount: number;
  index: Partial<Record<Column, number>>;
  /** The header has a clientId, scopeId or grantId column: a row that fills none of them is `wide`. */
  narrows: boolean;
}

export type HeaderResult = { ok: true; columns: ColumnMap } | { ok: false; problem: string };

/** Reads the header record: names are matched trimmed and case-insensitively; unknown ones are ignored. */
export function readHeader(fields: readonly string[]): HeaderResult {
  if (fields.some((f) => f.includes('\r'))) {
    return { ok: false, problem: 'bare CR line endings are not supported; save the file with LF or CRLF line endings' };
  }
  const index: ColumnMap['index'] = {};
  for (const [i, field] of fields.entries()) {
    const column = COLUMNS.find((c) => c.toLowerCase() === field.trim().toLowerCase());
    if (column === undefined) continue;
    const seen = index[column];
    if (seen !== undefined) {
      // Two login columns leave no right answer as to which one names the user.
      return { ok: false, problem: `column ${column} appears twice in the header (fields ${seen + 1} and ${i + 1})` };
    }
    index[column] = i;
  }
  if (index.userId === undefined && index.login === undefined) {
    const found = fields.slice(0, 10).map((f) => `"${displayValue(f)}"`).join(', ');
    return {
      ok: false,
      problem: `the header must name a userId or login column (case does not matter); found ${found}${fields.length > 10 ? ', …' : ''}`,
    };
  }
  const narrows = index.clientId !== undefined || index.scopeId !== undefined || index.grantId !== undefined;
  return { ok: true, columns: { fieldCount: fields.length, index, narrows } };
}

/** Excel and friends end sheets with rows of bare commas: treat them as the blank lines they are. */
export function isBlankRecord(fields: readonly string[]): boolean {
  return fields.every((f) => f.trim() === '');
}

/**
 * One data record → a target, or an invalid row listing every problem found in it.
 * Values are taken verbatim (never trimmed): an id with a stray space is reported, not guessed at.
 */
export function recordToItem(fields: readonly string[], columns: ColumnMap, line: number): SourceItem {
  if (fields.length !== columns.fieldCount) {
    const problem = `expected ${columns.fieldCount} fields as in the header, got ${fields.length}`;
    return { kind: 'invalid', row: { line, problem, raw: rawRow(fields) } };
  }
  const problems: string[] = [];
  // `*` in a clientId, scopeId or grantId cell: this row names none on purpose (see `wide` below).
  let onPurpose = false;
  const value = (column: Column): string | null => {
    const i = columns.index[column];
    const cell = i === undefined ? '' : (fields[i] ?? '');
    if (cell === '') return null;
    if (cell === '*') {
      if (column === 'userId' || column === 'login') {
        problems.push(`${column} "*": names no user (* stands for every grant in a clientId, scopeId or grantId cell)`);
        return null;
      }
      onPurpose = true;
      return null;
    }
    try {
      return validatePathId(column, cell);
    } catch (err) {
      if (!(err instanceof InvalidIdError)) throw err;
      problems.push(err.message);
      return null;
    }
  };
  const target = {
    userId: value('userId'),
    login: value('login'),
    clientId: value('clientId'),
    scopeId: value('scopeId'),
    grantId: value('grantId'),
    line,
  };
  if (problems.length === 0 && target.userId === null && target.login === null) {
    problems.push('needs a userId or a login; both are empty');
  }
  if (target.grantId !== null && target.scopeId !== null) {
    problems.push('grantId and scopeId together are contradictory (a grant has exactly one scope); keep one of them');
  }
  if (problems.length > 0) return { kind: 'invalid', row: { line, problem: problems.join('; '), raw: rawRow(fields) } };
  if (columns.narrows && !onPurpose && target.clientId === null && target.scopeId === null && target.grantId === null) return { kind: 'target', target, wide: true };
  return { kind: 'target', target };
}

/** The record re-serialised as CSV (csv-parse's own `raw` carries stray delimiters), cut to 200 characters. */
export function rawRow(fields: readonly string[]): string {
  const text = fields.map((f) => (/[",\r\n]|^\s|\s$/.test(f) ? `"${f.replaceAll('"', '""')}"` : f)).join(',');
  if (text.length <= 200) return text;
  const cut = text.slice(0, 199);
  // Never leave half a surrogate pair at the cut: it would not survive JSON or a terminal.
  return (/[\ud800-\udbff]$/.test(cut) ? cut.slice(0, -1) : cut) + '…';
}
