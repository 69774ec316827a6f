import type { IncomingMessage, ServerResponse } from 'node:http';
import { isUserStatus, type SimControl } from './control.ts';
import { SimOptionsError } from './sim-errors.ts';
import { readBody } from './read-body.ts';

/**
 * Private /__sim/ endpoints for tests, the demo and benchmarks: no auth, loopback
 * only, never rate limited or logged.
 */

function send(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  return v === null || !/^\d+$/.test(v) ? undefined : Number(v);
}

export async function handleInspect(
  control: SimControl,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  query: URLSearchParams,
): Promise<void> {
  if (!LOOPBACK.has(req.socket.remoteAddress ?? '')) return send(res, 403, { error: 'loopback only' });
  const route = `${req.method} ${path}`;
  switch (route) {
    case 'GET /__sim/state': {
      const userId = query.get('userId');
      if (userId === null) return send(res, 200, control.counts());
      const grants = control.grantsOf(userId);
      return grants ? send(res, 200, { userId, grants }) : send(res, 404, { error: `unknown user ${userId}` });
    }
    case 'GET /__sim/users': {
      const status = query.get('status');
      if (status !== null && !isUserStatus(status)) return send(res, 400, { error: `unknown status ${status}` });
      const users = control.sampleUsers({
        count: intParam(query, 'count') ?? 10,
        status: status ?? undefined,
        minGrants: intParam(query, 'minGrants'),
        offset: intParam(query, 'offset'),
      });
      // A bare array: the demo and tests read it as SampleUser[].
      return send(res, 200, users);
    }
    case 'GET /__sim/directory':
      return send(res, 200, control.directory());
    case 'GET /__sim/log': {
      const snap = control.snapshotLog();
      if (query.get('reset') === '1') control.resetLog();
      return send(res, 200, snap);
    }
    case 'POST /__sim/reset':
      control.reset();
      return send(res, 200, { ok: true, ...control.counts() });
    case 'GET /__sim/config':
      return send(res, 200, control.currentConfig());
    case 'POST /__sim/config': {
      let patch: unknown;
      try {
        patch = JSON.parse((await readBody(req)) || '{}');
      } catch {
        return send(res, 400, { error: 'body must be JSON' });
      }
      try {
        return send(res, 200, control.configure(patch));
      } catch (e) {
        if (e instanceof SimOptionsError) return send(res, 400, { error: e.message });
        throw e;
      }
    }
    default:
      return send(res, 404, { error: `no inspection endpoint ${route}` });
  }
}
