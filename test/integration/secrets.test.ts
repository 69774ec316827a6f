import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { stopEmbeddedRedis } from '../../src/redis/embedded.ts';
import { startSimulator, type Simulator } from '../../src/sim/index.ts';
import { runCli, spawnCli } from '../helpers/cli.ts';
import { until } from '../helpers/fleet.ts';

/**
 * Secrets: a full run with a distinctive API token, and one with a service app's
 * private key, then every place grantsweep writes is searched for the secret or any
 * recognisable part of it (every 8-character piece): stdout, stderr with debug logs,
 * GRANTSWEEP_HOME (the embedded Redis' append-only file — every write ever made — its
 * log, the reports), and every key and value in that Redis.
 */

const homes: string[] = [];
afterAll(async () => {
  for (const h of homes) {
    await stopEmbeddedRedis(join(h, 'redis')).catch(() => {});
    rmSync(h, { recursive: true, force: true });
  }
});

const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const distinctive = (n: number) => Array.from(randomBytes(n), (b) => BASE62[b % 62]).join('');

/** Every piece of `secret` of `width` characters. */
function pieces(secret: string, width = 8): Set<string> {
  const out = new Set<string>();
  for (let i = 0; i + width <= secret.length; i++) out.add(secret.slice(i, i + width));
  return out;
}

/** The pieces found in `text` (empty when clean). */
function leaks(text: string, secretPieces: Set<string>, width = 8): string[] {
  const found = new Set<string>();
  for (let i = 0; i + width <= text.length; i++) {
    const w = text.slice(i, i + width);
    if (secretPieces.has(w)) found.add(w);
  }
  return [...found];
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => join(dir, f))
    .filter((f) => statSync(f, { throwIfNoEntry: false })?.isFile());
}

/** Every key and value of the Redis, by type, plus DUMP of each, as one text. */
async function everythingIn(redis: Redis): Promise<{ text: string; keys: number }> {
  const parts: string[] = [];
  let keys = 0;
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'COUNT', 500);
    cursor = next;
    for (const key of batch) {
      keys++;
      parts.push(key);
      const type = await redis.type(key);
      if (type === 'string') parts.push((await redis.get(key)) ?? '');
      else if (type === 'hash') parts.push(JSON.stringify(await redis.hgetall(key)));
      else if (type === 'list') parts.push(JSON.stringify(await redis.lrange(key, 0, -1)));
      else if (type === 'set') parts.push(JSON.stringify(await redis.smembers(key)));
      else if (type === 'zset') parts.push(JSON.stringify(await redis.zrange(key, 0, -1, 'WITHSCORES')));
      else if (type === 'stream') parts.push(JSON.stringify(await redis.xrange(key, '-', '+')));
      else parts.push(`(type ${type})`);
      const dump = await redis.dumpBuffer(key);
      if (dump) parts.push(dump.toString('latin1'));
    }
  } while (cursor !== '0');
  return { text: parts.join('\n'), keys };
}

interface Scene {
  sim: Simulator;
  env: NodeJS.ProcessEnv;
  home: string;
}

/** A full run on the embedded Redis in a fresh home, then reports and status; returns everything written. */
async function fullRun({ sim, env, home }: Scene): Promise<{ outputs: string; files: string; redis: string; keys: number }> {
  const sample = sim.org.sampleUsers({ count: 40, status: 'ACTIVE', minGrants: 1 });
  const csvPath = join(home, 'leavers.csv');
  (await import('node:fs')).writeFileSync(csvPath, `userId,login\n${sample.map((u) => `${u.id},${u.login}`).join('\n')}\n`);
  const runId = 'secrets-run';
  const run = spawnCli(['run', '--csv', csvPath, '--yes', '--snapshot', '--run-id', runId, '--reason', 'secret scan'], env);
  const r = await run.done;
  expect(r.code, r.stdout + r.stderr).toBe(0);
  for (const u of sample) expect(sim.org.grantsOf(u.id)).toEqual([]);
  const more = await Promise.all([
    runCli(['report', runId, '--out', join(home, 'report.json')], env),
    runCli(['report', runId, '--format', 'csv', '--out', join(home, 'report.csv')], env),
    runCli(['report', runId], env),
    runCli(['status', runId, '--json'], env),
    runCli(['runs', '--json'], env),
    // A failing command too: errors must not carry the credential either.
    runCli(['run', '--csv', join(home, 'missing.csv'), '--yes'], env),
  ]);
  const outputs = [r.stdout, r.stderr, ...more.flatMap((m) => [m.stdout, m.stderr])].join('\n');
  // Debug logs were on: the run did log, so the search covers real log lines.
  expect(r.stderr).toMatch(/"msg":"target revoked"/);
  const redis = new Redis({ path: join(home, 'redis', 'redis.sock') });
  try {
    await redis.bgrewriteaof().catch(() => {});
    // The rewrite's temporary files come and go while it runs: the files are read once it is done.
    await until('the AOF rewrite to finish', async () => /aof_rewrite_in_progress:0/.test(await redis.info('persistence')), 30_000, 50);
    const { text, keys } = await everythingIn(redis);
    const files = filesUnder(home).map((f) => `${f}\n${readFileSync(f).toString('latin1')}`).join('\n');
    expect(files).toMatch(/appendonly/); // the AOF was searched
    expect(files).toContain(sample[0]!.id); // and holds the run's data
    return { outputs, files, redis: text, keys };
  } finally {
    redis.disconnect();
  }
}

function newHome(): string {
  const h = mkdtempSync(join(tmpdir(), 'gs-secrets-'));
  homes.push(h);
  return h;
}

describe('secrets: no credential ever leaves the process', () => {
  it('an API token: no 8-character piece of it in any output, log, file or Redis value', async () => {
    const token = `00${distinctive(40)}`;
    const sim = await startSimulator({ users: 200, grantsPerUser: 3, seed: 9, rateLimits: 'none', token, port: 0 });
    try {
      const home = newHome();
      const env = { OKTA_ORG_URL: sim.url, OKTA_API_TOKEN: token, GRANTSWEEP_HOME: home, LOG_LEVEL: 'debug' };
      const found = await fullRun({ sim, env, home });
      const secret = pieces(token);
      expect(leaks(found.outputs, secret)).toEqual([]);
      expect(leaks(found.files, secret)).toEqual([]);
      expect(leaks(found.redis, secret)).toEqual([]);
      expect(found.keys).toBeGreaterThan(3);
      // The search itself works: a text holding a piece of the token is caught.
      // (Framed by a character a token never holds, so exactly this one piece matches.)
      expect(leaks(`#${token.slice(13, 21)}#`, secret)).toEqual([token.slice(13, 21)]);
      console.log(`[reliability] secrets (API token): ${JSON.stringify({ outputChars: found.outputs.length, fileChars: found.files.length, redisKeys: found.keys, redisChars: found.redis.length, leaks: 0 })}`);
    } finally {
      await sim.close();
    }
  }, 90_000);

  it.each([
    ['Bearer tokens', false],
    ['DPoP-bound tokens', true],
  ])('a private key (OAuth service app, %s): no piece of its body, no access token, no client assertion or DPoP proof anywhere', async (_what, dpop) => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const clientId = `0oa${distinctive(17)}`;
    const sim = await startSimulator({
      users: 200, grantsPerUser: 3, seed: 10, rateLimits: 'none', port: 0,
      oauthClients: [{ clientId, publicJwk: publicKey.export({ format: 'jwk' }) as Record<string, unknown>, dpop }],
    });
    try {
      const home = newHome();
      const env = { OKTA_ORG_URL: sim.url, OKTA_CLIENT_ID: clientId, OKTA_PRIVATE_KEY: pem, GRANTSWEEP_HOME: home, LOG_LEVEL: 'debug' };
      const found = await fullRun({ sim, env, home });
      expect(sim.log.snapshot().byEndpoint['POST /oauth2/v1/token']).toBeGreaterThan(0);
      expect(sim.log.snapshot().byPrincipal[`oauth:${clientId}`]?.requests).toBeGreaterThan(0);
      const body = pem.split('\n').filter((l) => l && !l.startsWith('-----')).join('');
      const secret = pieces(body);
      for (const where of [found.outputs, found.files, found.redis]) {
        expect(leaks(where, secret)).toEqual([]);
        expect(where).not.toContain('PRIVATE KEY');
        // The simulator's access tokens start `eyJsim.`; a JWT's header starts `eyJhbGciOi` ({"alg":).
        expect(where).not.toContain('eyJsim.');
        expect(where).not.toMatch(/eyJhbGciOi/);
        expect(where).not.toMatch(/Bearer [A-Za-z0-9]/);
        // A DPoP proof's header starts `eyJ0eXAiOiJkcG9wK2p3dCIs` ({"typ":"dpop+jwt",).
        expect(where).not.toContain('eyJ0eXAiOiJkcG9w');
        expect(where).not.toMatch(/DPoP [A-Za-z0-9]/);
      }
      console.log(`[reliability] secrets (private key, ${dpop ? 'DPoP' : 'Bearer'}): ${JSON.stringify({ keyBodyChars: body.length, outputChars: found.outputs.length, fileChars: found.files.length, redisKeys: found.keys, leaks: 0 })}`);
    } finally {
      await sim.close();
    }
  }, 90_000);
});
