import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { CsvError, parse, type Info } from 'csv-parse';
import { CsvFileError } from './csv-file-error.ts';
import { isBlankRecord, readHeader, recordToItem, type ColumnMap } from './csv-row.ts';
import type { SourceItem } from './target.ts';
import { NotTextError, Utf8Guard } from './utf8-guard.ts';

export const DEFAULT_MAX_ROW_BYTES = 64 * 1024;

export interface CsvSourceOptions {
  /** A record (all its physical lines) longer than this is a file error. Bounds memory per row. */
  maxRowBytes?: number;
}

/**
 * Streams targets from a CSV file: one record in memory at a time, read only as fast as
 * the caller consumes. Row problems come out as `invalid` items (the caller chooses between
 * refusing the file and --skip-invalid); anything that makes the rest of the file
 * untrustworthy (not text, broken quoting, a runaway row, no header) throws a CsvFileError.
 */
export async function* readCsvTargets(path: string, opts: CsvSourceOptions = {}): AsyncGenerator<SourceItem> {
  const maxRowBytes = opts.maxRowBytes ?? DEFAULT_MAX_ROW_BYTES;
  await checkFile(path);
  const parser = parse({
    bom: true,
    info: true,
    skip_empty_lines: true,
    // Rows with a different field count become invalid rows below, not a file error.
    relax_column_count: true,
    // Both, so a file glued together from LF and CRLF parts still parses.
    record_delimiter: ['\r\n', '\n'],
    max_record_size: maxRowBytes,
  });
  // Errors from any stage reach us through the parser's iterator; this only silences the duplicate.
  pipeline(createReadStream(path), new Utf8Guard(), parser).catch(() => {});
  const lines = new LineTracker();
  let columns: ColumnMap | null = null;
  let rows = 0;
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: Info }>) {
      const line = lines.next(info);
      if (isBlankRecord(record)) continue;
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
  if (rows === 0) throw new CsvFileError(path, null, 'no targets: the header row is followed by no rows');
}

async function checkFile(path: string): Promise<void> {
  let stats;
  try {
    stats = await stat(path);
  } catch (err) {
    throw toFileError(path, err, null, 0);
  }
  if (stats.isDirectory()) throw new CsvFileError(path, null, 'is a directory, not a CSV file');
  if (stats.isFile() && stats.size === 0) throw new CsvFileError(path, null, 'empty file: no header row and no targets');
}

/**
 * csv-parse reports the line a record ENDS on; a quoted field may span lines, and the
 * user needs the line it starts on. That is one past the previous record's end, plus
 * the blank lines skipped in between.
 */
class LineTracker {
  #end = 0;
  #empty = 0;
  next(info: Pick<Info, 'lines' | 'empty_lines'>): number {
    const start = this.peek(info);
    this.#end = info.lines;
    this.#empty = info.empty_lines;
    return start;
  }
  peek(info: Pick<Info, 'empty_lines'>): number {
    return this.#end + 1 + (info.empty_lines - this.#empty);
  }
}

function toFileError(path: string, err: unknown, lines: LineTracker | null, maxRowBytes: number): unknown {
  if (err instanceof CsvFileError) return err;
  if (err instanceof NotTextError) return new CsvFileError(path, err.line, `not UTF-8 text (${err.detail})`);
  if (err instanceof CsvError) {
    const start = lines?.peek(err as unknown as Info) ?? null;
    const at = typeof (err as { lines?: unknown }).lines === 'number' ? (err as unknown as Info).lines : start;
    switch (err.code) {
      case 'CSV_MAX_RECORD_SIZE':
        return new CsvFileError(path, start, `row longer than ${maxRowBytes} bytes (if the row looks short, a quote that opens here is never closed)`);
      case 'CSV_QUOTE_NOT_CLOSED':
        return new CsvFileError(path, start, 'unterminated quote: the quoted field that starts in this row never closes');
      case 'CSV_INVALID_CLOSING_QUOTE':
      case 'CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE':
        return new CsvFileError(path, at, 'text after a closing quote: a quote inside a quoted field must be doubled ("")');
      case 'INVALID_OPENING_QUOTE':
        return new CsvFileError(path, at, 'a quote inside an unquoted field: quote the whole field and double the quote ("a""b")');
      default:
        return new CsvFileError(path, at, `not valid CSV: ${err.message}`);
    }
  }
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOENT') return new CsvFileError(path, null, 'no such file');
  if (code === 'EACCES' || code === 'EPERM') return new CsvFileError(path, null, 'cannot be read (permission denied)');
  if (code === 'EISDIR') return new CsvFileError(path, null, 'is a directory, not a CSV file');
  return err;
}
