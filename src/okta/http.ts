import { Agent, EnvHttpProxyAgent, request } from 'undici';
import { OktaNetworkError, type HttpMethod } from './errors.ts';

export interface TransportRequest {
  method: HttpMethod;
  url: string;
  headers: Record<string, string>;
  body?: string;
}

export interface TransportResponse {
  status: number;
  /** Lower-case names; a repeated header (e.g. two `Link`s) is an array. */
  headers: Record<string, string | string[]>;
  body: string;
}

export interface Transport {
  send(req: TransportRequest): Promise<TransportResponse>;
  /** Waits for requests in flight; `force` aborts them (a second Ctrl-C). */
  close(force?: boolean): Promise<void>;
}

export interface TransportOptions {
  /** Keep-alive sockets per origin: size it to the number of requests in flight. */
  connections: number;
  /** Applies separately to connecting, to the response headers and to each body gap. */
  timeoutMs: number;
  /** Reach Okta through a proxy (CONNECT); null or absent: directly. */
  proxy?: ProxySettings | null;
}

/** HTTPS_PROXY, HTTP_PROXY, NO_PROXY as config/ read them (proxy URLs may hold credentials). */
export interface ProxySettings {
  httpsProxy: string | null;
  httpProxy: string | null;
  noProxy: string | null;
}

/**
 * The proxy a transport with these settings uses for `url`, or null for a direct
 * connection: undici's EnvHttpProxyAgent rule, which createTransport hands the settings to
 * (NO_PROXY: "*", or hosts matched exactly or as a parent domain, optionally with a port;
 * an https URL falls back to HTTP_PROXY). For what `check` reports; the agent decides alone.
 */
export function proxyFor(url: string, p: ProxySettings | null): string | null {
  if (!p) return null;
  const u = new URL(url);
  const host = u.host.replace(/:\d*$/, '').toLowerCase();
  const port = Number(u.port) || (u.protocol === 'https:' ? 443 : 80);
  const entries = (p.noProxy ?? '').split(/[,\s]/).filter(Boolean);
  if (p.noProxy?.trim() === '*') return null;
  for (const entry of entries) {
    const m = /^(.+):(\d+)$/.exec(entry);
    const name = (m ? m[1]! : entry).replace(/^\*?\./, '').toLowerCase();
    if (m && Number(m[2]) !== port) continue;
    if (host === name || host.endsWith(`.${name}`)) return null;
  }
  return (u.protocol === 'https:' ? p.httpsProxy || p.httpProxy : p.httpProxy) || null;
}

/** An Okta list page is at most a few MB; anything far larger is not Okta talking. */
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

/** How much longer than the request timeout a whole answer (headers and body) may take. */
const WHOLE_ANSWER_GRACE_MS = 1_000;

/**
 * undici's `request` rather than fetch: less overhead per call and separate header and
 * body timeouts. It never follows redirects, so the Authorization header cannot be
 * carried to a host the caller did not choose.
 */
export function createTransport(opts: TransportOptions): Transport {
  if (!Number.isInteger(opts.connections) || opts.connections < 1) {
    throw new RangeError(`connections must be an integer ≥ 1, got ${opts.connections}`);
  }
  if (!Number.isFinite(opts.timeoutMs) || opts.timeoutMs <= 0) {
    throw new RangeError(`timeoutMs must be a positive number, got ${opts.timeoutMs}`);
  }
  const agentOpts = {
    connections: opts.connections,
    headersTimeout: opts.timeoutMs,
    bodyTimeout: opts.timeoutMs,
    connect: { timeout: opts.timeoutMs },
    maxResponseSize: MAX_RESPONSE_BYTES,
  };
  // Only the proxy the config names: '' keeps undici from reading the environment itself.
  const p = opts.proxy;
  const agent = p
    ? new EnvHttpProxyAgent({ ...agentOpts, httpsProxy: p.httpsProxy ?? '', httpProxy: p.httpProxy ?? '', noProxy: p.noProxy ?? '' })
    : new Agent(agentOpts);
  return {
    async send(req) {
      // undici's timeouts measure idleness (to the headers, between body chunks): an answer
      // trickled a byte at a time would never end. The whole exchange gets a second more than
      // the timeout (a silent server meets undici's own first), well within a budget lease.
      const deadline = AbortSignal.timeout(opts.timeoutMs + WHOLE_ANSWER_GRACE_MS);
      try {
        const res = await request(req.url, {
          method: req.method,
          headers: req.headers,
          body: req.body,
          dispatcher: agent,
          signal: deadline,
        });
        const body = await res.body.text();
        const headers: Record<string, string | string[]> = {};
        for (const [name, value] of Object.entries(res.headers)) {
          if (value !== undefined) headers[name.toLowerCase()] = value;
        }
        return { status: res.statusCode, headers, body };
      } catch (err) {
        if (deadline.aborted) throw new OktaNetworkError('REQUEST_TIMEOUT', req.method, req.url, `no whole answer within ${opts.timeoutMs + WHOLE_ANSWER_GRACE_MS} ms`);
        // Only the code and undici's own short message: the error object may reference
        // the request options, and those hold the Authorization header.
        throw new OktaNetworkError(networkCode(err), req.method, req.url, networkDetail(err));
      }
    },
    close: (force) => (force ? agent.destroy() : agent.close()),
  };
}

function networkCode(err: unknown): string {
  // undici's ProxyAgent: "Proxy response (407) !== 200 when HTTP Tunneling".
  const proxy = /^Proxy response \((\d{3})\)/.exec(String((err as { message?: unknown } | null)?.message ?? ''));
  if (proxy) return `PROXY_${proxy[1]}`;
  const e = err as { code?: unknown; errors?: Array<{ code?: unknown }>; cause?: { code?: unknown } } | null;
  const code = e?.code ?? e?.errors?.[0]?.code ?? e?.cause?.code;
  return typeof code === 'string' && code !== '' ? code : 'UNKNOWN';
}

function networkDetail(err: unknown): string | undefined {
  const message = (err as { message?: unknown } | null)?.message;
  return typeof message === 'string' && message !== '' ? message.slice(0, 200) : undefined;
}

