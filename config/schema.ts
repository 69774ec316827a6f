import { z } from 'zod';
import { isClusterUrl, parseClusterUrl } from '../src/redis/cluster-url.ts';
import { PERCENT_RULE, percentDecoded } from '../src/percent-decoding.ts';
import { maskRedisUrl, parseRedisUrl } from '../src/redis/redis-url.ts';
import { RUN_ID, RUN_ID_RULE } from '../src/runs/run-id.ts';

/**
 * Every setting grantsweep reads, its form and its range. Messages say what was expected
 * and what was given, never which variable or flag: load.ts prefixes the name of the place
 * the value came from. Secrets (apiToken, privateKey) are never echoed back.
 */

/** A value as it may appear in a message: strings quoted and cut short, others by type. */
export function shown(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v !== 'string') return v === null ? 'null' : typeof v;
  return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v);
}

// Flags arrive from commander as strings; "8" is 8, but "", "0x10" and "8 workers" are refused as typed.
const NUMERIC = /^[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i;
function coerceNumeric(v: unknown): unknown {
  return typeof v === 'string' && NUMERIC.test(v.trim()) ? Number(v.trim()) : v;
}

function intIn(min: number, max: number) {
  const error = (iss: { input?: unknown }) => `expected an integer in ${min}..${max}, got ${shown(iss.input)}`;
  return z.preprocess(coerceNumeric, z.number({ error }).int({ error }).gte(min, { error }).lte(max, { error }));
}

function fractionOfOne() {
  const error = (iss: { input?: unknown }) => `expected a number in (0, 1], got ${shown(iss.input)}`;
  return z.preprocess(coerceNumeric, z.number({ error }).gt(0, { error }).lte(1, { error }));
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/** The org's origin: https (http only for a simulator on this machine), no path, no trailing slash. */
export const orgUrlSchema = z.string().transform((raw, ctx) => {
  const fail = (message: string) => (ctx.issues.push({ code: 'custom', message, input: raw }), z.NEVER);
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    // A value with neither "." nor ":" is more likely a token pasted into the wrong variable than a URL.
    const echo = /[.:]/.test(raw) ? shown(raw) : 'a value that is not a URL (not shown: it may be a secret)';
    return fail(`expected a URL like https://example.okta.com, got ${echo}`);
  }
  // Credentials are sent to this origin: never echo a user:password someone pasted into it.
  if (u.username || u.password) return fail('must not contain a user name or password');
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && LOOPBACK.has(u.hostname))) {
    return fail(`must be https (plain http only for localhost, 127.0.0.1 or [::1]), got ${u.protocol}//${u.host}`);
  }
  if (u.pathname !== '/' || u.search || u.hash) {
    // The query and fragment are not shown: a URL copied from a browser can carry a token there.
    const extra = u.search || u.hash ? `${u.search ? '?…' : ''}${u.hash ? '#…' : ''}` : '';
    return fail(`must be the org's base URL without a path or query (like https://example.okta.com), got ${shown(`${u.origin}${u.pathname}${extra}`)}`);
  }
  return u.origin;
});

/** A proxy URL with its user and password masked, for messages and `check`. */
export function maskProxyUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/]*@/i, '$1***@');
}

/** HTTP(S)_PROXY: an http:// or https:// proxy (CONNECT); its credentials, if any, are secrets. */
export const proxyUrlSchema = z.string().transform((raw, ctx) => {
  const fail = (message: string) => (ctx.issues.push({ code: 'custom', message, input: raw }), z.NEVER);
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return fail(`expected http://host:port or https://host:port, got ${shown(maskProxyUrl(raw))}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return fail(`must be an http:// or https:// proxy, got ${u.protocol}//${u.host}`);
  if (u.hostname === '') return fail(`names no host, got ${shown(maskProxyUrl(raw))}`);
  if ((u.pathname !== '/' && u.pathname !== '') || u.search || u.hash) return fail(`must be the proxy's origin only, got ${shown(maskProxyUrl(raw))}`);
  // The proxy agent decodes them, and would throw on a "%" not followed by two hex digits.
  for (const [part, text] of [['user name', u.username], ['password', u.password]] as const) {
    if (percentDecoded(text) === null) return fail(`its ${part} ${PERCENT_RULE}`);
  }
  return raw;
});

export const proxySchema = z.object({
  httpsProxy: proxyUrlSchema.nullable(),
  httpProxy: proxyUrlSchema.nullable(),
  /** Hosts not to proxy, comma-separated, as in NO_PROXY. */
  noProxy: z.string().nullable(),
});

export const redisUrlSchema = z.string().transform((raw, ctx) => {
  const fail = (message: string) => (ctx.issues.push({ code: 'custom', message, input: raw }), z.NEVER);
  if (isClusterUrl(raw)) {
    try {
      parseClusterUrl(raw);
      return raw;
    } catch (err) {
      return fail((err as Error).message.replace(/^REDIS_URL: /, ''));
    }
  }
  const parsed = () => {
    try {
      parseRedisUrl(raw);
      return raw;
    } catch (err) {
      return fail((err as Error).message.replace(/^REDIS_URL:? /, ''));
    }
  };
  if (raw.startsWith('unix://')) {
    return raw.length > 'unix://'.length ? parsed() : fail('expected unix:///path/to/redis.sock, got a unix:// URL with no path');
  }
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return fail(`expected redis://host:port, rediss://host:port or unix:///path, got ${shown(maskRedisUrl(raw))}`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    return fail(`must start with redis://, rediss://, redis-cluster:// or unix://, got ${u.protocol}//`);
  }
  if (u.hostname === '') return fail(`names no host, got ${shown(maskRedisUrl(raw))}`);
  return parsed();
});

// Tokens and ids pasted from a terminal often carry a line break, and from a document an invisible
// character (a zero-width space); say so without showing the value. Okta's are printable ASCII, and an
// HTTP header can carry nothing else: refused here, before a run is stored, not at its first request.
const opaque = (what: string) =>
  z
    .string()
    .min(1, `is empty; expected ${what}`)
    .regex(/^\S+$/, `must not contain whitespace or line breaks (was ${what} pasted with one?)`)
    .regex(/^[\x21-\x7e]*$/, `must be printable ASCII: it holds an invisible or non-ASCII character (was ${what} pasted from a document or a chat?)`);

export const credentialsSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('apiToken'),
    apiToken: opaque('an Okta API token').describe('Okta API token (OKTA_API_TOKEN), sent as `Authorization: SSWS …`.'),
  }),
  z.object({
    kind: z.literal('privateKey'),
    clientId: opaque('the service app client id').describe('Client id of the Okta service app (OKTA_CLIENT_ID).'),
    privateKey: z
      .string()
      .min(1, 'is empty; expected a PEM or JWK private key')
      .describe('Private key text, PEM or JWK JSON (OKTA_PRIVATE_KEY, or read from OKTA_PRIVATE_KEY_FILE).'),
    keyId: opaque('a key id').nullable().describe('`kid` of the key (OKTA_KEY_ID); defaults to the JWK\'s own kid.'),
  }),
]);

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const PACINGS = ['even', 'window'] as const;
export type Pacing = (typeof PACINGS)[number];

export const configSchema = z.object({
  orgUrl: orgUrlSchema.nullable().describe('Okta org base URL (OKTA_ORG_URL), e.g. https://example.okta.com.'),
  credentials: credentialsSchema
    .nullable()
    .describe('Either an API token, or a service app client id with its private key; exactly one way.'),
  redisUrl: redisUrlSchema
    .nullable()
    .describe('REDIS_URL: redis://, rediss://, unix:///path, or redis-cluster://host:port,host:port,… for a Redis Cluster. Unset: an embedded redis-server under home.'),
  home: z.string().min(1, 'is empty; expected a directory').describe('GRANTSWEEP_HOME: where runs, reports and the embedded Redis live. Default ./.grantsweep.'),
  logLevel: z.preprocess(
    (v) => (typeof v === 'string' ? v.trim().toLowerCase() : v),
    z.enum(LOG_LEVELS, { error: (iss) => `expected one of ${LOG_LEVELS.join(', ')}, got ${shown(iss.input)}` }),
  ).describe('LOG_LEVEL: pino level. Default info.'),
  concurrency: intIn(1, 75).describe('Requests in flight per worker process. Default 8.'),
  rateShare: fractionOfOne().describe("Fraction F of each Okta rate limit this run may use, 0 < F <= 1. Default 0.5: leave room for the org's other clients."),
  pacing: z.preprocess(
    (v) => (typeof v === 'string' ? v.trim().toLowerCase() : v),
    z.enum(PACINGS, { error: (iss) => `expected one of ${PACINGS.join(', ')}, got ${shown(iss.input)}` }),
  ).describe("GRANTSWEEP_PACING: even (default) spreads a run's share of each window evenly over the window; window spends it as soon as the window opens, then waits for the reset (fastest; other integrations find the bucket drained early in each window)."),
  maxInFlight: intIn(1, 75).describe("Global cap on requests in flight across all processes (Okta's concurrency limit is per org). Default 10."),
  requestTimeoutMs: intIn(100, 600_000).describe('Timeout of one HTTP request, in milliseconds. Default 10000.'),
  attempts: intIn(1, 20).describe('Attempts per target before it is recorded as failed (429 deferrals do not count). Default 5.'),
  maxRateLimitDeferrals: intIn(0, 10_000).describe('Times one target may be put back because of a 429 before it fails. Default 50.'),
  lockDurationMs: intIn(1_000, 600_000).describe('GRANTSWEEP_LOCK_DURATION_MS: how long a worker holds a target before another may take it over (a killed worker\'s targets return to the queue after it). Default 30000.'),
  redisOutageMs: intIn(0, 86_400_000)
    .nullable()
    .describe('GRANTSWEEP_REDIS_OUTAGE_MS: how long a command that stores or processes targets waits for a lost or silent Redis (a PING unanswered for 5 s) before it gives up and exits 3 (0: for ever). Unset: 300000 for run, enqueue and retry --wait; for ever for worker, whose supervisor decides.'),
  principalShareRefreshMs: intIn(1_000, 86_400_000).describe(
    "GRANTSWEEP_PRINCIPAL_SHARE_REFRESH_MS: how often a long-lived worker reads its service app's principal rate limit again, so that an admin's change holds without a restart. Default 3600000 (an hour).",
  ),
  scheduleOverlapMs: intIn(0, 86_400_000).describe(
    "GRANTSWEEP_SCHEDULE_OVERLAP_MS: how far before a schedule's last completed run {{since}} reaches back, for Okta's search index, which lags (usually under a second). Default 60000.",
  ),
  rateWindowMs: intIn(100, 3_600_000).describe("GRANTSWEEP_RATE_WINDOW_MS: length of Okta's rate-limit window, which the headers do not state. Okta's is 60000; change it only for the simulator."),
  proxy: proxySchema
    .nullable()
    .describe('HTTPS_PROXY / HTTP_PROXY / NO_PROXY (or lower case): the proxy Okta is reached through, by CONNECT. Unset: direct.'),
  runId: z
    .string()
    .regex(RUN_ID, { error: (iss) => `expected ${RUN_ID_RULE}, got ${shown(iss.input)}` })
    .nullable()
    .describe('Name of the run (letters, digits, _ . -; at most 64). Default: generated.'),
});

export type Config = z.output<typeof configSchema>;
export type Credentials = NonNullable<Config['credentials']>;
export type LogLevel = Config['logLevel'];
/** A Config for commands that talk to Okta (see loadConfig's `need`). */
export type OktaConfig = Config & { orgUrl: string; credentials: Credentials };
