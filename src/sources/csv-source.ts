import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CsvError, parse, type Info, type Options } from 'csv-parse';
import { CsvFileError } from './csv-file-error.ts';
import { isBlankRecord, readHeader, recordToItem, type ColumnMap } from './csv-row.ts';
import type { SourceItem } from './target.ts';
import { NotTextError, Utf8Guard } from './utf8-guard.ts';

type Row = { record: string[]; line: number };

export const DEFAULT_MAX_ROW_BYTES = 64 * 1024;

export interface CsvSourceOptions {
  /** A record (all its physical lines) longer than this is a file error. Bounds memory per row. */
  maxRowBytes?: number;
  /** Called once the whole file was read, with the SHA-256 of its bytes. */
  onDigest?: (sha256: string) => void;
  /**
   * The SHA-256 the file had when it was checked: a file that differs by its end is a file
   * error, thrown after its last row (the producer then stores the run halted, never active).
   */
  expectDigest?: string;
}

/**
 * Streams targets from a CSV file: one record in memory at a time, read only as fast as
 * the caller consumes. Row problems come out as `invalid` items (the caller chooses between
 * refusing the file and --skip-invalid); anything that makes the rest of the file
 * untrustworthy (not text, broken quoting, a runaway row, no header) throws a CsvFileError.
 */
export async function* readCsvTargets(path: string, opts: CsvSourceOptions = {}): AsyncGenerator<SourceItem> {
  const maxRowBytes = opts.maxRowBytes ?? DEFAULT_MAX_ROW_BYTES;
  if (!Number.isSafeInteger(maxRowBytes) || maxRowBytes < 1) {
    throw new RangeError(`Expected \`maxRowBytes\` to be a positive integer, got ${String(maxRowBytes)}`);
  }
  await checkFile(path);
  // Lines are tracked as the parser meets records (on_record runs in parse order), not as
  // we consume them: an error may surface while parsed records still wait in the buffer.
  const lines = new LineTracker();
  const options: Options<Row, string[]> = {
    bom: true,
    skip_empty_lines: true,
    // Rows with a different field count become invalid rows below, not a file error.
    relax_column_count: true,
    // Both, so a file glued together from LF and CRLF parts still parses.
    record_delimiter: ['\r\n', '\n'],
    max_record_size: maxRowBytes,
    on_record: (record, info) => ({ record, line: lines.next(record, info) }),
  };
  // csv-parse's overloads assume on_record returns a row of the same shape; ours wraps it.
  const parser = parse(options as unknown as Options);
  // The file is read twice, checked whole and then stored: what is stored must be what was checked.
  const hash = createHash('sha256');
  const hashing = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  // Errors from any stage reach us through the parser's iterator; this only silences the duplicate.
  pipeline(createReadStream(path), hashing, new Utf8Guard(), parser).catch(() => {});
  let columns: ColumnMap | null = null;
  let rows = 0;
  let blank = 0;
  try {
    for await (const { record, line } of parser as AsyncIterable<Row>) {
      if (isBlankRecord(record)) {
        if (columns !== null) blank++;
        continue;
      }
      if (columns === null) {
        const header = readHeader(record);
        if (!header.ok) throw new CsvFileError(path, line, header.problem);
        columns = header.columns;
        continue;
      }
      rows++;
      yield recordToItem(record, columns, line);
    }
  } catch (err) {
    throw toFileError(path, err, lines, maxRowBytes);
  }
  if (columns === null) throw new CsvFileError(path, null, 'empty file: no header row and no targets');
  if (rows === 0) {
    throw new CsvFileError(path, null, blank > 0 ? `no targets: the ${blank} rows after the header are all blank (every cell empty)` : 'no targets: the header row is followed by no rows');
  }
  // The parser has ended, so every byte went through the hash.
  const digest = hash.digest('hex');
  opts.onDigest?.(digest);
  if (opts.expectDigest !== undefined && digest !== opts.expectDigest) {
    throw new CsvFileError(path, null, 'changed after it was checked: the run is kept halted and nothing of it is revoked; run it again on the file as it is now');
  }
}

async function checkFile(path: string): Promise<void> {
  let stats;
  try {
    stats = await stat(path);
  } catch (err) {
    throw toFileError(path, err, null, 0);
  }
  if (stats.isDirectory()) throw new CsvFileError(path, null, 'is a directory, not a CSV file');
  // A pipe (`<(…)`, /dev/stdin) or a device cannot be read twice: once to check, once to store.
  if (!stats.isFile()) throw new CsvFileError(path, null, 'is not a regular file (a pipe or a device): it is read twice, checked whole and then stored; save it to a file first');
  if (stats.size === 0) throw new CsvFileError(path, null, 'empty file: no header row and no targets');
}

/**
 * The physical line (counting LF) each record starts on. csv-parse's own `info.lines`
 * counts the CR of a CRLF inside a quoted field as a line of its own, so it is not used:
 * a record spans one line plus one per LF inside its (quoted) fields, and the parser's
 * `empty_lines` count says how many blank lines it skipped before the next one.
 */
class LineTracker {
  #next = 1;
  #empty = 0;
  next(fields: readonly string[], info: Pick<Info, 'empty_lines'>): number {
    const start = this.peek(info);
    let lf = 0;
    for (const f of fields) for (let i = f.indexOf('\n'); i !== -1; i = f.indexOf('\n', i + 1)) lf++;
    this.#next = start + lf + 1;
    this.#empty = info.empty_lines;
    return start;
  }
  /** Where the record being parsed now starts (for errors raised before it is complete). */
  peek(info: Pick<Info, 'empty_lines'>): number {
    return this.#next + (info.empty_lines - this.#empty);
  }
}

function toFileError(path: string, err: unknown, lines: LineTracker | null, maxRowBytes: number): unknown {
  if (err instanceof CsvFileError) return err;
  if (err instanceof NotTextError) return new CsvFileError(path, err.line, `not UTF-8 text (${err.detail})`);
  if (err instanceof CsvError) {
    // Every CSV error names the line its record starts on, like invalid rows do.
    const emptyLines = typeof err.empty_lines === 'number' ? err.empty_lines : 0;
    const line = lines?.peek({ empty_lines: emptyLines }) ?? null;
    switch (err.code) {
      case 'CSV_MAX_RECORD_SIZE':
        return new CsvFileError(path, line, `row longer than ${maxRowBytes} bytes (if the row looks short, a quote that opens here is never closed)`);
      case 'CSV_QUOTE_NOT_CLOSED':
        return new CsvFileError(path, line, 'unterminated quote: the quoted field that starts in this row never closes');
      case 'CSV_INVALID_CLOSING_QUOTE':
      case 'CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE':
        return new CsvFileError(path, line, 'text after a closing quote: a quote inside a quoted field must be doubled ("")');
      case 'INVALID_OPENING_QUOTE':
        return new CsvFileError(path, line, 'a quote inside an unquoted field: quote the whole field and double the quote ("a""b")');
      default:
        return new CsvFileError(path, line, `not valid CSV: ${err.message}`);
    }
  }
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOENT') return new CsvFileError(path, null, 'no such file');
  if (code === 'EACCES' || code === 'EPERM') return new CsvFileError(path, null, 'cannot be read (permission denied)');
  if (code === 'EISDIR') return new CsvFileError(path, null, 'is a directory, not a CSV file');
  if (code === 'ENOTDIR') return new CsvFileError(path, null, 'no such file (a part of the path is not a folder)');
  if (code === 'ELOOP') return new CsvFileError(path, null, 'cannot be read (a loop of symbolic links)');
  if (code === 'ENAMETOOLONG') return new CsvFileError(path, null, 'cannot be read (the path is too long)');
  // Any other error of the file system names its code, never a stack.
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return new CsvFileError(path, null, `cannot be read (${code})`);
  return err;
}
