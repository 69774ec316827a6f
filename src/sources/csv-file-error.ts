import { UsageError } from '../errors.ts';

/**
 * The whole file is refused (exit 2, nothing enqueued). The message reads
 * `path:line: problem` like a compiler's, so editors and terminals can jump to it;
 * `line` is null when the problem is the file itself (missing, empty, a directory).
 */
export class CsvFileError extends UsageError {
  constructor(
    readonly path: string,
    readonly line: number | null,
    readonly problem: string,
  ) {
    super(line === null ? `${path}: ${problem}` : `${path}:${line}: ${problem}`);
  }
}
