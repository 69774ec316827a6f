import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { nextLink } from '../../src/okta/link-header.ts';
import { validatePathId } from '../../src/okta/ids.ts';
import { CsvFileError } from '../../src/sources/csv-file-error.ts';
import { readCsvTargets } from '../../src/sources/csv-source.ts';
import type { SourceItem } from '../../src/sources/target.ts';

/**
 * Hostile input, as properties: whatever bytes a CSV holds, the source either refuses
 * the file (a CsvFileError naming the file) or yields targets whose every id is a safe
 * path segment and invalid rows with their line; never another error, never a hang.
 * Whatever a Link header says, the parser answers null or a URL it was given.
 */

const tmp = mkdtempSync(join(tmpdir(), 'gs-hostile-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;

async function readAll(content: string | Uint8Array): Promise<{ items: SourceItem[] } | { error: unknown }> {
  const path = join(tmp, `f${++n}.csv`);
  writeFileSync(path, content);
  const items: SourceItem[] = [];
  try {
    for await (const item of readCsvTargets(path, { maxRowBytes: 4096 })) items.push(item);
    return { items };
  } catch (error) {
    return { error };
  }
}

function checkOutcome(out: { items: SourceItem[] } | { error: unknown }): void {
  if ('error' in out) {
    expect(out.error).toBeInstanceOf(CsvFileError);
    const e = out.error as CsvFileError;
    if (e.line !== null) expect(e.line).toBeGreaterThanOrEqual(1);
    expect(e.message).not.toMatch(/\n/);
    return;
  }
  let last = 1;
  for (const item of out.items) {
    const line = item.kind === 'target' ? item.target.line! : item.row.line;
    expect(line).toBeGreaterThan(last - 1);
    last = line;
    if (item.kind === 'invalid') {
      expect(item.row.problem.length).toBeGreaterThan(0);
      continue;
    }
    const t = item.target;
    expect(t.userId !== null || t.login !== null).toBe(true);
    for (const [kind, v] of [['userId', t.userId], ['login', t.login], ['clientId', t.clientId], ['scopeId', t.scopeId], ['grantId', t.grantId]] as const) {
      if (v !== null) expect(validatePathId(kind, v)).toBe(v);
    }
  }
}

// Text made of the characters that matter to a CSV parser and to a URL path.
const nasty = fc
  .array(fc.constantFrom('a', 'Z', '0', ',', '"', '\n', '\r', '\r\n', ' ', '/', '..', '%2e', '%', '?', '#', '\\', '\u0000', '\u0007', '\u202e', 'é', '\ufeff', 'me', ''), { maxLength: 80 })
  .map((parts) => parts.join(''));

describe('the CSV source under hostile text', () => {
  it('a valid header followed by anything: refused as a file, or safe targets and located invalid rows', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('userId', 'login', 'userId,login,clientId', 'login,grantId,userId,scopeId'), nasty, async (header, body) => {
        checkOutcome(await readAll(`${header}\n${body}`));
      }),
      { numRuns: 300 },
    );
  });

  it('arbitrary bytes: never anything but a CsvFileError or safe targets', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (bytes) => {
        checkOutcome(await readAll(Buffer.concat([Buffer.from('userId,clientId\n'), Buffer.from(bytes)])));
      }),
      { numRuns: 300 },
    );
  });

  it('rows longer than the limit are refused with their line, whatever they hold', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(5), fc.string({ minLength: 1, maxLength: 3 }), async (before, unit) => {
        const rows = Array.from({ length: before }, (_, i) => `00u${i}ok`).join('\n');
        // (Separators and spaces alone would make a blank record, which is skipped, not refused.)
        const long = unit.replace(/[\r\n",\s]/g, 'x').repeat(Math.ceil(5000 / unit.length));
        const out = await readAll(`userId\n${rows}${rows ? '\n' : ''}${long}\n`);
        expect('error' in out).toBe(true);
        const e = (out as { error: CsvFileError }).error;
        expect(e).toBeInstanceOf(CsvFileError);
        expect(e.line).toBe(before + 2);
      }),
      { numRuns: 100 },
    );
  });
});

describe('the Link parser under hostile headers', () => {
  it('never throws; answers null or a URL that was in the header', () => {
    const part = fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('<', '>', ';', ',', 'rel="next"', 'rel=next', '"', ' ', 'http://x/?a=1&b=<2>', '\\'));
    const header = fc.array(part, { maxLength: 12 }).map((p) => p.join(''));
    fc.assert(
      fc.property(fc.oneof(header, fc.array(header, { maxLength: 3 })), (h) => {
        const got = nextLink(h);
        if (got !== null) expect((Array.isArray(h) ? h.join(',') : h)).toContain(got);
      }),
      { numRuns: 2_000 },
    );
  });
});
