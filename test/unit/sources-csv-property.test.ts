import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { readCsvTargets } from '../../src/sources/csv-source.ts';
import type { TargetInput } from '../../src/sources/target.ts';

const tmp = mkdtempSync(join(tmpdir(), 'gs-csv-prop-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// Ids that validatePathId accepts, with the characters that force RFC 4180 quoting in them.
const idChar = fc.constantFrom(...'abcXYZ019._-@+,"\'é日'.split(''));
const id = fc
  .array(idChar, { minLength: 1, maxLength: 24 })
  .map((cs) => cs.join(''))
  .filter((s) => s !== '.' && s !== '..' && s.toLowerCase() !== 'me');
// A free-text column the source ignores; it carries line breaks inside quotes.
const note = fc.array(fc.constantFrom('a', ' ', ',', '"', '\n', '\r\n', 'ü'), { maxLength: 12 }).map((cs) => cs.join(''));

const row = fc
  .record({
    userId: fc.option(id, { nil: null }),
    login: fc.option(id, { nil: null }),
    clientId: fc.option(id, { nil: null }),
    scope: fc.oneof(
      fc.constant({ scopeId: null, grantId: null }),
      id.map((s) => ({ scopeId: s, grantId: null })),
      id.map((g) => ({ scopeId: null, grantId: g })),
    ),
    note,
  })
  .filter((r) => r.userId !== null || r.login !== null);

const file = fc.record({
  rows: fc.array(fc.record({ row, blankBefore: fc.nat(2), eol: fc.constantFrom('\n', '\r\n'), quoteAll: fc.boolean() }), {
    minLength: 1,
    maxLength: 30,
  }),
  bom: fc.boolean(),
  trailingEol: fc.boolean(),
  headerCase: fc.constantFrom('camel', 'upper', 'lower'),
});

function field(value: string, quoteAll: boolean): string {
  return quoteAll || /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

const COLUMNS = ['note', 'login', 'userId', 'clientId', 'scopeId', 'grantId'] as const;

describe('readCsvTargets round-trips any well-formed file', () => {
  it('gives back the targets that were written, each with the line its record starts on', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(file, async (f) => {
        const header = COLUMNS.map((c) => (f.headerCase === 'upper' ? c.toUpperCase() : f.headerCase === 'lower' ? c.toLowerCase() : c));
        let text = `${f.bom ? '\ufeff' : ''}${header.join(',')}`;
        const expected: TargetInput[] = [];
        f.rows.forEach(({ row: r, blankBefore, eol, quoteAll }, i) => {
          text += eol + eol.repeat(blankBefore);
          const line = text.split('\n').length; // the record starts on the line after the last \n
          const cells = { ...r, ...r.scope };
          text += COLUMNS.map((c) => field(cells[c] ?? '', quoteAll)).join(',');
          if (i === f.rows.length - 1 && f.trailingEol) text += eol;
          expected.push({ userId: r.userId, login: r.login, clientId: r.clientId, ...r.scope, line });
        });
        const path = join(tmp, `p${++n}.csv`);
        writeFileSync(path, text);
        const got: TargetInput[] = [];
        for await (const item of readCsvTargets(path)) {
          expect(item.kind).toBe('target');
          if (item.kind === 'target') got.push(item.target);
        }
        expect(got).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  });
});
