import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type RequestListener, type Server as HttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureEmbeddedRedis, stopEmbeddedRedis } from '../../src/redis/embedded.ts';
import type { Simulator } from '../../src/sim/index.ts';
import { runCli, spawnCli } from '../helpers/cli.ts';
import { envFor, startTestSim, writeCsv } from '../helpers/sim.ts';
import { uniqueRunId } from '../helpers/redis.ts';

/**
 * Bad configuration: each is refused with one clear message and the documented exit
 * code, before a single request reaches the org, and never hangs.
 */

let sim: Simulator;
let csv: string;
beforeAll(async () => {
  sim = await startTestSim({ users: 20 });
  csv = writeCsv(['userId', ...sim.org.sampleUsers({ count: 3 }).map((u) => u.id)]);
});
afterAll(async () => {
  await sim?.close();
});

function listenHttp(handler: RequestListener): Promise<{ server: HttpServer; port: number }> {
  return new Promise((resolve) => {
    const server = createHttpServer(handler);
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port }));
  });
}

function listen(handler: (s: Socket) => void): Promise<{ server: Server; port: number }> {
  return new Promise((resolve) => {
    const server = createServer(handler);
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port }));
  });
}

async function refusedBeforeOkta(env: NodeJS.ProcessEnv, code: number, message: RegExp, secret?: string) {
  const before = sim.log.snapshot().total;
  const r = await runCli(['run', '--csv', csv, '--yes'], env);
  expect(r.code, r.stderr).toBe(code);
  expect(r.stderr).toMatch(message);
  expect(r.stderr).not.toMatch(/unexpected error/);
  if (secret) expect(r.stdout + r.stderr).not.toContain(secret);
  expect(sim.log.snapshot().total - before).toBe(0);
  return r;
}

describe('bad configuration', () => {
  it('a plain-http org URL that is not this machine: exit 2', async () => {
    await refusedBeforeOkta(envFor(sim, { OKTA_ORG_URL: 'http://acme.okta.com' }), 2, /OKTA_ORG_URL: must be https .*got http:\/\/acme\.okta\.com/);
  });

  it('an org URL with a path, and the Admin Console URL: exit 2', async () => {
    await refusedBeforeOkta(envFor(sim, { OKTA_ORG_URL: 'https://acme.okta.com/api/v1' }), 2, /OKTA_ORG_URL: must be the org's base URL/);
    await refusedBeforeOkta(envFor(sim, { OKTA_ORG_URL: 'https://acme-admin.okta.com' }), 2, /Admin Console URL; use the org URL https:\/\/acme\.okta\.com/);
  });

  it('no credential at all: exit 2, naming both ways to give one', async () => {
    await refusedBeforeOkta(envFor(sim, { OKTA_API_TOKEN: undefined }), 2, /OKTA_API_TOKEN or OKTA_CLIENT_ID with OKTA_PRIVATE_KEY\/OKTA_PRIVATE_KEY_FILE: one is required/);
  });

  it('a malformed token (pasted with a space): exit 2, without echoing it', async () => {
    const token = '00abcdefSECRETSECRET tail';
    await refusedBeforeOkta(envFor(sim, { OKTA_API_TOKEN: token }), 2, /OKTA_API_TOKEN: must not contain whitespace/, 'SECRETSECRET');
  });

  it('a token holding an invisible or non-ASCII character: exit 2 before any run is stored, without echoing it', async () => {
    for (const [i, odd] of ['\u200b', '\x7f', '\x01', '中'].entries()) {
      const env = envFor(sim, { OKTA_API_TOKEN: `${sim.token}${odd}` });
      const runId = `odd-token-${process.pid}-${Date.now()}-${i}`;
      const before = sim.log.snapshot().total;
      const r = await runCli(['run', '--csv', csv, '--yes', '--run-id', runId], env);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/OKTA_API_TOKEN: must be printable ASCII/);
      expect(r.stdout + r.stderr).not.toContain(sim.token);
      expect(sim.log.snapshot().total - before).toBe(0);
      // Nothing stored for a worker with a good token to revoke later.
      expect((await runCli(['status', runId], envFor(sim))).code).toBe(2);
    }
  });

  it("Okta's answer in a shape its API does not document (null in a list, an object for a list): exit 3 naming it, a target failed with BAD_RESPONSE, never a stack", async () => {
    const okta = { 'content-type': 'application/json', 'x-okta-request-id': 'fake-req-1' };
    const { server, port } = await listenHttp((req, res) => {
      const path = (req.url ?? '').split('?')[0]!;
      if (path === '/api/v1/users') return void res.writeHead(200, okta).end(JSON.stringify([{ id: '00uFAKE0000000000001', status: 'ACTIVE', profile: { login: 'a@example.com' } }, null]));
      if (/^\/api\/v1\/users\/[^/]+\/grants$/.test(path)) return void res.writeHead(200, okta).end(JSON.stringify({ grants: [] }));
      res.writeHead(404, okta).end(JSON.stringify({ errorCode: 'E0000007', errorSummary: 'Not found', errorId: 'x', errorCauses: [] }));
    });
    try {
      const env = envFor(sim, { OKTA_ORG_URL: `http://127.0.0.1:${port}`, GRANTSWEEP_ATTEMPTS: '2' });
      const listing = await runCli(['run', '--filter', 'status eq "ACTIVE"', '--dry-run', '--yes', '--run-id', uniqueRunId('bad-shape')], env);
      expect(listing.code, listing.stderr).toBe(3);
      expect(listing.stderr).toContain("Okta's answer could not be used: expected a JSON array of objects (GET /api/v1/users)");
      expect(listing.stderr).not.toMatch(/unexpected error|TypeError/);

      const check = await runCli(['check'], env);
      expect(check.code, check.stderr).toBe(3);
      expect(check.stderr + check.stdout).not.toMatch(/unexpected error/);

      // A target's listing of grants (--scope) that is an object: tried again, then failed, with what was wrong.
      const runId = uniqueRunId('bad-shape-target');
      const scoped = await runCli(['run', '--csv', writeCsv(['userId', '00uFAKE0000000000001']), '--scope', 'api:write', '--yes', '--run-id', runId], env);
      expect(scoped.code, scoped.stderr).toBe(1);
      const rep = JSON.parse((await runCli(['report', runId], env)).stdout);
      expect(rep.results).toHaveLength(1);
      expect(rep.results[0]).toMatchObject({ status: 'failed', attempts: 2, errorCode: 'BAD_RESPONSE', errorSummary: expect.stringContaining('expected a JSON array of objects (GET /api/v1/users/00uFAKE0000000000001/grants)') });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('an OKTA_ORG_URL that answers like a web server, not Okta: the run halts, exit 3, and records no revocation', async () => {
    for (const [status, body] of [[200, '<html><body>Sign in</body></html>'], [404, '<html><body>Not Found</body></html>']] as const) {
      const { server, port } = await listenHttp((_req, res) => res.writeHead(status, { 'content-type': 'text/html' }).end(body));
      try {
        const env = envFor(sim, { OKTA_ORG_URL: `http://127.0.0.1:${port}` });
        const runId = `not-okta-${status}-${process.pid}-${Date.now()}`;
        const r = await runCli(['run', '--csv', csv, '--yes', '--run-id', runId], env);
        expect(r.code, r.stderr).toBe(3);
        expect(r.stdout + r.stderr).toMatch(new RegExp(`halted \\(http://127\\.0\\.0\\.1:${port} answered DELETE /api/v1/users/\\S+/grants with HTTP ${status} \\(text/html\\), which is not an Okta API response`));
        const rep = JSON.parse((await runCli(['report', runId], env)).stdout);
        expect(rep.state).toBe('halted');
        // Neither "revoked" (a 200) nor "nothing_to_revoke" (a 404): nothing is known of them.
        expect(rep.counts).toMatchObject({ revoked: 0, nothing_to_revoke: 0, user_not_found: 0 });
        const check = await runCli(['check'], env);
        expect(check.code, check.stderr).toBe(3);
        expect(check.stderr).toMatch(/which is not an Okta API response/);
        expect(check.stderr).not.toMatch(/unexpected error/);
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    }
  });

  it('a GRANTSWEEP_HOME that is a file (no REDIS_URL): exit 2, naming it, not a stack', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'gs-home-file-')), 'home');
    writeFileSync(file, 'not a folder');
    const r = await runCli(['status', 'some-run'], { ...envFor(sim), REDIS_URL: undefined, GRANTSWEEP_HOME: file });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/GRANTSWEEP_HOME: cannot make the embedded Redis's folder .*a part of it is a file, not a folder/);
    expect(r.stderr).not.toMatch(/unexpected error/);
  });

  it('an OKTA_ORG_URL where nothing listens: the run halts after five refused tries, exit 3, instead of failing every target slowly', async () => {
    const { server, port } = await listen(() => {});
    await new Promise((resolve) => server.close(resolve)); // a port that was free a moment ago, now closed
    const env = envFor(sim, { OKTA_ORG_URL: `http://127.0.0.1:${port}`, GRANTSWEEP_ATTEMPTS: '2' });
    const many = writeCsv(['userId', ...sim.org.sampleUsers({ count: 12 }).map((u) => u.id)]);
    const runId = `unreachable-${process.pid}-${Date.now()}`;
    const r = await runCli(['run', '--csv', many, '--yes', '--run-id', runId], env);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stdout + r.stderr).toMatch(/halted \(Okta could not be reached \(ECONNREFUSED on the first 5 requests\)/);
    const rep = JSON.parse((await runCli(['report', runId], env)).stdout);
    expect(rep.state).toBe('halted');
    // Two or three targets spent their tries; the rest wait for `retry` once the address is right.
    expect(rep.counts.pending).toBeGreaterThanOrEqual(9);
  });

  it('a credential given as a flag is refused, naming the variable that takes it, and never echoed', async () => {
    const secret = '00flagSECRETflagSECRET';
    for (const [args, variable] of [
      [['run', '--csv', csv, '--yes', '--api-token', secret], 'OKTA_API_TOKEN'],
      [['check', '--private-key', secret], 'OKTA_PRIVATE_KEY'],
      [['dashboard', '--port', '0', '--token', secret], 'GRANTSWEEP_DASHBOARD_TOKEN'],
      // The `=` form, which commander would echo whole as an unknown option; and a credential's flag it does not know.
      [['check', `--api-token=${secret}`], 'OKTA_API_TOKEN'],
      [['run', '--csv', csv, '--yes', `--private-key=-----BEGIN PRIVATE KEY-----\n${secret}`], 'OKTA_PRIVATE_KEY'],
      [['status', 'r1', `--client-secret=${secret}`], 'OKTA_CLIENT_ID and OKTA_PRIVATE_KEY'],
      [['check', `--okta-api-token=${secret}`], null],
      // A token pasted where the command goes.
      [[secret], null],
    ] as const) {
      const before = sim.log.snapshot().total;
      const r = await runCli([...args], envFor(sim));
      expect(r.code, r.stderr).toBe(2);
      if (variable) expect(r.stderr).toMatch(new RegExp(`secrets are not accepted as flags .*set ${variable}`));
      else expect(r.stderr).toMatch(args[0] === secret ? /unknown command \(not shown: it may be a secret\)/ : /unknown option '--okta-api-token=…'/);
      expect(r.stdout + r.stderr).not.toContain(secret);
      expect(sim.log.snapshot().total - before).toBe(0);
    }
  });

  it('enqueue --concurrency is refused (the workers make the requests), and no run is stored', async () => {
    const runId = `enqueue-conc-${process.pid}-${Date.now()}`;
    const r = await runCli(['enqueue', '--csv', csv, '--concurrency', '3', '--yes', '--run-id', runId], envFor(sim));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--concurrency: enqueue makes no revocation; set it on the workers/);
    expect(r.stdout).toBe('');
    expect((await runCli(['status', runId], envFor(sim))).code).toBe(2);
  });

  it('both an API token and a service app: exit 2', async () => {
    await refusedBeforeOkta(envFor(sim, { OKTA_CLIENT_ID: '0oaSvc' }), 2, /both ways to authenticate are set/);
  });

  it('a private key that does not parse: exit 2, without quoting it', async () => {
    const body = 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDTHISISNOTAKEY';
    const pem = `-----BEGIN PRIVATE KEY-----\n${body}\n-----END PRIVATE KEY-----\n`;
    await refusedBeforeOkta(envFor(sim, { OKTA_API_TOKEN: undefined, OKTA_CLIENT_ID: '0oaSvc', OKTA_PRIVATE_KEY: pem }), 2, /OKTA_PRIVATE_KEY: does not parse as a PEM or JWK private key/, 'THISISNOTAKEY');
  });

  it('a private key file that is missing: exit 2', async () => {
    await refusedBeforeOkta(envFor(sim, { OKTA_API_TOKEN: undefined, OKTA_CLIENT_ID: '0oaSvc', OKTA_PRIVATE_KEY_FILE: '/nonexistent/key.pem' }), 2, /OKTA_PRIVATE_KEY_FILE: no such file/);
  });

  it('an unreachable REDIS_URL (nothing listens): exit 3 with a clear message, as a real process', async () => {
    const { server, port } = await listen(() => {});
    server.close();
    const p = spawnCli(['run', '--csv', csv, '--yes'], envFor(sim, { REDIS_URL: `redis://127.0.0.1:${port}` }));
    const killer = setTimeout(() => p.child.kill('SIGKILL'), 20_000);
    const r = await p.done;
    clearTimeout(killer);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(new RegExp(`Redis at redis://127\\.0\\.0\\.1:${port}/? could not be reached.*ECONNREFUSED.*check REDIS_URL`));
    expect(sim.log.snapshot().total).toBe(0);
  }, 30_000);

  it('a REDIS_URL that accepts connections but never answers: exit 3 (its own give-up, not the test\'s kill), never a hang', async () => {
    const sockets: Socket[] = [];
    const { server, port } = await listen((s) => void sockets.push(s));
    try {
      const p = spawnCli(['status', 'some-run'], envFor(sim, { REDIS_URL: `redis://127.0.0.1:${port}` }));
      const killer = setTimeout(() => p.child.kill('SIGKILL'), 20_000);
      const r = await p.done;
      clearTimeout(killer);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toMatch(/could not be reached within \d+ s/);
    } finally {
      for (const s of sockets) s.destroy();
      server.close();
    }
  }, 30_000);

  it('a Redis that may evict keys (maxmemory-policy allkeys-lru) is refused: exit 3, naming the setting', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gs-lru-'));
    try {
      const lru = await ensureEmbeddedRedis({ dir, extraArgs: ['--maxmemory-policy', 'allkeys-lru'] });
      const r = await refusedBeforeOkta(envFor(sim, { REDIS_URL: lru.url }), 3, /has maxmemory-policy allkeys-lru; grantsweep needs noeviction/);
      expect(r.stdout).toBe('');
    } finally {
      await stopEmbeddedRedis(dir);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
