import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { RunStore } from '../../src/runs/run-store.ts';
import { runCli } from '../helpers/cli.ts';
import { uniqueRunId } from '../helpers/redis.ts';
import { envFor, simAndRedis, startTestSim, writeCsv } from '../helpers/sim.ts';

/**
 * Reaching Okta through a corporate proxy (HTTPS_PROXY / HTTP_PROXY / NO_PROXY): a real
 * CONNECT proxy on 127.0.0.1 that asks for Basic credentials, in front of the simulator.
 */
const t = simAndRedis({ users: 120 });
const USER = 'gsproxy';
const PASSWORD = `pw-${randomBytes(9).toString('base64url')}`;

interface Proxy {
  url: string;
  tunnels: string[];
  refused: number;
  close(): Promise<void>;
}

async function startProxy(): Promise<Proxy> {
  const tunnels: string[] = [];
  let refused = 0;
  const expected = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
  const server: Server = createServer((_req, res) => res.writeHead(405).end());
  server.on('connect', (req, socket, head) => {
    if (req.headers['proxy-authorization'] !== expected) {
      refused++;
      socket.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\n\r\n');
      return;
    }
    const [host, port] = (req.url ?? '').split(':');
    tunnels.push(req.url ?? '');
    const upstream = connect(Number(port), host!, () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${USER}:${PASSWORD}@127.0.0.1:${port}`,
    tunnels,
    get refused() {
      return refused;
    },
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

async function runThrough(env: NodeJS.ProcessEnv, users = 20) {
  const ids = t.sim.org.sampleUsers({ count: users, status: 'ACTIVE', minGrants: 1, offset: Math.floor(Math.random() * 90) }).map((u) => u.id);
  const runId = uniqueRunId('proxy');
  const before = t.sim.log.snapshot().total;
  const r = await runCli(['run', '--csv', writeCsv(['userId', ...ids]), '--yes', '--run-id', runId], envFor(t.sim, { LOG_LEVEL: 'debug', ...env }));
  return { ...r, runId, ids, requests: t.sim.log.snapshot().total - before };
}

describe('a proxy between grantsweep and Okta', () => {
  it('HTTP_PROXY with credentials: every request goes through the tunnel, the run completes, the password is never printed', async () => {
    const proxy = await startProxy();
    try {
      const r = await runThrough({ HTTP_PROXY: proxy.url });
      expect(r.code, r.stderr).toBe(0);
      expect(proxy.tunnels.length).toBeGreaterThan(0);
      expect(new Set(proxy.tunnels)).toEqual(new Set([new URL(t.sim.url).host]));
      expect(proxy.refused).toBe(0);
      expect(r.requests).toBeGreaterThanOrEqual(r.ids.length);
      expect(await new RunStore(t.redis).getCounts(r.runId)).toMatchObject({ total: r.ids.length, pending: 0, failed: 0 });
      expect(`${r.stdout}\n${r.stderr}`).not.toContain(PASSWORD);
    } finally {
      await proxy.close();
    }
  });

  it('NO_PROXY names the org: no tunnel, the run completes directly', async () => {
    const proxy = await startProxy();
    try {
      const r = await runThrough({ HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1' }, 5);
      expect(r.code, r.stderr).toBe(0);
      expect(proxy.tunnels).toEqual([]);
      expect(r.requests).toBeGreaterThanOrEqual(5);
      // `check` says what the run did: direct (it used to name the proxy, NO_PROXY unread).
      const direct = await runCli(['check', '--json'], envFor(t.sim, { HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1' }));
      expect(direct.code, direct.stderr).toBe(0);
      expect(JSON.parse(direct.stdout).proxy).toBeNull();
      const through = await runCli(['check', '--json'], envFor(t.sim, { HTTP_PROXY: proxy.url, NO_PROXY: 'example.com' }));
      expect(JSON.parse(through.stdout).proxy).toBe(proxy.url.replace(/\/\/[^@]*@/, '//***@'));
      expect(through.stdout).not.toContain(PASSWORD);
    } finally {
      await proxy.close();
    }
  });

  it("a proxy that refuses the credentials: the service app's token request goes to it too, and nothing reaches Okta", async () => {
    const proxy = await startProxy();
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    try {
      const wrong = proxy.url.replace(PASSWORD, 'not-the-password');
      const sim = await startTestSim({ users: 10, oauthClients: [{ clientId: '0oaProxied', publicJwk: publicKey.export({ format: 'jwk' }) as Record<string, unknown> }] });
      try {
        const env = { ...envFor(sim), OKTA_API_TOKEN: '', OKTA_CLIENT_ID: '0oaProxied', OKTA_PRIVATE_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, HTTPS_PROXY: wrong, HTTP_PROXY: wrong };
        const ids = sim.org.sampleUsers({ count: 3 }).map((u) => u.id);
        const r = await runCli(['run', '--csv', writeCsv(['userId', ...ids]), '--yes', '--run-id', uniqueRunId('proxy-407')], env);
        // The run halts at once (exit 3) with what to fix, instead of every target failing after its retries.
        expect(r.code, r.stderr).toBe(3);
        expect(r.stdout).toMatch(/halted \(the proxy refused the tunnel to Okta \(HTTP 407: its credentials\): check HTTPS_PROXY/);
        expect(proxy.refused).toBeGreaterThan(0);
        expect(proxy.refused).toBeLessThanOrEqual(3);
        expect(sim.log.snapshot().total).toBe(0);
        expect(`${r.stdout}\n${r.stderr}`).not.toContain('not-the-password');
      } finally {
        await sim.close();
      }
    } finally {
      await proxy.close();
    }
  });

  it('a proxy that refuses a directory listing: the run is refused at once (exit 3), not retried', async () => {
    const proxy = await startProxy();
    try {
      const wrong = proxy.url.replace(PASSWORD, 'not-the-password');
      const before = t.sim.log.snapshot().total;
      const r = await runCli(['run', '--search', 'status eq "ACTIVE"', '--yes', '--run-id', uniqueRunId('proxy-dir')], envFor(t.sim, { HTTP_PROXY: wrong }));
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/the proxy refused the tunnel to Okta \(HTTP 407: its credentials\): check HTTPS_PROXY/);
      // One refused tunnel: a refusal is not retried (a listing retries a transient failure dozens of times).
      expect(proxy.refused).toBe(1);
      expect(t.sim.log.snapshot().total - before).toBe(0);
    } finally {
      await proxy.close();
    }
  });

  it('a proxy URL that is not http(s) is refused before any request, without its password (exit 2)', async () => {
    const r = await runThrough({ HTTPS_PROXY: `socks5://${USER}:${PASSWORD}@127.0.0.1:1080` }, 3);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/HTTPS_PROXY: must be an http:\/\/ or https:\/\/ proxy, got socks5:\/\/127\.0\.0\.1:1080/);
    expect(`${r.stdout}\n${r.stderr}`).not.toContain(PASSWORD);
    expect(r.requests).toBe(0);
  });
});
