import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.ts';
import { CsvFileError } from '../../src/sources/csv-file-error.ts';
import { readCsvTargets } from '../../src/sources/csv-source.ts';
import type { SourceItem, TargetInput } from '../../src/sources/target.ts';

const fixture = (name: string) => join(import.meta.dirname, '../fixtures/csv', name);
const tmp = mkdtempSync(join(tmpdir(), 'gs-csv-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
function write(content: string | Buffer): string {
  const path = join(tmp, `case-${++n}.csv`);
  writeFileSync(path, content);
  return path;
}

async function collect(path: string, opts?: { maxRowBytes?: number }): Promise<SourceItem[]> {
  const items: SourceItem[] = [];
  for await (const item of readCsvTargets(path, opts)) items.push(item);
  return items;
}

async function fileError(path: string, opts?: { maxRowBytes?: number }): Promise<CsvFileError> {
  const err = await collect(path, opts).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CsvFileError);
  expect(err).toBeInstanceOf(UsageError);
  expect((err as CsvFileError).exitCode).toBe(2);
  return err as CsvFileError;
}

const targets = (items: SourceItem[]) => items.flatMap((i) => (i.kind === 'target' ? [i.target] : []));
const invalid = (items: SourceItem[]) => items.flatMap((i) => (i.kind === 'invalid' ? [i.row] : []));
const t = (p: Partial<TargetInput>): TargetInput => ({ userId: null, login: null, clientId: null, scopeId: null, grantId: null, line: null, ...p });

describe('readCsvTargets: well-formed files', () => {
  it('strips a UTF-8 BOM so the first header is still recognised', async () => {
    const items = await collect(fixture('bom.csv'));
    expect(targets(items)).toEqual([
      t({ userId: '00u1bom', login: 'bom@example.com', line: 2 }),
      t({ userId: '00u2bom', line: 3 }),
    ]);
  });

  it('reads CRLF line endings without leaving \\r in the last field', async () => {
    const items = await collect(fixture('crlf.csv'));
    expect(targets(items)).toEqual([
      t({ userId: '00u1crlf', login: 'one@example.com', clientId: '0oa1', line: 2 }),
      // An empty last cell before the CRLF: null, not "\r".
      t({ userId: '00u2crlf', clientId: '0oa2', line: 3 }),
    ]);
  });

  it('unquotes RFC 4180 fields with commas, doubled quotes and newlines, numbering rows by their first line', async () => {
    const items = await collect(fixture('quoted.csv'));
    expect(targets(items)).toEqual([
      t({ userId: '00u1quoted', login: 'o"brien,x@example.com', line: 2 }),
      t({ userId: '00u2quoted', login: 'plain@example.com', line: 3 }),
      t({ userId: '00u3quoted', login: 'last@example.com', line: 6 }),
    ]);
  });

  it('skips blank lines and rows of bare commas, keeping physical line numbers', async () => {
    const items = await collect(fixture('blank-lines.csv'));
    expect(items.every((i) => i.kind === 'target')).toBe(true);
    expect(targets(items).map((x) => [x.userId, x.line])).toEqual([
      ['00u1blank', 5],
      ['00u2blank', 8],
      ['00u3blank', 11],
    ]);
  });

  it('matches header names trimmed and case-insensitively, and ignores unknown columns', async () => {
    const items = await collect(fixture('extra-columns.csv'));
    expect(targets(items)).toEqual([
      t({ userId: '00u1extra', clientId: '0oa1', line: 2 }),
      t({ userId: '00u2extra', clientId: '0oa2', line: 3 }),
    ]);
  });

  it('keeps both userId and login when a row has both (the id is used, the login reported)', async () => {
    const items = await collect(write('login,userId\nann@example.com,00uAnn\n'));
    expect(targets(items)).toEqual([t({ userId: '00uAnn', login: 'ann@example.com', line: 2 })]);
  });

  it('yields duplicate rows as they are (deduplication is targetKey\'s job)', async () => {
    const items = await collect(fixture('duplicates.csv'));
    expect(targets(items)).toHaveLength(6);
  });

  it('parses a last row that has no trailing newline', async () => {
    const items = await collect(write('userId\n00u1\n00u2'));
    expect(targets(items).map((x) => [x.userId, x.line])).toEqual([
      ['00u1', 2],
      ['00u2', 3],
    ]);
  });

  it('accepts a file that mixes LF and CRLF line endings', async () => {
    const items = await collect(write('userId,login\r\n00u1,a@x\n00u2,b@x\r\n'));
    expect(targets(items).map((x) => x.login)).toEqual(['a@x', 'b@x']);
  });

  it('reads multi-byte UTF-8 logins intact', async () => {
    const items = await collect(write('login\nzoë@example.com\n日本@example.com\n'));
    expect(targets(items).map((x) => x.login)).toEqual(['zoë@example.com', '日本@example.com']);
  });
});

describe('readCsvTargets: invalid rows are items, not errors', () => {
  it('reports each unsafe id with its line and what is wrong, and keeps the good row', async () => {
    const items = await collect(fixture('bad-ids.csv'));
    expect(targets(items)).toEqual([t({ userId: '00u1good', clientId: '0oa1', line: 8 })]);
    const rows = invalid(items);
    expect(rows.map((r) => r.line)).toEqual([2, 3, 4, 5, 6, 7]);
    expect(rows[0]!.problem).toBe('userId "../x": must not contain "/"');
    expect(rows[1]!.problem).toBe('userId "a/b": must not contain "/"');
    expect(rows[2]!.problem).toBe('userId "%2e%2e": must not contain "%"');
    expect(rows[3]!.problem).toMatch(/^userId "a b": must not contain whitespace/);
    expect(rows[4]!.problem).toMatch(/^userId "ctrl\\u0001char": must not contain whitespace or control/);
    expect(rows[5]!.problem).toMatch(/^userId "me": must not be "me"/);
    expect(rows[0]!.raw).toBe('../x,0oa1');
  });

  it('treats a row with a different number of fields than the header as invalid', async () => {
    const items = await collect(write('userId,clientId\n00u1,0oa1\n00u2\n00u3,0oa1,extra\n'));
    expect(targets(items).map((x) => x.userId)).toEqual(['00u1']);
    expect(invalid(items)).toEqual([
      { line: 3, problem: 'expected 2 fields as in the header, got 1', raw: '00u2' },
      { line: 4, problem: 'expected 2 fields as in the header, got 3', raw: '00u3,0oa1,extra' },
    ]);
  });

  it('takes * in a clientId, scopeId or grantId cell as naming none on purpose, and refuses it as a user', async () => {
    const items = await collect(write('userId,login,grantId\n00u1,,*\n*,,oag1\n,*,\n'));
    expect(targets(items)).toEqual([t({ userId: '00u1', line: 2 })]);
    expect(items[0]).not.toHaveProperty('wide');
    expect(invalid(items).map((r) => [r.line, r.problem])).toEqual([
      [3, 'userId "*": names no user (* stands for every grant in a clientId, scopeId or grantId cell)'],
      [4, 'login "*": names no user (* stands for every grant in a clientId, scopeId or grantId cell)'],
    ]);
  });

  it('requires a userId or a login in every row', async () => {
    const items = await collect(write('userId,login,clientId\n,,0oa1\n'));
    expect(invalid(items)).toEqual([{ line: 2, problem: 'needs a userId or a login; both are empty', raw: ',,0oa1' }]);
  });

  it('refuses grantId together with scopeId as contradictory', async () => {
    const items = await collect(write('userId,scopeId,grantId\n00u1,scp1,oag1\n00u2,,oag2\n'));
    expect(invalid(items).map((r) => [r.line, r.problem])).toEqual([[2, expect.stringMatching(/^grantId and scopeId together/)]]);
    expect(targets(items)).toEqual([t({ userId: '00u2', grantId: 'oag2', line: 3 })]);
  });

  it('validates every present id, not only the user column', async () => {
    const items = await collect(write('userId,login,clientId,scopeId,grantId\n00u1,a/b,0o?a,..,\n'));
    const [row] = invalid(items);
    expect(row!.problem.split('; ')).toEqual([
      'login "a/b": must not contain "/"',
      'clientId "0o?a": must not contain "?"',
      'scopeId "..": must not be "." or ".."',
    ]);
  });

  it('reports a 10,000-character id as too long, showing only its start', async () => {
    const id = 'x'.repeat(10_000);
    const items = await collect(write(`userId\n${id}\n`));
    const [row] = invalid(items);
    expect(row!.problem).toMatch(/^userId "x{40}…": must be at most 100 characters$/);
    expect(row!.raw!.length).toBeLessThanOrEqual(200);
  });
});

describe('readCsvTargets: file-level refusals', () => {
  it('refuses a missing file', async () => {
    const err = await fileError(join(tmp, 'nope.csv'));
    expect(err.message).toBe(`${join(tmp, 'nope.csv')}: no such file`);
  });

  it('refuses a directory', async () => {
    expect((await fileError(tmp)).problem).toBe('is a directory, not a CSV file');
  });

  it('refuses an empty file', async () => {
    expect((await fileError(fixture('empty.csv'))).problem).toMatch(/^empty file/);
  });

  it('refuses a file of blank lines only as empty', async () => {
    expect((await fileError(write('\n\r\n\n'))).problem).toMatch(/^empty file/);
  });

  it('refuses a header with no rows as "no targets"', async () => {
    const err = await fileError(fixture('header-only.csv'));
    expect(err.problem).toMatch(/^no targets/);
    expect(err.line).toBeNull();
  });

  it('refuses a header without a userId or login column, naming the columns it found', async () => {
    const err = await fileError(fixture('no-user-column.csv'));
    expect(err.line).toBe(1);
    expect(err.message).toMatch(/no-user-column\.csv:1: the header must name a userId or login column.*found "email", "clientId"/);
  });

  it('refuses a header that names the same column twice', async () => {
    const err = await fileError(write('login,LOGIN\na@x,b@x\n'));
    expect(err.problem).toBe('column login appears twice in the header (fields 1 and 2)');
  });

  it('refuses binary data, naming the line of the first bad byte', async () => {
    const err = await fileError(fixture('binary.bin'));
    expect(err.line).toBe(1);
    expect(err.problem).toMatch(/^not UTF-8 text/);
  });

  it('refuses a NUL byte on a later line with that line number', async () => {
    const err = await fileError(write(Buffer.from('userId\n00u1\n00u\u00002\n')));
    expect(err.message).toMatch(/:3: not UTF-8 text \(a NUL byte\)$/);
  });

  it('refuses invalid UTF-8 (a Latin-1 file) with the line of the first bad byte', async () => {
    const err = await fileError(write(Buffer.concat([Buffer.from('login\nok@x\n'), Buffer.from('zo\xeb@x\n', 'latin1')])));
    expect(err.line).toBe(3);
    expect(err.problem).toBe('not UTF-8 text (invalid byte 0xeb)');
  });

  it('refuses a UTF-16 file and says how to fix it', async () => {
    const err = await fileError(write(Buffer.from('\ufeffuserId\n00u1\n', 'utf16le')));
    expect(err.problem).toMatch(/UTF-16.*save the file as UTF-8/);
  });

  it('refuses an unterminated quote, naming the line where the quoted field starts', async () => {
    const err = await fileError(write('userId,note\n00u1,ok\n00u2,"never closed\n00u3,x\n00u4,y\n'));
    expect(err.line).toBe(3);
    expect(err.problem).toMatch(/^unterminated quote/);
  });

  it('refuses text after a closing quote', async () => {
    const err = await fileError(write('userId,login\n00u1,"a"b\n'));
    expect(err.line).toBe(2);
    expect(err.problem).toMatch(/closing quote/);
  });

  it('refuses a stray quote inside an unquoted field', async () => {
    const err = await fileError(write('userId,login\n00u1,a"b\n'));
    expect(err.line).toBe(2);
    expect(err.problem).toMatch(/quote inside an unquoted field/);
  });

  it('refuses a one-megabyte line with the default 64 KiB limit, without reading it whole', async () => {
    const err = await fileError(write(`userId\n00u1\n\n${'y'.repeat(1024 * 1024)}\n00u2\n`));
    expect(err.message).toMatch(/:4: row longer than 65536 bytes/);
  });

  it('counts the limit over all the physical lines of a quoted record', async () => {
    const err = await fileError(write(`userId,note\n00u1,"${'a\n'.repeat(100)}"\n`), { maxRowBytes: 100 });
    expect(err.line).toBe(2);
    expect(err.problem).toMatch(/^row longer than 100 bytes/);
  });

  it('refuses a maxRowBytes that is not a positive integer, naming the value', async () => {
    await expect(collect(fixture('bom.csv'), { maxRowBytes: 0 })).rejects.toThrow('Expected `maxRowBytes` to be a positive integer, got 0');
  });

  it('refuses bare-CR line endings instead of reading the file as one header', async () => {
    const err = await fileError(write('userId\r00u1\r00u2\r'));
    expect(err.problem).toMatch(/bare CR line endings/);
  });
});

describe('readCsvTargets: streaming', () => {
  it('stops reading when the consumer stops, and can be read again', async () => {
    const path = write(`userId\n${Array.from({ length: 5000 }, (_, i) => `00u${i}`).join('\n')}\n`);
    const first: string[] = [];
    for await (const item of readCsvTargets(path)) {
      if (item.kind === 'target') first.push(item.target.userId!);
      if (first.length === 3) break;
    }
    expect(first).toEqual(['00u0', '00u1', '00u2']);
    expect(targets(await collect(path))).toHaveLength(5000);
  });

  it('refuses the whole file when a bad byte follows valid rows, naming the bad line', async () => {
    const err = await fileError(write('userId\na/b\n00u1\n\u0000\n'));
    expect(err.line).toBe(4);
  });
});
