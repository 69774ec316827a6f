import { once } from 'node:events';
import type { Writable } from 'node:stream';

/** Where a command writes: stdout is its output, stderr its progress and logs. Injectable for tests. */
export interface CliIO {
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  stdinIsTTY: boolean;
  env: NodeJS.ProcessEnv;
  /** Asks a yes/no question on the terminal. */
  confirm: (question: string) => Promise<boolean>;
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
