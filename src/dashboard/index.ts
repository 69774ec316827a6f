/**
 * The operator's web dashboard: bull-board for the org queues, and a page of runs with
 * their reports and retry/cancel buttons.
 *
 * Why a top-level folder of its own: it is neither the CLI (src/cli parses flags and
 * prints to a terminal; `grantsweep dashboard` is only a thin command that starts this
 * server) nor the queue (src/queue processes targets; the dashboard never does, it reads
 * the run store and calls the same run actions as `retry` and `cancel`, in
 * src/queue/run-actions.ts). It is a long-lived HTTP server with its own security rules
 * (auth.ts) and rendering (html.ts), and the only code that depends on Express.
 */
import { createServer, type Server } from 'node:http';
import { listen } from '../listen.ts';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { UsageError } from '../errors.ts';
import { orgKeyOf } from '../queue/org.ts';
import type { RunStore } from '../runs/run-store.ts';
import { bindRule } from './auth.ts';
import { createQueueBoard } from './queues.ts';
import { createApp } from './server.ts';

export { bindRule, isLoopbackHost, TOKEN_ENV } from './auth.ts';

export interface DashboardOptions {
  redis: Redis;
  /** For bull-board's own connection. */
  redisUrl: string;
  store: RunStore;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 3000; 0 picks a free port. */
  port?: number;
  /** Required unless bound to loopback; checked on every request when given. */
  token?: string | null;
  /** Refuse to start without a token even on loopback. */
  requireToken?: boolean;
  /** Orgs whose queue is shown even before it has a job (the configured OKTA_ORG_URL). */
  orgUrls?: string[];
  log?: Logger;
}

export interface Dashboard {
  /** http://host:port, without a trailing slash. */
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startDashboard(opts: DashboardOptions): Promise<Dashboard> {
  const host = opts.host ?? '127.0.0.1';
  const token = opts.token ?? null;
  const rule = bindRule({ host, token, requireToken: opts.requireToken });
  if (rule.problem) throw new UsageError(rule.problem);

  const board = createQueueBoard({
    redis: opts.redis,
    redisUrl: opts.redisUrl,
    store: opts.store,
    basePath: '/queues',
    orgKeys: (opts.orgUrls ?? []).map(orgKeyOf),
    log: opts.log,
  });
  const app = createApp({ redis: opts.redis, store: opts.store, token, board, log: opts.log });

  let server: Server | undefined;
  try {
    await board.refresh(true);
    server = createServer(app);
    const port = await listen(server, opts.port ?? 3000, host, '--host/--port');
    const shownHost = host.includes(':') ? `[${host}]` : host;
    return {
      url: `http://${shownHost}:${port}`,
      port,
      close: async () => {
        await new Promise<void>((resolve) => {
          server!.close(() => resolve());
          server!.closeAllConnections();
        });
        await board.close();
      },
    };
  } catch (err) {
    server?.close();
    await board.close();
    throw err;
  }
}

