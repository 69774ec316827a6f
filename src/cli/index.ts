import { CommanderError } from 'commander';
import pkg from '../../package.json' with { type: 'json' };
import { flagName, SECRET_FLAGS, secretFlagRefused } from '../../config/load.ts';
import { EXIT, ExitError, type ExitCode } from '../errors.ts';
import { InvalidIdError } from '../okta/ids.ts';
import { NotOktaError, OktaApiError, OktaNetworkError, OktaResponseError } from '../okta/errors.ts';
import { isRedisConnectionError, redisErrorText } from '../redis/connection.ts';
import { askYesNo, drained, readerSafe, type CliIO } from './io.ts';
import { buildProgram } from './program.ts';

/**
 * The error boundary: every error that ends a command becomes one clear line on
 * stderr and a documented exit code. Nothing here prints a stack for an expected
 * error, and no message carries a credential (errors are built without headers).
 */
export async function main(argv: string[], io: CliIO): Promise<ExitCode> {
  const result: { code: ExitCode } = { code: EXIT.ok };
  const program = buildProgram(io, result);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return result.code;
  } catch (err) {
    return reportError(io, err);
  }
}

export function reportError(io: CliIO, err: unknown): ExitCode {
  if (err instanceof CommanderError) {
    // Help and version exit 0; usage mistakes were already printed by commander.
    // Commander has said the option is unknown; a credential's flag also says where the credential goes.
    const secret = err.code === 'commander.unknownOption' ? Object.entries(SECRET_FLAGS).find(([key]) => err.message.includes(`'${flagName(key)}'`) || err.message.includes(`'${flagName(key)}=`)) : undefined;
    if (secret) io.stderr.write(`grantsweep: ${flagName(secret[0])}: ${secretFlagRefused(secret[1])}\n`);
    return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  if (err instanceof ExitError) {
    io.stderr.write(`grantsweep: ${err.message}\n`);
    return err.exitCode;
  }
  if (err instanceof InvalidIdError) {
    io.stderr.write(`grantsweep: ${err.message}\n`);
    return EXIT.usage;
  }
  if (err instanceof OktaApiError) {
    const hint =
      err.kind === 'unauthorized' ? ': credentials rejected; check OKTA_API_TOKEN, or the service app\'s client id, key and scopes'
      : err.kind === 'forbidden' ? ': permission missing; the token needs okta.users.read/okta.users.manage (and okta.groups.read / okta.apps.read for those sources) and an admin role for these users'
      : '';
    io.stderr.write(`grantsweep: Okta answered ${err.status} ${err.errorCode ?? ''} ${err.errorSummary ?? ''}${hint}\n`);
    return err.kind === 'invalid_request' || err.kind === 'not_found' ? EXIT.usage : EXIT.halted;
  }
  if (err instanceof Error && /^OOM /.test(err.message)) {
    io.stderr.write(`grantsweep: Redis is full (${redisErrorText(err)}): raise its maxmemory, or delete old runs (\`grantsweep runs prune --older-than 30d\`). What was written before stays; a run being stored is left halted or queued (see \`grantsweep runs\`)\n`);
    return EXIT.halted;
  }
  if (isRedisConnectionError(err)) {
    io.stderr.write(`grantsweep: lost the connection to Redis (${redisErrorText(err as Error)}); check that it is running. Runs stay in Redis: \`grantsweep status\` shows them once it is back\n`);
    return EXIT.halted;
  }
  if (err instanceof NotOktaError) {
    io.stderr.write(`grantsweep: ${err.message}\n`);
    return EXIT.halted;
  }
  if (err instanceof OktaResponseError) {
    io.stderr.write(`grantsweep: Okta's answer could not be used: ${err.message}; \`grantsweep check\` tries the way, and Okta's System Log may say more\n`);
    return EXIT.halted;
  }
  if (err instanceof OktaNetworkError) {
    io.stderr.write(`grantsweep: ${err.kind === 'proxy_refused' ? err.proxyHint : `Okta could not be reached: ${err.message}`}\n`);
    return EXIT.halted;
  }
  const e = err instanceof Error ? err : new Error(String(err));
  io.stderr.write(
    `grantsweep: unexpected error (this is a bug; please report it with the line below, grantsweep ${pkg.version}, node ${process.version})\n${e.stack ?? e.message}\n`,
  );
  return EXIT.failures;
}

function processIO(): CliIO & { stdoutFailure: () => NodeJS.ErrnoException | null } {
  const stdout = readerSafe(process.stdout);
  return {
    stdoutFailure: stdout.failure,
    stdout: stdout.stream,
    stdoutGone: stdout.gone,
    stderr: process.stderr,
    stdinIsTTY: !!process.stdin.isTTY,
    env: process.env,
    confirm: (question) => askYesNo(question, process.stdin, process.stderr),
  };
}

/** The process entry point, called by bin/grantsweep.js. */
export async function cli(): Promise<void> {
  const io = processIO();
  let code = await main(process.argv.slice(2), io);
  await Promise.all([drained(io.stdout).then(() => (io.stdoutGone?.aborted ? undefined : drained(process.stdout))), drained(process.stderr)]);
  // Output that could not be written (a full disk): a command that otherwise succeeded did not.
  const broken = io.stdoutFailure();
  if (broken) {
    io.stderr.write(`grantsweep: stdout cannot be written (${broken.code ?? broken.message}): the output is incomplete\n`);
    if (code === EXIT.ok) code = EXIT.usage;
  }
  process.exitCode = code;
  // Whatever keeps the loop alive after this (a socket in close) must not hang the command;
  // it is a leak of ours, so it is said (no test's command reaches it).
  setTimeout(() => {
    process.stderr.write(`grantsweep: still running 3 s after the command ended (a handle left open): exiting ${code}\n`);
    process.exit(code);
  }, 3_000).unref();
}
