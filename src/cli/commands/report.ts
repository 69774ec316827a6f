import { constants } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { EXIT, UsageError, type ExitCode } from '../../errors.ts';
import { writeHtmlReport } from '../../runs/html-report.ts';
import { STATUSES } from '../../runs/record.ts';
import { writeCsvReport, writeJsonReport } from '../../runs/report.ts';
import { parseStatusList } from '../../runs/status-list.ts';
import { openContext } from '../context.ts';
import type { CliIO } from '../io.ts';
import { checkRunId } from '../run-options.ts';

/** `grantsweep report <runId>`: every target's result, as JSON (default) or CSV; or a page (HTML) for people. */
export async function reportCommand(io: CliIO, runId: string, flags: { format?: string; out?: string; status?: string }): Promise<ExitCode> {
  checkRunId(runId, 'runId');
  const format = flags.format ?? 'json';
  if (format !== 'json' && format !== 'csv' && format !== 'html') throw new UsageError(`--format: expected json, csv or html, got ${JSON.stringify(format)}`);
  // The page is the run's whole story (its chart, its failures); the data formats can be cut down.
  if (flags.status !== undefined && format === 'html') throw new UsageError('--status chooses the rows of a json or csv report; the html page shows the whole run');
  const filter = flags.status === undefined ? {} : { status: parseStatusList('--status', flags.status, STATUSES, 'of a target') };
  const ctx = await openContext(io, {});
  try {
    await ctx.store.requireMeta(runId);
    // `stop`: stdout's reader has gone (`| head`); the rows left are not read.
    const write = (out: Writable, stop?: AbortSignal) =>
      format === 'csv' ? writeCsvReport(ctx.store, runId, out, { ...filter, stop })
      : format === 'html' ? writeHtmlReport(ctx.store, runId, out)
      : writeJsonReport(ctx.store, runId, out, { ...filter, stop });
    if (flags.out !== undefined) {
      if (flags.out.trim() === '') throw new UsageError('--out: expected a file name, got an empty one (leave --out out to write to stdout)');
      await writeFile(flags.out, write);
    } else {
      await write(io.stdout, io.stdoutGone);
    }
    return EXIT.ok;
  } finally {
    await ctx.resources.releaseAll();
  }
}

/**
 * `--out FILE`: opened before the first row (a missing folder, a directory, no permission are
 * said at once, naming the file), written, and closed; a write that fails (a full disk) is said
 * the same way. Never a stream's unhandled 'error'.
 */
async function writeFile(path: string, write: (out: Writable) => Promise<void>): Promise<void> {
  const refused = (err: unknown) => {
    const code = (err as NodeJS.ErrnoException | null)?.code ?? 'error';
    const why = code === 'ENOENT' ? 'its folder does not exist' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'ENOSPC' ? 'no space left on the device' : code;
    return new UsageError(`--out ${path}: cannot be written (${why})`);
  };
  // A named pipe nobody reads would hold the open, and the command, for ever (one with a reader,
  // such as >(gzip > r.gz), is written as a file is); a socket cannot be opened at all.
  const kind = await stat(path).then((s) => (s.isFIFO() ? 'fifo' : s.isSocket() ? 'socket' : null), () => null);
  if (kind === 'socket') throw new UsageError(`--out ${path}: cannot be written (it is a socket); name a file, or leave --out out for stdout`);
  let probe: FileHandle | null = null;
  if (kind === 'fifo') {
    const p = await open(path, constants.O_WRONLY | constants.O_NONBLOCK).catch((e: NodeJS.ErrnoException) => e);
    if (!('close' in p)) {
      throw new UsageError(`--out ${path}: cannot be written (${p.code === 'ENXIO' ? 'a named pipe nobody reads' : p.code ?? 'error'}); name a file, or leave --out out for stdout`);
    }
    probe = p;
  }
  let handle;
  try {
    handle = await open(path, 'w', 0o600);
  } catch (err) {
    throw refused(err);
  } finally {
    // Closed only once the real handle is open: the pipe's last writer closing would be its end of file.
    await probe?.close();
  }
  const file = handle.createWriteStream();
  // Failures come back through the writes and `finished`; the event itself must have a listener.
  file.on('error', () => {});
  try {
    // A failed write rejects the write in progress, or the close below.
    await write(file);
    file.end();
    await finished(file);
  } catch (err) {
    file.destroy();
    throw refused(err);
  }
}
