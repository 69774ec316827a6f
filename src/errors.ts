/**
 * Errors that end a command carry the process exit code with them; the CLI's
 * error boundary (src/cli/index.ts) is the only place that turns them into an exit.
 *
 *   0 completed, nothing failed · 1 completed with failures, or cancelled
 *   2 usage or input error, nothing enqueued · 3 halted, or Redis/Okta unreachable
 */
export const EXIT = { ok: 0, failures: 1, usage: 2, halted: 3 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class ExitError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad flags, bad configuration, bad input file: nothing was enqueued. Exit 2. */
export class UsageError extends ExitError {
  constructor(message: string) {
    super(EXIT.usage, message);
  }
}

/** Credentials rejected, permission missing, Redis or Okta unreachable. Exit 3. */
export class HaltError extends ExitError {
  constructor(message: string) {
    super(EXIT.halted, message);
  }
}
