import { resolve } from 'node:path';
import { UsageError } from '../src/errors.ts';
import { DEFAULTS } from './defaults.ts';
import {
  credentialsExactlyOneWay,
  keyIdMatchesJwk,
  orgUrlNotAdminConsole,
  privateKeyParses,
  readPrivateKeyFile,
  requiredForCommand,
  type CredentialEnv,
  type Problem,
} from './rules.ts';
import { configSchema, credentialsSchema, proxyUrlSchema, type Config, type Credentials, type OktaConfig } from './schema.ts';
import { unescapeKeyNewlines } from '../src/okta/private-key.ts';

export { describeConfig } from './describe.ts';
export type { Config, Credentials, LogLevel, OktaConfig } from './schema.ts';
export type { Problem } from './rules.ts';

/** Every problem found, one `NAME: problem` line each. Exit 2: nothing was started. */
export class ConfigError extends UsageError {
  constructor(readonly problems: readonly Problem[]) {
    super(problems.map((p) => `${p.name}: ${p.message}`).join('\n'));
  }
}

export interface LoadConfigOptions {
  env?: Record<string, string | undefined>;
  /** Commander's options object (camelCase keys, values possibly strings); unknown keys are ignored. */
  flags?: Record<string, unknown>;
  /** What the command needs: `status` needs nothing but Redis; `run` needs okta and credentials. */
  need?: { okta?: boolean; credentials?: boolean; orgIfSet?: boolean };
  /** Base for a relative GRANTSWEEP_HOME. Default process.cwd(). */
  cwd?: string;
}

type Setting = Exclude<keyof Config, 'credentials'>;

const ENV_NAME: Partial<Record<Setting, string>> = {
  orgUrl: 'OKTA_ORG_URL',
  redisUrl: 'REDIS_URL',
  home: 'GRANTSWEEP_HOME',
  logLevel: 'LOG_LEVEL',
  // Operational knobs a fleet sets once, in the environment; where a command has a flag of the same name (--concurrency, --rate-share, --pacing), the flag wins.
  concurrency: 'GRANTSWEEP_CONCURRENCY',
  rateShare: 'GRANTSWEEP_RATE_SHARE',
  pacing: 'GRANTSWEEP_PACING',
  maxInFlight: 'GRANTSWEEP_MAX_IN_FLIGHT',
  requestTimeoutMs: 'GRANTSWEEP_REQUEST_TIMEOUT_MS',
  attempts: 'GRANTSWEEP_ATTEMPTS',
  maxRateLimitDeferrals: 'GRANTSWEEP_MAX_RATE_LIMIT_DEFERRALS',
  rateWindowMs: 'GRANTSWEEP_RATE_WINDOW_MS',
  lockDurationMs: 'GRANTSWEEP_LOCK_DURATION_MS',
  redisOutageMs: 'GRANTSWEEP_REDIS_OUTAGE_MS',
  principalShareRefreshMs: 'GRANTSWEEP_PRINCIPAL_SHARE_REFRESH_MS',
  scheduleOverlapMs: 'GRANTSWEEP_SCHEDULE_OVERLAP_MS',
};

const SETTINGS: readonly Setting[] = [
  'orgUrl', 'redisUrl', 'home', 'logLevel', 'concurrency', 'rateShare', 'pacing', 'maxInFlight',
  'requestTimeoutMs', 'attempts', 'maxRateLimitDeferrals', 'rateWindowMs', 'lockDurationMs', 'redisOutageMs', 'principalShareRefreshMs', 'scheduleOverlapMs', 'runId',
];

// Secrets on a command line end up in `ps`, shell history and CI logs: refuse them by name.
/** Flags an administrator may try for a credential, and the variable that takes it instead. */
export const SECRET_FLAGS: Record<string, string> = {
  apiToken: 'OKTA_API_TOKEN',
  token: 'OKTA_API_TOKEN',
  privateKey: 'OKTA_PRIVATE_KEY',
  clientSecret: "OKTA_CLIENT_ID and OKTA_PRIVATE_KEY (Okta's API takes a private key JWT, not a client secret)",
};

/** Why a credential given as a flag is refused, and where it goes instead. */
export const secretFlagRefused = (variable: string) => `secrets are not accepted as flags (they show in ps and shell history); set ${variable}`;

export const flagName = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/**
 * Reads defaults < environment < flags into one normalised Config, or throws a ConfigError
 * listing every problem. Only what `need` asks for is read: an unused, stale OKTA_ORG_URL
 * must not stop `status`. Credentials come from the environment only, never from flags
 * (`--client-id` is a run's target filter, not the service app).
 */
export function loadConfig(opts: LoadConfigOptions & { need: { credentials: true } }): OktaConfig;
export function loadConfig(opts: LoadConfigOptions & { need: { okta: true } }): Config & { orgUrl: string };
export function loadConfig(opts?: LoadConfigOptions): Config;
export function loadConfig(opts: LoadConfigOptions = {}): Config {
  const env = cleanEnv(opts.env ?? process.env);
  const flags = opts.flags ?? {};
  const needCredentials = opts.need?.credentials === true;
  const needOkta = opts.need?.okta === true || needCredentials;
  // `runs` is for the configured org when there is one, and for every org when there is none.
  const readOrg = needOkta || opts.need?.orgIfSet === true;
  const problems: Problem[] = [];

  for (const [key, variable] of Object.entries(SECRET_FLAGS)) {
    if (flags[key] !== undefined) {
      problems.push({ name: flagName(key), message: secretFlagRefused(variable) });
    }
  }

  const take = <K extends Setting>(key: K): Config[K] => {
    const flag = flags[key];
    const variable = ENV_NAME[key];
    const [value, name] =
      flag !== undefined && flag !== null ? [flag, flagName(key)]
      : variable !== undefined && env[variable] !== undefined ? [env[variable], variable]
      : [undefined, ''];
    if (value === undefined) return DEFAULTS[key];
    const parsed = configSchema.shape[key].safeParse(value);
    if (parsed.success) return parsed.data as Config[K];
    problems.push(...parsed.error.issues.map((i) => ({ name, message: i.message })));
    return DEFAULTS[key];
  };

  const wanted = SETTINGS.filter((k) => k !== 'orgUrl' || readOrg);
  const settings = { ...DEFAULTS, ...Object.fromEntries(wanted.map((k) => [k, take(k)])) } as Omit<Config, 'credentials'>;
  // The org comes from the environment only: no command takes it as a flag.
  const orgUrlName = 'OKTA_ORG_URL';
  const orgUrl = settings.orgUrl;
  const orgUrlFailed = problems.some((p) => p.name === orgUrlName);
  if (readOrg && !orgUrlFailed) {
    if (needOkta) problems.push(...requiredForCommand(orgUrl !== null, orgUrlName, 'https://<your-org>.okta.com'));
    problems.push(...orgUrlNotAdminConsole(orgUrl, orgUrlName));
  }
  const credentials = needCredentials ? loadCredentials(env, problems) : null;
  const proxy = needOkta ? loadProxy(env, problems) : null;
  problems.push(...unknownVariables(env));

  if (problems.length > 0) throw new ConfigError(problems);
  return { ...settings, orgUrl, credentials, proxy, home: resolve(opts.cwd ?? process.cwd(), settings.home) };
}

/** The usual proxy variables (upper case first, then lower case); null when none is set. */
function loadProxy(env: Record<string, string | undefined>, problems: Problem[]): Config['proxy'] {
  const read = (name: string): [string, string] | null => {
    const v = env[name] ?? env[name.toLowerCase()];
    return v === undefined ? null : [v, env[name] !== undefined ? name : name.toLowerCase()];
  };
  const url = (name: string): string | null => {
    const found = read(name);
    if (!found) return null;
    const parsed = proxyUrlSchema.safeParse(found[0]);
    if (parsed.success) return parsed.data;
    problems.push(...parsed.error.issues.map((i) => ({ name: found[1], message: i.message })));
    return null;
  };
  const httpsProxy = url('HTTPS_PROXY');
  const httpProxy = url('HTTP_PROXY');
  const noProxy = read('NO_PROXY')?.[0] ?? null;
  return httpsProxy === null && httpProxy === null ? null : { httpsProxy, httpProxy, noProxy };
}

/** GRANTSWEEP_ variables read elsewhere than the settings: the dashboard's token, the image's health check. */
const OTHER_VARIABLES = ['GRANTSWEEP_DASHBOARD_TOKEN', 'GRANTSWEEP_HEALTHCHECK_URL'];

/** What Kubernetes (and Docker's links) set for a Service named grantsweep…: not ours, not a typo. */
const SERVICE_VARIABLE = /_(SERVICE_HOST|SERVICE_PORT(_\w+)?|PORT(_\d+_(TCP|UDP|SCTP)(_\w+)?)?)$/;

/**
 * A GRANTSWEEP_ variable a letter or two from a setting's name: a typo (GRANTSWEEP_RATESHARE)
 * would otherwise leave the default in force unseen, in an incident 5 times the share the
 * operator meant. Other names are left alone: a platform may set its own (a Kubernetes
 * Service named grantsweep gives every pod GRANTSWEEP_SERVICE_HOST and GRANTSWEEP_PORT).
 */
function unknownVariables(env: Record<string, string | undefined>): Problem[] {
  const known = [...Object.values(ENV_NAME), ...OTHER_VARIABLES];
  const bare = (name: string) => name.slice('GRANTSWEEP_'.length).replace(/_/g, '');
  const problems: Problem[] = [];
  for (const name of Object.keys(env)) {
    if (!name.startsWith('GRANTSWEEP_') || known.includes(name) || SERVICE_VARIABLE.test(name)) continue;
    const near = known.find((k) => editDistance(bare(k), bare(name)) <= 2);
    if (near) problems.push({ name, message: `no setting has this name: did you mean ${near}? (every setting is listed in the README, under Configuration)` });
  }
  return problems;
}

/** Levenshtein distance, for "did you mean". */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

/** Values are trimmed (a token pasted with a trailing newline), and an empty one counts as unset. */
function cleanEnv(env: Record<string, string | undefined>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(env)) {
    const t = v?.trim();
    if (t) out[k] = t;
  }
  return out;
}

function loadCredentials(env: CredentialEnv, problems: Problem[]): Credentials | null {
  const oneWay = credentialsExactlyOneWay(env);
  if (oneWay.length > 0) return void problems.push(...oneWay), null;

  if (env.OKTA_API_TOKEN !== undefined) {
    return parseCredentials({ kind: 'apiToken', apiToken: env.OKTA_API_TOKEN }, { apiToken: 'OKTA_API_TOKEN' }, problems);
  }
  const keyName = env.OKTA_PRIVATE_KEY !== undefined ? 'OKTA_PRIVATE_KEY' : 'OKTA_PRIVATE_KEY_FILE';
  const read = env.OKTA_PRIVATE_KEY !== undefined ? { text: env.OKTA_PRIVATE_KEY } : readPrivateKeyFile(env.OKTA_PRIVATE_KEY_FILE ?? '');
  if ('problem' in read) return void problems.push(read.problem), null;
  // Kept as Okta's PEM has it (a one-line variable's literal `\n` turned back into line breaks).
  const privateKey = unescapeKeyNewlines(read.text);
  const key = privateKeyParses(privateKey, keyName);
  if ('problem' in key) return void problems.push(key.problem), null;
  const mismatch = keyIdMatchesJwk(env.OKTA_KEY_ID, key.kid);
  if (mismatch.length > 0) return void problems.push(...mismatch), null;
  return parseCredentials(
    { kind: 'privateKey', clientId: env.OKTA_CLIENT_ID, privateKey, keyId: env.OKTA_KEY_ID ?? key.kid },
    { clientId: 'OKTA_CLIENT_ID', privateKey: keyName, keyId: 'OKTA_KEY_ID' },
    problems,
  );
}

function parseCredentials(input: unknown, names: Record<string, string>, problems: Problem[]): Credentials | null {
  const parsed = credentialsSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues) {
    problems.push({ name: names[String(issue.path[0])] ?? 'credentials', message: issue.message });
  }
  return null;
}
