import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { listen } from '../listen.ts';
import type { WorkerMetrics } from './worker-metrics.ts';

export interface MetricsServer {
  /** http://host:port */
  url: string;
  port: number;
  close(): Promise<void>;
}

export interface MetricsServerOptions {
  metrics: WorkerMetrics;
  /** 127.0.0.1 by default: metrics say which buckets are busy; expose them on purpose. */
  host?: string;
  port: number;
  /** Null when healthy, else why not (answered with 503). */
  health: () => Promise<string | null>;
}

/** GET /metrics (Prometheus text format) and GET /healthz, on node:http. */
export async function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    const answer = async () => {
      if (path === '/metrics') {
        const body = await opts.metrics.metrics();
        res.writeHead(200, { 'Content-Type': opts.metrics.contentType, 'Cache-Control': 'no-store' }).end(body);
      } else if (path === '/healthz') {
        const problem = await opts.health().catch((e: unknown) => String(e));
        res.writeHead(problem === null ? 200 : 503, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-store' });
        res.end(problem === null ? 'ok\n' : `unhealthy: ${problem}\n`);
      } else {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found: try /metrics or /healthz\n');
      }
    };
    answer().catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end(`error: ${String(e)}\n`);
    });
  });
  await listen(server, opts.port, opts.host ?? '127.0.0.1', '--metrics-host/--metrics-port');
  const { port, address, family } = server.address() as AddressInfo;
  const host = family === 'IPv6' ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
