import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { loadConfig, type Config } from '../../config/load.ts';
import { createLogger } from '../log.ts';
import { ApiTokenAuth, PrivateKeyJwtAuth, REVOKE_SCOPES, type OktaAuth } from '../okta/auth.ts';
import { connectChecked } from '../redis/connection.ts';
import { embeddedRedisDir, ensureEmbeddedRedis } from '../redis/embedded.ts';
import { OutageWatch } from '../redis/outage.ts';
import { RunStore } from '../runs/run-store.ts';
import type { CliIO } from './io.ts';
import { Resources } from './resources.ts';

export interface Need {
  okta?: boolean;
  credentials?: boolean;
  /** OKTA_ORG_URL read (and checked) when set, not required. */
  orgIfSet?: boolean;
}

/** What a command works with: validated config, a logger, Redis, the run store, and what to release. */
export interface CliContext {
  io: CliIO;
  config: Config;
  log: Logger;
  redisUrl: string;
  redis: Redis;
  store: RunStore;
  resources: Resources;
  /** Commands that do a run's work (need okta): Redis outages, warned about and, past a limit, given up on. */
  outage: OutageWatch | null;
}

export function readConfig(io: CliIO, flags: Record<string, unknown>, need: Need): Config {
  return loadConfig({ env: io.env, flags, need });
}

/** REDIS_URL, or the embedded redis-server kept in GRANTSWEEP_HOME. */
export async function resolveRedisUrl(config: Config): Promise<string> {
  if (config.redisUrl) return config.redisUrl;
  return (await ensureEmbeddedRedis({ dir: embeddedRedisDir(config.home) })).url;
}

export async function openContext(io: CliIO, flags: Record<string, unknown>, need: Need = {}): Promise<CliContext> {
  const config = readConfig(io, flags, need);
  const resources = new Resources();
  const log = createLogger({ level: config.logLevel });
  resources.add('logger', log, (l) => new Promise<void>((r) => l.flush(() => r())));
  try {
    const redisUrl = await resolveRedisUrl(config);
    // Commands that talk to Okta do a run's work: their Redis calls wait out a restart of
    // Redis (and say so) instead of failing the run; the others fail fast.
    const doesWork = need.okta === true || need.credentials === true;
    const redis = resources.add('redis', await connectChecked({ url: redisUrl, waitForReconnect: doesWork }), (r) => r.quit().catch(() => r.disconnect()));
    const outage = doesWork ? resources.add('outage watch', new OutageWatch(redis, log), (w) => w.stop()) : null;
    return { io, config, log, redisUrl, redis, store: new RunStore(redis), resources, outage };
  } catch (err) {
    await resources.releaseAll();
    throw err;
  }
}

/** The credential the config names, as an auth for the Okta client. Scopes follow the source. */
export function authFrom(config: Config, scopes: readonly string[] = REVOKE_SCOPES): OktaAuth {
  const c = config.credentials;
  if (!c) throw new Error('authFrom: credentials were not required when the config was loaded');
  if (c.kind === 'apiToken') return new ApiTokenAuth(c.apiToken);
  return new PrivateKeyJwtAuth({
    orgUrl: config.orgUrl!,
    clientId: c.clientId,
    privateKey: c.privateKey,
    keyId: c.keyId ?? undefined,
    scopes: [...scopes],
    proxy: config.proxy,
  });
}
