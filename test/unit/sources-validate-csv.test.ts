import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.ts';
import { CsvFileError } from '../../src/sources/csv-file-error.ts';
import { formatInvalidRow, invalidRowsError, validateCsvFile } from '../../src/sources/validate-csv.ts';

const fixture = (name: string) => join(import.meta.dirname, '../fixtures/csv', name);
const tmp = mkdtempSync(join(tmpdir(), 'gs-validate-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('validateCsvFile', () => {
  it('counts targets and lists invalid rows in file order', async () => {
    const v = await validateCsvFile(fixture('bad-ids.csv'));
    expect(v.targets).toBe(1);
    expect(v.invalidTotal).toBe(6);
    expect(v.invalid.map((r) => r.line)).toEqual([2, 3, 4, 5, 6, 7]);
  });

  it('keeps at most keepInvalid rows but counts them all', async () => {
    const path = join(tmp, 'many-bad.csv');
    writeFileSync(path, `userId\n${'a/b\n'.repeat(2500)}00u1\n`);
    const v = await validateCsvFile(path);
    expect(v.invalid).toHaveLength(1000);
    expect(v.invalidTotal).toBe(2500);
    expect(v.targets).toBe(1);
    const few = await validateCsvFile(path, { keepInvalid: 3 });
    expect(few.invalid.map((r) => r.line)).toEqual([2, 3, 4]);
  });

  it('passes file-level errors through as UsageError (exit 2)', async () => {
    await expect(validateCsvFile(fixture('header-only.csv'))).rejects.toBeInstanceOf(CsvFileError);
    await expect(validateCsvFile(fixture('binary.bin'))).rejects.toThrow(/binary\.bin:1: not UTF-8 text/);
  });

  it('notes the first row that names no client, scope or grant where the header has such a column', async () => {
    const path = join(tmp, 'wide.csv');
    writeFileSync(path, 'userId,clientId,grantId\n00u1,0oa1,\n00u2,,oag2\n00u3,,\n00u4,,\n');
    expect(await validateCsvFile(path)).toMatchObject({ targets: 4, firstGrantRow: 3, firstWideRow: 4 });
    writeFileSync(path, 'userId,login\n00u1,\n');
    expect(await validateCsvFile(path)).toMatchObject({ targets: 1, firstWideRow: null });
  });

  it('handles a 100,000-row file in one pass', async () => {
    const path = join(tmp, 'large.csv');
    const rows = Array.from({ length: 100_000 }, (_, i) => `00u${i},user${i}@example.com`);
    writeFileSync(path, `userId,login\n${rows.join('\n')}\n`);
    expect(await validateCsvFile(path)).toEqual({
      targets: 100_000, invalid: [], invalidTotal: 0, firstGrantRow: null, firstWideRow: null,
      // The digest of the bytes read, which the storing pass compares with its own.
      sha256: createHash('sha256').update(readFileSync(path)).digest('hex'),
    });
  });
});

describe('invalidRowsError', () => {
  it('shows the first rows as path:line: problem, counts the rest, and names --skip-invalid', async () => {
    const v = await validateCsvFile(fixture('bad-ids.csv'));
    const err = invalidRowsError('bad-ids.csv', v, 2);
    expect(err).toBeInstanceOf(UsageError);
    expect(err.exitCode).toBe(2);
    expect(err.message.split('\n')).toEqual([
      'bad-ids.csv: 6 rows are invalid; nothing was enqueued.',
      '  bad-ids.csv:2: userId "../x": must not contain "/"',
      '  bad-ids.csv:3: userId "a/b": must not contain "/"',
      '  … and 4 more',
      expect.stringContaining('--skip-invalid'),
    ]);
  });

  it('formats one row the way compilers do', () => {
    expect(formatInvalidRow('t.csv', { line: 7, problem: 'x' })).toBe('t.csv:7: x');
  });
});
