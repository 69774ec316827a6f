import pino, { type Logger } from 'pino';

/**
 * Logs are JSON lines on stderr (stdout belongs to a command's output), pretty on a
 * terminal. Redaction is a second line of defence: no code logs a credential, and
 * errors are built without request headers.
 */
export const REDACT_PATHS = [
  'authorization',
  'Authorization',
  '*.authorization',
  '*.Authorization',
  'headers.authorization',
  '*.headers.authorization',
  'token',
  '*.token',
  'apiToken',
  '*.apiToken',
  'privateKey',
  '*.privateKey',
  'accessToken',
  '*.accessToken',
  'access_token',
  '*.access_token',
  'client_assertion',
  '*.client_assertion',
  'password',
  '*.password',
  'secret',
  '*.secret',
];

const FLUSH_MS = 200;

/** `level` is the validated configuration's (config/load.ts reads LOG_LEVEL), never the raw variable. */
export function createLogger(opts: { level: string; pretty?: boolean; destination?: number }): Logger {
  const level = opts.level;
  const pretty = opts.pretty ?? (process.stderr.isTTY && !process.env.CI);
  const redact = { paths: REDACT_PATHS, censor: '[redacted]' };
  if (pretty) {
    return pino({
      level,
      redact,
      transport: { target: 'pino-pretty', options: { destination: 2, colorize: true, ignore: 'pid,hostname' } },
    });
  }
  // Lines are written 4 KB at a time (a fast run logs thousands a second; one write each
  // cost a tenth of a worker's CPU), and at least every FLUSH_MS; pino flushes what is
  // left when the process exits.
  const dest = pino.destination({ dest: opts.destination ?? 2, sync: false, minLength: 4096 });
  setInterval(() => {
    try {
      dest.flush();
    } catch {
      // closed already
    }
  }, FLUSH_MS).unref();
  return pino({ level, redact, base: { pid: process.pid } }, dest);
}
