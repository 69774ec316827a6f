import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { UsageError } from '../errors.ts';
import { BUCKETS, simOptionsSchema, type SimOptions } from './options.ts';

/**
 * Turns `grantsweep sim` flags (all strings, as commander hands them over) into
 * SimOptions. Every problem is a UsageError naming the flag, so the CLI's error
 * boundary prints one line and exits 2.
 */

export interface SimFlags {
  port?: string;
  token?: string;
  users?: string;
  seed?: string;
  grantsPerUser?: string;
  /** A `bucket=limit,…` list, or false for --no-rate-limit. */
  rateLimit?: string | false;
  windowSec?: string;
  concurrencyLimit?: string;
  perTokenShare?: string;
  noisyNeighbour?: string;
  errorRate?: string;
  resetRate?: string;
  latencyMs?: string;
  slowRate?: string;
  slowMs?: string;
  oauthClientId?: string;
  oauthPublicKeyFile?: string;
  oauthDpop?: boolean;
  writeCsv?: string;
  count?: string;
}

export interface SimPlan {
  options: SimOptions;
  csv?: { file: string; count: number };
}

const FLAG_OF: Record<string, string> = {
  port: '--port', users: '--users', seed: '--seed', grantsPerUser: '--grants-per-user', rateLimits: '--rate-limit',
  windowSec: '--window-sec', concurrencyLimit: '--concurrency-limit', perTokenShare: '--per-token-share',
  noisyNeighbour: '--noisy-neighbour', 'faults.errorRate': '--error-rate', 'faults.resetRate': '--reset-rate',
  'faults.latencyMs': '--latency-ms', 'faults.slowRate': '--slow-rate', 'faults.slowMs': '--slow-ms', token: '--token',
};

function num(flag: string, raw: string | undefined, integer = true): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n))) {
    throw new UsageError(`${flag}: expected ${integer ? 'a whole number' : 'a number'}, got "${raw}"`);
  }
  return n;
}

function grantsPerUser(raw: string | undefined): SimOptions['grantsPerUser'] {
  if (raw === undefined) return undefined;
  const range = /^(\d+)(?:-|\.\.)(\d+)$/.exec(raw);
  if (range) return [Number(range[1]), Number(range[2])];
  return num('--grants-per-user', raw, false);
}

function rateLimits(raw: string | false | undefined): SimOptions['rateLimits'] {
  if (raw === undefined) return undefined;
  if (raw === false) return 'none';
  const out: Record<string, number> = {};
  for (const part of raw.split(',').filter(Boolean)) {
    const [name, value] = part.split('=');
    if (!name || !(BUCKETS as readonly string[]).includes(name.trim())) {
      throw new UsageError(`--rate-limit: unknown bucket "${name ?? part}" (buckets: ${BUCKETS.join(', ')})`);
    }
    out[name.trim()] = num(`--rate-limit ${name}`, value?.trim() ?? '') as number;
  }
  return out;
}

/** A public key file holds a JWK (JSON) or a PEM public key. */
function oauthClients(id: string | undefined, file: string | undefined, dpop = false): SimOptions['oauthClients'] {
  if (id === undefined && file === undefined) {
    if (dpop) throw new UsageError('--oauth-dpop needs --oauth-client-id and --oauth-public-key-file');
    return undefined;
  }
  if (!id || !file) throw new UsageError('--oauth-client-id and --oauth-public-key-file go together');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`--oauth-public-key-file: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  try {
    const jwk = text.trim().startsWith('{')
      ? (JSON.parse(text) as Record<string, unknown>)
      : (createPublicKey(text).export({ format: 'jwk' }) as Record<string, unknown>);
    createPublicKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
    return [dpop ? { clientId: id, publicJwk: jwk, dpop } : { clientId: id, publicJwk: jwk }];
  } catch {
    throw new UsageError(`--oauth-public-key-file: ${file} is not a public JWK or PEM public key`);
  }
}

export function parseSimFlags(flags: SimFlags): SimPlan {
  const faults = {
    errorRate: num('--error-rate', flags.errorRate, false),
    resetRate: num('--reset-rate', flags.resetRate, false),
    latencyMs: num('--latency-ms', flags.latencyMs),
    slowRate: num('--slow-rate', flags.slowRate, false),
    slowMs: num('--slow-ms', flags.slowMs),
  };
  const share = num('--noisy-neighbour', flags.noisyNeighbour, false);
  const raw = {
    port: num('--port', flags.port) ?? 0,
    token: flags.token,
    users: num('--users', flags.users) ?? 1000,
    seed: num('--seed', flags.seed),
    grantsPerUser: grantsPerUser(flags.grantsPerUser),
    rateLimits: rateLimits(flags.rateLimit),
    windowSec: num('--window-sec', flags.windowSec, false),
    concurrencyLimit: num('--concurrency-limit', flags.concurrencyLimit),
    perTokenShare: num('--per-token-share', flags.perTokenShare, false),
    noisyNeighbour: share === undefined ? undefined : { share },
    faults: Object.values(faults).some((v) => v !== undefined) ? faults : undefined,
    oauthClients: oauthClients(flags.oauthClientId, flags.oauthPublicKeyFile, flags.oauthDpop),
  };
  const defined = JSON.parse(JSON.stringify(raw)) as unknown;
  const parsed = simOptionsSchema.safeParse(defined);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path.join('.') ?? '';
    const flag = FLAG_OF[path] ?? FLAG_OF[String(issue?.path[0])] ?? path;
    throw new UsageError(`${flag}: ${issue?.message ?? 'invalid value'}`);
  }
  let csv: SimPlan['csv'];
  if (flags.writeCsv !== undefined) {
    const count = num('--count', flags.count) ?? 10;
    if (count < 1) throw new UsageError('--count: expected at least 1');
    csv = { file: flags.writeCsv, count };
  } else if (flags.count !== undefined) throw new UsageError('--count only goes with --write-csv');
  return { options: parsed.data, csv };
}
