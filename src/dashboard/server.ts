import type { Writable } from 'node:stream';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { ExitError, UsageError } from '../errors.ts';
import { readPaceChange } from '../../config/pace-change.ts';
import { ORG_KEY } from '../queue/org.ts';
import { cancelRun, paceRun, retryFailed, retrySaid } from '../queue/run-actions.ts';
import { redisAnswers } from '../redis/connection.ts';
import { writeHtmlReport } from '../runs/html-report.ts';
import { STATUSES } from '../runs/record.ts';
import { runSummary, writeCsvReport, writeJsonReport, type ReportFilter } from '../runs/report.ts';
import { parseStatusList } from '../runs/status-list.ts';
import type { RunStore } from '../runs/run-store.ts';
import { COOKIE_NAME, cookieValueFor, credentialOf, hostHeaderIsLoopback, parseCookies, safeEqual, sameOrigin, type Credential } from './auth.ts';
import { messagePage, REFRESH_SCRIPT, runsPage, STYLESHEET, type Flash, type RunRow } from './html.ts';
import type { QueueBoard } from './queues.ts';
import { RUN_ID, RUN_ID_RULE } from '../runs/run-id.ts';

export type ReportWriter = (store: RunStore, runId: string, out: Writable) => Promise<void>;

export interface AppDeps {
  redis: Redis;
  store: RunStore;
  /** null: the dashboard runs open (loopback only, checked before it starts). */
  token: string | null;
  board: QueueBoard;
  log?: Logger;
}


/** Headers for the dashboard's own pages: nothing but its stylesheet and its refresh script loads, nothing frames it. */
const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/**
 * The HTML report is a self-contained page with its own inline script: it runs sandboxed,
 * in an opaque origin, so that nothing in it (a login, an error text) can act on the dashboard.
 */
const REPORT_CSP = "sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'";

const wantsJson = (req: Request) => !!req.get('accept')?.includes('application/json') && !req.get('accept')?.includes('text/html');

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.use((_req, res, next) => {
    res.set({
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
      // `same-origin` keeps the Origin header on the dashboard's own form posts (the CSRF guard reads it).
      'Referrer-Policy': 'same-origin',
      'Cache-Control': 'no-store',
    });
    next();
  });

  // Unauthenticated, says nothing but whether Redis answers: for container health checks.
  app.get('/healthz', async (_req, res) => {
    if (await redisAnswers(deps.redis)) res.type('text/plain').send('ok\n');
    else res.status(503).type('text/plain').send('redis unreachable\n');
  });

  app.use(guard(deps));
  app.use(express.urlencoded({ extended: false, limit: '4kb' }));

  app.get('/dashboard.css', (_req, res) => {
    res.type('text/css').send(STYLESHEET);
  });
  app.get('/dashboard.js', (_req, res) => {
    res.type('text/javascript').send(REFRESH_SCRIPT);
  });

  app.get('/', async (req, res) => {
    const orgFilter = typeof req.query.org === 'string' && ORG_KEY.test(req.query.org) ? req.query.org : null;
    const rows = await listRows(deps.store, orgFilter);
    const orgs = orgFilter ? await orgsOf(deps.store) : uniqueOrgs(rows);
    res.set('Content-Security-Policy', PAGE_CSP).type('html').send(
      runsPage({ rows, orgs, orgFilter, flash: takeFlash(req, res) }),
    );
  });

  app.get('/api/runs', async (req, res) => {
    const orgFilter = typeof req.query.org === 'string' && ORG_KEY.test(req.query.org) ? req.query.org : null;
    res.json(await listRows(deps.store, orgFilter));
  });

  app.get('/runs/:runId/report.:format', async (req, res) => {
    const runId = checkedRunId(req, res);
    if (runId === null) return;
    const format = req.params.format;
    if (!(await deps.store.getMeta(runId))) return notFound(res, runId);
    // ?status=failed,user_not_found: as `report --status`, for the data formats.
    let filter: ReportFilter = {};
    if (req.query.status !== undefined) {
      try {
        if (typeof req.query.status !== 'string' || format === 'html') throw new UsageError('status: one comma-separated list, for a json or csv report');
        filter = { status: parseStatusList('status', req.query.status, STATUSES, 'of a target') };
      } catch (err) {
        if (!(err instanceof UsageError)) throw err;
        return void res.status(400).type('text/plain').send(`${err.message}\n`);
      }
    }
    let writer: ReportWriter;
    if (format === 'json') {
      res.type('application/json');
      res.set('Content-Disposition', `inline; filename="${runId}.json"`);
      writer = (store, id, out) => writeJsonReport(store, id, out, filter);
    } else if (format === 'csv') {
      res.type('text/csv; charset=utf-8');
      res.set('Content-Disposition', `attachment; filename="${runId}${filter.status ? `-${filter.status.join('-')}` : ''}.csv"`);
      writer = (store, id, out) => writeCsvReport(store, id, out, filter);
    } else if (format === 'html') {
      res.type('html').set('Content-Security-Policy', REPORT_CSP);
      writer = (store, id, out) => writeHtmlReport(store, id, out);
    } else {
      return void res.status(404).type('text/plain').send('no such report format: json, csv or html\n');
    }
    try {
      await writer(deps.store, runId, res);
      res.end();
    } catch (err) {
      deps.log?.error({ err: String(err), runId }, 'dashboard: report failed');
      // Part of it may be sent already: cut the connection rather than end a truncated report cleanly.
      if (res.headersSent) res.destroy(err as Error);
      else res.status(500).type('text/plain').send('the report failed; see the dashboard log\n');
    }
  });

  app.post('/runs/:runId/retry', async (req, res) => {
    const runId = checkedRunId(req, res);
    if (runId === null) return;
    await runAction(req, res, deps, runId, 'retry', async () => {
      const r = await retryFailed(deps.redis, deps.store, runId);
      return { body: { runId, action: 'retry', requeued: r.requeued, resumed: r.resumed, pending: r.pending }, flash: `retried: ${retrySaid(runId, r)}` };
    });
  });

  app.post('/runs/:runId/cancel', async (req, res) => {
    const runId = checkedRunId(req, res);
    if (runId === null) return;
    await runAction(req, res, deps, runId, 'cancel', async () => {
      const r = await cancelRun(deps.redis, deps.store, runId, 'cancelled from the dashboard');
      return {
        body: { runId, action: 'cancel', state: r.state, alreadyCompleted: r.alreadyCompleted },
        flash: r.alreadyCompleted ? `${runId} had already completed` : `cancelled ${runId}: ${r.state}`,
      };
    });
  });

  app.post('/runs/:runId/pace', async (req, res) => {
    const runId = checkedRunId(req, res);
    if (runId === null) return;
    await runAction(req, res, deps, runId, 'pace', async () => {
      const r = await paceRun(deps.store, runId, readPaceChange(req.body, 'form', BadForm));
      return {
        body: { runId, action: 'pace', state: r.state, before: r.before, after: r.after },
        flash: `${runId}: rate share ${r.before.rateShare} → ${r.after.rateShare}, pacing ${r.before.pacing} → ${r.after.pacing}; its workers take it up within seconds`,
      };
    });
  });

  app.use('/queues', async (_req, _res, next) => {
    // New orgs' queues appear on the board without a restart.
    await deps.board.refresh().catch((err) => deps.log?.warn({ err: String(err) }, 'dashboard: queue discovery failed'));
    next();
  }, deps.board.router);

  app.use((_req, res) => {
    res.status(404).set('Content-Security-Policy', PAGE_CSP).type('html').send(messagePage(404, 'Not Found', 'Nothing here.'));
  });

  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (res.headersSent) return void res.destroy();
    // The request's own fault (a path that does not decode, a form too large or in a charset or
    // encoding it cannot be read in): express and its body parser give it a 4xx status.
    const status = clientErrorStatus(err);
    if (status !== null) {
      deps.log?.warn({ status, method: req.method, err: String(err) }, 'dashboard: bad request');
      return void res.status(status).type('text/plain').send(`${status} ${STATUS_TEXT[status] ?? 'Bad Request'}\n`);
    }
    deps.log?.error({ err: String(err) }, 'dashboard: request failed');
    res.status(500).type('text/plain').send('internal error; see the dashboard log\n');
  });
  return app;
}

/**
 * Authentication and the CSRF guard, before anything else.
 * - With a token: a Bearer header, or the cookie that `?token=` sets once (then redirects
 *   to the same page without it, out of the address bar and history). Otherwise 401.
 * - Without one (loopback only): the Host header must be a loopback name, which stops a
 *   DNS-rebinding page from reaching the dashboard as if it were same-origin.
 * - Every state-changing request must come from the dashboard's own pages (Origin),
 *   except one authenticated by a Bearer header, which a browser cannot send cross-site.
 */
function guard(deps: AppDeps) {
  return (req: Request, res: Response, next: NextFunction) => {
    let credential: Credential = 'none';
    if (deps.token === null) {
      if (!hostHeaderIsLoopback(req.headers.host)) {
        return void res.status(421).type('text/plain').send('this dashboard answers to localhost / 127.0.0.1 only\n');
      }
    } else {
      credential = credentialOf(deps.token, req.headers);
      const given = typeof req.query.token === 'string' ? req.query.token : null;
      if (credential === 'none' && given !== null && (req.method === 'GET' || req.method === 'HEAD') && safeEqual(given, deps.token)) {
        const url = new URL(req.originalUrl, 'http://x');
        url.searchParams.delete('token');
        res.cookie(COOKIE_NAME, cookieValueFor(deps.token), { httpOnly: true, sameSite: 'strict', path: '/' });
        return void res.redirect(303, `${url.pathname}${url.search}`);
      }
      if (credential === 'none') {
        res.set('WWW-Authenticate', 'Bearer realm="grantsweep dashboard"');
        return void res.status(401).type('text/plain').send(
          'this dashboard needs its token: open it once as /?token=<token>, or send "Authorization: Bearer <token>"\n',
        );
      }
    }
    const safe = req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS';
    if (!safe && credential !== 'bearer' && !sameOrigin(req.headers)) {
      deps.log?.warn({ method: req.method, path: req.path, origin: req.headers.origin ?? null }, 'dashboard: cross-origin request refused');
      return void res.status(403).type('text/plain').send('refused: this request did not come from the dashboard\'s own page (Origin check)\n');
    }
    next();
  };
}

function checkedRunId(req: Request, res: Response): string | null {
  const runId = String(req.params.runId ?? '');
  if (RUN_ID.test(runId)) return runId;
  res.status(400).type('text/plain').send(`run ids are ${RUN_ID_RULE}\n`);
  return null;
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 413: 'Payload Too Large', 415: 'Unsupported Media Type' };

/** A 4xx that express or its body parser set on an error, or a path that does not decode; else null. */
function clientErrorStatus(err: unknown): number | null {
  if (err instanceof URIError) return 400;
  const e = err as { status?: unknown; statusCode?: unknown } | null;
  const status = typeof e?.status === 'number' ? e.status : typeof e?.statusCode === 'number' ? e.statusCode : null;
  return status !== null && status >= 400 && status < 500 ? status : null;
}

/** A form field that does not parse: the request's fault, not the run's state. */
class BadForm extends UsageError {}

function notFound(res: Response, runId: string): void {
  res.status(404).set('Content-Security-Policy', PAGE_CSP).type('html').send(messagePage(404, 'Not Found', `No run ${runId}.`));
}

async function runAction(
  req: Request,
  res: Response,
  deps: AppDeps,
  runId: string,
  action: 'retry' | 'cancel' | 'pace',
  act: () => Promise<{ body: Record<string, unknown>; flash: string }>,
): Promise<void> {
  if (!(await deps.store.getMeta(runId))) {
    if (wantsJson(req)) return void res.status(404).json({ error: `no run ${runId}` });
    return notFound(res, runId);
  }
  let result: { body: Record<string, unknown>; flash: string };
  try {
    result = await act();
  } catch (err) {
    if (!(err instanceof ExitError)) throw err;
    deps.log?.warn({ runId, action, err: err.message }, 'dashboard: action refused');
    // What was asked cannot be read (400), or the run is not in a state to take it (409).
    if (wantsJson(req)) return void res.status(err instanceof BadForm ? 400 : 409).json({ error: err.message });
    return void res.redirect(303, backTo(req, res, { kind: 'error', text: `${action} ${runId}: ${err.message}` }));
  }
  deps.log?.info({ runId, action, ...result.body, remote: req.socket.remoteAddress }, `dashboard: ${action}`);
  if (wantsJson(req)) return void res.json(result.body);
  res.redirect(303, backTo(req, res, { kind: 'ok', text: result.flash }));
}

const FLASH_COOKIE = 'grantsweep_flash';

/**
 * Back to the runs page (keeping its org filter), with the outcome shown once at the top.
 * The outcome travels in a short-lived cookie, not the URL: a link cannot put words on the page.
 */
function backTo(req: Request, res: Response, flash: Flash): string {
  const org = typeof req.body?.org === 'string' ? req.body.org : null;
  res.cookie(FLASH_COOKIE, Buffer.from(JSON.stringify({ kind: flash.kind, text: flash.text.slice(0, 300) })).toString('base64url'), {
    httpOnly: true,
    sameSite: 'strict',
    path: '/',
    maxAge: 60_000,
  });
  return org && ORG_KEY.test(org) ? `/?org=${org}` : '/';
}

function takeFlash(req: Request, res: Response): Flash | null {
  const raw = parseCookies(req.headers.cookie).get(FLASH_COOKIE);
  if (raw === undefined) return null;
  res.clearCookie(FLASH_COOKIE, { path: '/' });
  try {
    const f = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Partial<Flash>;
    if ((f.kind === 'ok' || f.kind === 'error') && typeof f.text === 'string') return { kind: f.kind, text: f.text.slice(0, 300) };
  } catch {
    // not ours: ignore it
  }
  return null;
}

/** The newest runs (100; with an org filter, its runs among the newest 1,000). */
async function listRows(store: RunStore, orgFilter: string | null): Promise<RunRow[]> {
  const metas = (await store.listRuns(orgFilter ? 1_000 : 100)).filter((m) => !orgFilter || m.orgKey === orgFilter).slice(0, 100);
  return Promise.all(metas.map(async (m) => ({ ...runSummary(m, await store.getCounts(m.runId)), orgUrl: m.orgUrl, orgKey: m.orgKey })));
}

async function orgsOf(store: RunStore): Promise<{ orgKey: string; orgUrl: string }[]> {
  return uniqueOrgs(await store.listRuns(100));
}

function uniqueOrgs(rows: { orgKey: string; orgUrl: string }[]): { orgKey: string; orgUrl: string }[] {
  const seen = new Map<string, string>();
  for (const r of rows) if (r.orgKey && !seen.has(r.orgKey)) seen.set(r.orgKey, r.orgUrl);
  return [...seen].map(([orgKey, orgUrl]) => ({ orgKey, orgUrl }));
}
