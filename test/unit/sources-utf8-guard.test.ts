import { Readable } from 'node:stream';
import { buffer as collect } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NotTextError, Utf8Guard } from '../../src/sources/utf8-guard.ts';

/** Feeds `bytes` to the guard in the given chunk sizes; returns what came out, or the error. */
async function guard(bytes: Buffer, cuts: number[] = []): Promise<Buffer | NotTextError> {
  const chunks: Buffer[] = [];
  let at = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    if (cut > at && cut < bytes.length) chunks.push(bytes.subarray(at, cut)), (at = cut);
  }
  chunks.push(bytes.subarray(at));
  const out = new Utf8Guard();
  const result = collect(out);
  result.catch(() => {}); // the same error arrives through pipeline() below
  return pipeline(Readable.from(chunks), out)
    .then(() => result)
    .catch((e: unknown) => {
      if (e instanceof NotTextError) return e;
      throw e;
    });
}

const strictDecoder = new TextDecoder('utf-8', { fatal: true });
function isText(bytes: Buffer): boolean {
  try {
    strictDecoder.decode(bytes);
    return !bytes.includes(0);
  } catch {
    return false;
  }
}

describe('Utf8Guard', () => {
  it('passes any UTF-8 text through byte for byte, however the chunks split its characters', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'grapheme' }), fc.array(fc.nat(400)), async (s, cuts) => {
        const bytes = Buffer.from(s.replaceAll('\u0000', ''));
        const out = await guard(bytes, cuts);
        expect(out).toEqual(bytes);
      }),
      { numRuns: 300 },
    );
  });

  it('accepts exactly the byte strings a strict decoder accepts without a NUL', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 64 }), fc.array(fc.nat(64)), async (raw, cuts) => {
        const bytes = Buffer.from(raw);
        const out = await guard(bytes, cuts);
        expect(out instanceof NotTextError).toBe(!isText(bytes));
      }),
      { numRuns: 1000 },
    );
  });

  it('names the line of the first bad byte, counting LFs before it across chunks', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.constantFrom('ab', 'é', '\n', '\r\n', '日'), { maxLength: 40 }), fc.array(fc.nat(120)), async (parts, cuts) => {
        const good = Buffer.from(parts.join(''));
        const out = await guard(Buffer.concat([good, Buffer.from([0xff]), Buffer.from('\nmore\n')]), cuts);
        expect(out).toBeInstanceOf(NotTextError);
        expect((out as NotTextError).line).toBe(parts.join('').split('\n').length);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a character cut off by the end of the file', async () => {
    const out = await guard(Buffer.from([0x61, 0x0a, 0xe6, 0x97]));
    expect(out).toBeInstanceOf(NotTextError);
    expect((out as NotTextError).line).toBe(2);
    expect((out as NotTextError).detail).toBe('truncated character at end of file');
  });

  it('refuses overlong encodings and UTF-16 surrogates encoded as UTF-8', async () => {
    expect(await guard(Buffer.from([0xc0, 0xaf]))).toBeInstanceOf(NotTextError);
    expect(await guard(Buffer.from([0xed, 0xa0, 0x80]))).toBeInstanceOf(NotTextError);
  });
});
