import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { OktaNetworkError } from '../../src/okta/errors.ts';
import { createTransport, proxyFor, type Transport } from '../../src/okta/http.ts';

const open: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const o of open.splice(0)) await o.close();
});

async function listen(handler: Parameters<typeof createServer>[1]): Promise<{ url: string; server: Server }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  open.push({ close: () => new Promise<void>((r) => server.close(() => r())) });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

function transport(timeoutMs = 5_000): Transport {
  const t = createTransport({ connections: 2, timeoutMs });
  open.unshift(t); // close the agent before the servers
  return t;
}

const SECRET = 'SSWS 00secretTOKENvalue';

describe('createTransport', () => {
  it('returns status, body and lower-case headers, with repeated headers as arrays', async () => {
    const { url } = await listen((req, res) => {
      res.setHeader('Link', ['<a>; rel="self"', '<b>; rel="next"']);
      res.setHeader('X-Seen-Auth', String(req.headers.authorization));
      res.end(`${req.method} ${req.url}`);
    });
    const res = await transport().send({ method: 'DELETE', url: `${url}/api/v1/x?y=1`, headers: { authorization: SECRET } });
    expect(res.status).toBe(200);
    expect(res.body).toBe('DELETE /api/v1/x?y=1');
    expect(res.headers.link).toEqual(['<a>; rel="self"', '<b>; rel="next"']);
    expect(res.headers['x-seen-auth']).toBe(SECRET);
  });

  it('turns a headers timeout into a transient OktaNetworkError without the request headers', async () => {
    const { url } = await listen(() => {
      /* never answers */
    });
    const err = await transport(200)
      .send({ method: 'GET', url: `${url}/api/v1/users/00u1?limit=2`, headers: { authorization: SECRET } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OktaNetworkError);
    expect(err).toMatchObject({ kind: 'transient', code: 'UND_ERR_HEADERS_TIMEOUT', method: 'GET', path: '/api/v1/users/00u1' });
    for (const text of [String(err), JSON.stringify(err), inspect(err, { depth: 10, showHidden: true })]) {
      expect(text).not.toContain('secretTOKEN');
    }
  });

  it('an answer trickled a byte at a time (never idle for the timeout) still ends: REQUEST_TIMEOUT a second after it', async () => {
    const timers: NodeJS.Timeout[] = [];
    const { url } = await listen((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      timers.push(setInterval(() => res.write(' '), 50));
    });
    try {
      const err = await transport(200).send({ method: 'DELETE', url: `${url}/api/v1/users/00u1/grants`, headers: { authorization: SECRET } }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OktaNetworkError);
      expect(err).toMatchObject({ kind: 'transient', code: 'REQUEST_TIMEOUT', method: 'DELETE', path: '/api/v1/users/00u1/grants' });
      expect((err as OktaNetworkError).neverSent).toBe(false);
    } finally {
      for (const t of timers) clearInterval(t);
    }
  });

  it('turns a dropped connection and a refused connection into OktaNetworkError with the socket code', async () => {
    const { url } = await listen((req) => req.socket.destroy());
    const reset = await transport().send({ method: 'GET', url: `${url}/x`, headers: {} }).catch((e: unknown) => e);
    expect(reset).toBeInstanceOf(OktaNetworkError);
    expect((reset as OktaNetworkError).code).toMatch(/^(UND_ERR_SOCKET|ECONNRESET)$/);

    const closed = await listen(() => {});
    await new Promise<void>((r) => closed.server.close(() => r()));
    const refused = await transport().send({ method: 'GET', url: `${closed.url}/x`, headers: {} }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ name: 'OktaNetworkError', code: 'ECONNREFUSED', path: '/x' });
  });

  it('does not follow redirects (the Authorization header must stay on the org)', async () => {
    let elsewhere = 0;
    const other = await listen((_req, res) => {
      elsewhere++;
      res.end('{}');
    });
    const { url } = await listen((_req, res) => {
      res.writeHead(302, { location: `${other.url}/steal` });
      res.end();
    });
    const res = await transport().send({ method: 'GET', url: `${url}/api/v1/users`, headers: { authorization: SECRET } });
    expect(res.status).toBe(302);
    expect(elsewhere).toBe(0);
  });

  it('refuses nonsense sizes at construction', () => {
    expect(() => createTransport({ connections: 0, timeoutMs: 1000 })).toThrow(RangeError);
    expect(() => createTransport({ connections: 1, timeoutMs: 0 })).toThrow(RangeError);
  });
});

describe('proxyFor: the proxy the transport uses for a URL (undici\'s EnvHttpProxyAgent rule)', () => {
  const p = (noProxy: string | null, httpsProxy: string | null = 'http://s:3128', httpProxy: string | null = 'http://h:3128') => ({ httpsProxy, httpProxy, noProxy });
  it('picks HTTPS_PROXY for https, falling back to HTTP_PROXY; HTTP_PROXY for http; none without settings', () => {
    expect(proxyFor('https://acme.okta.com', p(null))).toBe('http://s:3128');
    expect(proxyFor('https://acme.okta.com', p(null, null))).toBe('http://h:3128');
    expect(proxyFor('http://127.0.0.1:8089', p(null))).toBe('http://h:3128');
    expect(proxyFor('http://127.0.0.1:8089', p(null, 'http://s:3128', null))).toBeNull();
    expect(proxyFor('https://acme.okta.com', null)).toBeNull();
  });
  it('goes direct for NO_PROXY hosts: exact, parent domain (with or without a leading dot or *.), port, *', () => {
    for (const np of ['acme.okta.com', 'okta.com', '.okta.com', '*.okta.com', 'OKTA.com', 'x.org, okta.com', 'okta.com:443', '*']) {
      expect(proxyFor('https://acme.okta.com', p(np)), np).toBeNull();
    }
    for (const np of ['ta.com', 'acme.okta.com.evil', 'okta.com:8443', 'other.okta.com']) {
      expect(proxyFor('https://acme.okta.com', p(np)), np).toBe('http://s:3128');
    }
  });
});
