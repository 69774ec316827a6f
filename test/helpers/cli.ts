import { spawn } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { ExitCode } from '../../src/errors.ts';
import { main } from '../../src/cli/index.ts';
import type { CliIO } from '../../src/cli/io.ts';

export const BIN = fileURLToPath(new URL('../../bin/grantsweep.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in this process with captured streams (fast; used by most tests). */
export async function runCli(
  args: string[],
  env: NodeJS.ProcessEnv,
  opts: { confirm?: boolean | ((question: string) => Promise<boolean>); tty?: boolean } = {},
): Promise<CliResult> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let o = '';
  let e = '';
  stdout.on('data', (d) => (o += d));
  stderr.on('data', (d) => (e += d));
  const io: CliIO = {
    stdout: Object.assign(stdout, { isTTY: opts.tty }),
    stderr: Object.assign(stderr, { isTTY: opts.tty }),
    stdinIsTTY: !!opts.tty,
    env: { LOG_LEVEL: 'warn', ...env },
    confirm: async (question) => (typeof opts.confirm === 'function' ? opts.confirm(question) : opts.confirm ?? false),
  };
  const code: ExitCode = await main(args, io);
  stdout.end();
  stderr.end();
  return { code, stdout: o, stderr: e };
}

/** Spawns the real binary (for crash, signal and multi-process tests); `entry`: another entry point, such as the compiled one. */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv, entry = BIN) {
  const child = spawn(process.execPath, [entry, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<CliResult>((resolve) => {
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
  });
  return { child, done, output: () => ({ stdout, stderr }) };
}
