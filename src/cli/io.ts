import { once } from 'node:events';
import { createInterface } from 'node:readline/promises';
import { Writable } from 'node:stream';

/** Where a command writes: stdout is its output, stderr its progress and logs. Injectable for tests. */
export interface CliIO {
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  stdinIsTTY: boolean;
  env: NodeJS.ProcessEnv;
  /** Asks a yes/no question on the terminal. */
  confirm: (question: string) => Promise<boolean>;
  /** Aborted once stdout's reader has gone (`report … | head`): what is written after it is dropped. */
  stdoutGone?: AbortSignal;
}

export async function out(io: CliIO, text: string): Promise<void> {
  if (!io.stdout.write(text)) await once(io.stdout, 'drain');
}

export function err(io: CliIO, text: string): void {
  io.stderr.write(text);
}

/** Resolves once everything written to the stream has been handed to the OS. */
export function drained(stream: Writable): Promise<void> {
  return new Promise((resolve) => {
    if (stream.writableLength === 0) return resolve();
    stream.write('', () => resolve());
  });
}

/**
 * The process's stdout for a reader that may stop early (`report … | head -1`, `runs | grep -m1`).
 * After the pipe's EPIPE the rest is dropped instead of failing the command: a report stops
 * (it watches `gone`), and any other command ends as it would have, with its own exit code
 * (a `run`'s summary cut short does not turn its failed targets into a crash).
 */
export function readerSafe(stdout: NodeJS.WriteStream): {
  stream: Writable & { isTTY?: boolean };
  gone: AbortSignal;
  /** A write that failed otherwise (ENOSPC on a full disk, EIO): the output is incomplete, and the command must say so. */
  failure: () => NodeJS.ErrnoException | null;
} {
  const gone = new AbortController();
  let failure: NodeJS.ErrnoException | null = null;
  const lost = (err: Error | null | undefined) => {
    if (!err) return;
    if ((err as NodeJS.ErrnoException).code !== 'EPIPE') failure ??= err;
    gone.abort();
  };
  // The write's error also comes as an event on stdout: without a listener it would be thrown.
  stdout.on('error', lost);
  const stream = new Writable({
    write(chunk, encoding, done) {
      if (gone.signal.aborted) return done();
      stdout.write(chunk, encoding, (err) => {
        lost(err);
        done();
      });
    },
  });
  return { stream: Object.assign(stream, { isTTY: stdout.isTTY }), gone: gone.signal, failure: () => failure };
}

/**
 * A yes/no question on the terminal. Anything but y or yes is no; so are Ctrl-C and Ctrl-D,
 * which end the question (readline rejects it) rather than the process: the command then says
 * "not confirmed" and nothing was done.
 */
export async function askYesNo(question: string, input: NodeJS.ReadableStream, output: NodeJS.WritableStream): Promise<boolean> {
  const rl = createInterface({ input, output });
  // The input ending (Ctrl-D) closes the interface without settling the question.
  const closed = once(rl, 'close').then(() => null);
  try {
    const answer = await Promise.race([rl.question(question), closed]);
    if (answer === null) throw new Error('the input ended');
    return /^y(es)?$/i.test(answer.trim());
  } catch {
    output.write('\n');
    return false;
  } finally {
    rl.close();
  }
}
