import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { BucketName } from '../okta/types.ts';
import type { AuthRegistry, Principal } from './auth.ts';
import type { SimContext } from './context.ts';
import type { FaultInjector, FaultKind } from './faults.ts';
import { uniqueId } from './hash.ts';
import type { RateDecision, RateLimiter } from './rate-limiter.ts';
import { readBody } from './read-body.ts';
import type { RecordNote, RequestLog } from './request-log.ts';
import { bucketForUnknown, matchRoute, type RouteMatch } from './router.ts';
import {
  badMethod,
  forbidden,
  invalidToken,
  serverError,
  tooManyRequests,
  unknownPath,
  type SimResponse,
} from './sim-errors.ts';

/**
 * The request pipeline: concurrency slot → rate bucket (per-principal share) →
 * fault draw → route, auth → handler → reset/delay faults → answer with the
 * rate-limit headers of the bucket. Kept synchronous for GETs: this is the hot path
 * the throughput benchmark measures.
 */

export interface Pipeline {
  ctx: SimContext;
  auth: AuthRegistry;
  limiter: RateLimiter;
  log: RequestLog;
  faults: FaultInjector;
  now: () => number;
}

let dateSec = -1;
let dateText = '';
/** The Date header follows the simulator's clock (tests may step it), cached per second. */
function httpDate(ms: number): string {
  const sec = Math.floor(ms / 1000);
  if (sec !== dateSec) {
    dateSec = sec;
    dateText = new Date(sec * 1000).toUTCString();
  }
  return dateText;
}

function resolve(
  p: Pipeline,
  req: IncomingMessage,
  match: RouteMatch | null,
  principal: Principal | null,
  path: string,
  query: URLSearchParams,
): SimResponse | Promise<SimResponse> {
  if (!match) return unknownPath();
  const method = req.method ?? 'GET';
  const spec = match.route.methods[method];
  if (!spec) return badMethod();
  if (spec.scope !== null) {
    if (!principal) return invalidToken();
    if (!p.auth.allows(principal, method, spec.scope)) return forbidden();
  }
  const ctx = { sim: p.ctx, method, path, query, params: match.params, body: '', headers: req.headers };
  if (method === 'POST') return readBody(req).then((body) => spec.handler({ ...ctx, body }));
  return spec.handler(ctx);
}

export function handleApiRequest(p: Pipeline, req: IncomingMessage, res: ServerResponse, path: string, rawQuery: string): void {
  const method = req.method ?? 'GET';
  const match = matchRoute(path);
  const bucket: BucketName = match?.route.bucket ?? bucketForUnknown(path);
  const endpoint = `${method} ${match?.route.template ?? '(unmatched)'}`;
  const principal = p.auth.identify(req.headers.authorization, { proof: req.headers.dpop, htm: method, htu: `${p.ctx.base}${path}` });
  const label = principal?.label ?? (req.headers.authorization ? 'invalid' : 'anonymous');
  const detail = { at: p.now(), method, path, query: rawQuery };

  const reply = (r: SimResponse, d: RateDecision, note?: RecordNote): void => {
    if (res.destroyed) {
      p.log.record(bucket, endpoint, 'client-closed', label, note, detail);
      return;
    }
    const reset = String(d.resetSec);
    const headers: OutgoingHttpHeaders = {
      Date: httpDate(p.now()),
      'X-Okta-Request-Id': uniqueId('req'),
      'X-Rate-Limit-Limit': String(d.limit),
      'X-Rate-Limit-Remaining': String(d.remaining),
      'X-Rate-Limit-Reset': p.ctx.config().duplicateResetHeader ? [reset, reset] : reset,
      ...r.headers,
    };
    if (r.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = Buffer.byteLength(r.body);
    }
    res.writeHead(r.status, headers);
    res.end(r.body);
    p.log.record(bucket, endpoint, r.status, label, note, detail);
  };
  const later = (ms: number, fn: () => void): void => {
    if (ms > 0) setTimeout(fn, ms);
    else fn();
  };

  // Latency applies to every answer, 429s included.
  const latency = p.ctx.config().faults.latencyMs;
  if (!p.limiter.enter()) {
    const d = p.limiter.concurrencyDecision();
    return later(latency, () => reply(tooManyRequests(), d, { reject: 'concurrency' }));
  }
  res.once('close', () => p.limiter.leave());

  const decision = p.limiter.check(bucket, principal?.label ?? null);
  if (!decision.allowed) return later(latency, () => reply(tooManyRequests(), decision, { reject: decision.reject }));

  const fault = p.faults.draw(req.method ?? 'GET');
  if (fault.kind === 'limit429') {
    return later(fault.delayMs, () => reply(tooManyRequests(), { ...decision, allowed: false, remaining: 0 }, { fault: 'limit429' }));
  }
  if (fault.kind === 'error500' || fault.kind === 'error503') {
    const status = fault.kind === 'error500' ? 500 : 503;
    return later(fault.delayMs, () => reply(serverError(status), decision, { fault: fault.kind }));
  }
  const kind: FaultKind = fault.kind;
  const finish = (r: SimResponse): void => {
    if (kind === 'reset') {
      p.log.record(bucket, endpoint, 'reset', label, { fault: kind }, detail);
      req.socket.destroy();
      return;
    }
    later(fault.delayMs, () => reply(r, decision, { fault: kind }));
  };
  const fail = (e: unknown): void => {
    process.emitWarning(`simulator handler failed: ${(e as Error)?.stack ?? String(e)}`);
    finish(serverError(500));
  };
  try {
    const query = new URLSearchParams(rawQuery);
    const result = resolve(p, req, match, principal, path, query);
    if (result instanceof Promise) result.then(finish, fail);
    else finish(result);
  } catch (e) {
    fail(e);
  }
}
