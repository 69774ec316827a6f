import { isUtf8 } from 'node:buffer';
import { Transform, type TransformCallback } from 'node:stream';

/** Thrown by the guard: the bytes on `line` are not UTF-8 text. */
export class NotTextError extends Error {
  constructor(
    readonly line: number,
    readonly detail: string,
  ) {
    super(`line ${line}: not UTF-8 text (${detail})`);
    this.name = 'NotTextError';
  }
}

/**
 * Passes bytes through unchanged and fails on the first NUL or invalid UTF-8 sequence,
 * naming its line. csv-parse would otherwise decode garbage into U+FFFD and hand us
 * "ids" that look almost right; a binary file must be refused, not half-read.
 * Only the (at most 3) bytes of a character split across chunks are held back.
 */
export class Utf8Guard extends Transform {
  #carry: Buffer = Buffer.alloc(0);
  #linesBefore = 0;
  #first = true;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const buf = this.#carry.length ? Buffer.concat([this.#carry, chunk]) : chunk;
    if (this.#first) {
      this.#first = false;
      // A UTF-16 file is the usual "binary" CSV (Excel's "Unicode text"); say so.
      if ((buf[0] === 0xff && buf[1] === 0xfe) || (buf[0] === 0xfe && buf[1] === 0xff)) {
        return done(new NotTextError(1, 'UTF-16 byte order mark; save the file as UTF-8'));
      }
    }
    const end = buf.length - incompleteTail(buf);
    const body = buf.subarray(0, end);
    const bad = firstBadByte(body);
    if (bad !== -1) return done(new NotTextError(this.#lineAt(body, bad), describeByte(body, bad)));
    this.#linesBefore += countNewlines(body, body.length);
    this.#carry = Buffer.from(buf.subarray(end));
    done(null, body);
  }

  override _flush(done: TransformCallback): void {
    if (this.#carry.length) return done(new NotTextError(this.#lineAt(this.#carry, 0), 'truncated character at end of file'));
    done();
  }

  #lineAt(buf: Buffer, offset: number): number {
    return this.#linesBefore + countNewlines(buf, offset) + 1;
  }
}

function describeByte(buf: Buffer, i: number): string {
  const b = buf[i] ?? 0;
  return b === 0 ? 'a NUL byte' : `invalid byte 0x${b.toString(16).padStart(2, '0')}`;
}

function countNewlines(buf: Buffer, end: number): number {
  let n = 0;
  for (let i = buf.indexOf(10); i !== -1 && i < end; i = buf.indexOf(10, i + 1)) n++;
  return n;
}

/** How many bytes at the end start a multi-byte character that the next chunk completes. */
function incompleteTail(buf: Buffer): number {
  for (let back = 1; back <= Math.min(3, buf.length); back++) {
    const b = buf[buf.length - back] ?? 0;
    if ((b & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

/** Index of the first NUL or invalid UTF-8 byte, or -1. Fast path first; the scan only locates. */
function firstBadByte(buf: Buffer): number {
  const nul = buf.indexOf(0);
  if (nul === -1 && isUtf8(buf)) return -1;
  const limit = nul === -1 ? buf.length : nul;
  for (let i = 0; i < limit; ) {
    const len = sequenceLength(buf, i);
    if (len === 0) return i;
    i += len;
  }
  return limit < buf.length ? limit : 0;
}

/** Length of the well-formed UTF-8 sequence at `i` (RFC 3629: no overlongs, surrogates or > U+10FFFF), or 0. */
function sequenceLength(buf: Buffer, i: number): number {
  const b0 = buf[i] ?? 0;
  if (b0 < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => {
    const b = buf[i + k];
    return b !== undefined && b >= lo && b <= hi;
  };
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(1) ? 2 : 0;
  if (b0 >= 0xe0 && b0 <= 0xef) {
    const [lo, hi] = b0 === 0xe0 ? [0xa0, 0xbf] : b0 === 0xed ? [0x80, 0x9f] : [0x80, 0xbf];
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    const [lo, hi] = b0 === 0xf0 ? [0x90, 0xbf] : b0 === 0xf4 ? [0x80, 0x8f] : [0x80, 0xbf];
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}
