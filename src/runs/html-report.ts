import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import pkg from '../../package.json' with { type: 'json' };
import type { TargetRecord, TargetStatus } from './record.ts';
import { resultJson, runSummary } from './report.ts';
import { pacedBucket } from './paced-bucket.ts';
import type { MinuteCounts, RunCounts, RunStore } from './run-store.ts';

/**
 * `report --format html`: one self-contained page (inline CSS, JS and SVG; a CSP that
 * allows no network and only this page's own script) to attach to a ticket: the run's
 * summary, counts by status, requests per minute against the budget with the 429s
 * marked, and a searchable table of the targets that need a look.
 *
 * Escaping is the default: every value goes through the `html` template tag, which
 * escapes whatever is not explicitly `raw()` markup built here. Values never reach the
 * script (it filters the table's text), so there is no JavaScript context to escape for.
 */

// --- escaping ---------------------------------------------------------------------------

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(v: unknown): string {
  if (v === null || v === undefined) return '';
  return String(v).replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

class Raw {
  constructor(readonly s: string) {}
  toString(): string {
    return this.s;
  }
}

/** Markup built here (never a value). */
const raw = (s: string) => new Raw(s);

function part(v: unknown): string {
  if (v instanceof Raw) return v.s;
  if (Array.isArray(v)) return v.map(part).join('');
  return escapeHtml(v);
}

/** A template whose every interpolation is escaped unless it is `raw()` or another `html` result. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Raw {
  let s = strings[0]!;
  for (let i = 0; i < values.length; i++) s += part(values[i]) + strings[i + 1]!;
  return raw(s);
}

// --- page parts -------------------------------------------------------------------------

/** The statuses listed in the table: what an operator has to look at. */
export const ATTENTION_STATUSES: readonly TargetStatus[] = ['failed', 'user_not_found', 'invalid'];

const STATUS_COLOURS: Record<string, string> = {
  revoked: '#2e7d32',
  would_revoke: '#558b2f',
  nothing_to_revoke: '#90a4ae',
  user_not_found: '#f9a825',
  invalid: '#8d6e63',
  failed: '#c62828',
  pending: '#cfd8dc',
};

const SCRIPT = `(() => {
  const q = document.getElementById('filter');
  const table = document.getElementById('problems');
  if (!q || !table) return;
  const rows = Array.from(table.tBodies[0].rows);
  const shown = document.getElementById('shown');
  q.addEventListener('input', () => {
    const t = q.value.trim().toLowerCase();
    let n = 0;
    for (const r of rows) {
      const hit = t === '' || r.textContent.toLowerCase().includes(t);
      r.hidden = !hit;
      if (hit) n++;
    }
    shown.textContent = String(n);
  });
})();`;

const STYLE = `
:root { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #1a1a1a; }
body { margin: 2rem auto; max-width: 1100px; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .25rem; } h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #ddd; padding-bottom: .25rem; }
.state { display: inline-block; padding: .1rem .5rem; border-radius: .25rem; color: #fff; font-size: .9rem; vertical-align: middle; }
.state-completed { background: #2e7d32; } .state-halted { background: #c62828; } .state-cancelled { background: #6d4c41; }
.state-running, .state-queued { background: #1565c0; }
dl.summary { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
dl.summary dt { font-weight: 600; } dl.summary dd { margin: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; font-size: .85rem; }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #eee; vertical-align: top; overflow-wrap: anywhere; }
th { background: #f5f5f5; position: sticky; top: 0; white-space: nowrap; }
#problems td { font-size: .8rem; } #problems td:first-child { white-space: nowrap; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.swatch { display: inline-block; width: .8rem; height: .8rem; border-radius: 2px; margin-right: .4rem; vertical-align: -1px; }
.chart { width: 100%; height: auto; }
.chart text { font-size: 11px; fill: #555; }
.legend span { margin-right: 1.2rem; font-size: .85rem; }
input[type=search] { font-size: 1rem; padding: .3rem .5rem; width: 24rem; max-width: 100%; margin: .5rem 0; }
.muted { color: #777; font-size: .85rem; }
footer { margin-top: 3rem; }
.c-req { background: #5c8ddc; } .c-budget { background: #ef6c00; } .c-429 { background: #c62828; }
${Object.entries(STATUS_COLOURS).map(([k, c]) => `.s-${k} { background: ${c}; }`).join('\n')}
`;

const hash = (s: string) => `'sha256-${createHash('sha256').update(s).digest('base64')}'`;
/** No network at all; only this page's own script may run. */
const CSP = `default-src 'none'; style-src ${hash(STYLE)}; script-src ${hash(SCRIPT)}; img-src data:; base-uri 'none'; form-action 'none'`;

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString().replace('.000Z', 'Z'));

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

export interface MinutePoint {
  minute: number;
  requests: number;
  rateLimited: number;
  budget: number | null;
}

/** Whose requests the chart draws: the paced bucket's, with how many went elsewhere. */
export interface ChartBucket {
  name: string;
  otherRequests: number;
}

/**
 * The chart's points: the requests and budget of the bucket the run was paced in (see
 * pacedBucket), since the budget is that bucket's; a login's lookup in another bucket would
 * otherwise read as spending it. 429s at every endpoint stay marked. A run recorded before
 * buckets were counted (or with no known budget) draws every request.
 */
export function chartPoints(minutes: MinuteCounts[], counts: RunCounts): { points: MinutePoint[]; bucket: ChartBucket | null } {
  const paced = pacedBucket(counts);
  if (paced.name === '') return { points: minutes.map(({ buckets: _b, ...m }) => m), bucket: null };
  const points = minutes.map((m) => {
    // A minute flushed before buckets were counted keeps its totals.
    if (Object.keys(m.buckets).length === 0) return { minute: m.minute, requests: m.requests, rateLimited: m.rateLimited, budget: m.budget };
    const b = m.buckets[paced.name];
    return { minute: m.minute, requests: b?.requests ?? 0, rateLimited: m.rateLimited, budget: b?.budget ?? null };
  });
  return { points, bucket: { name: paced.name, otherRequests: counts.requests - paced.requests } };
}

/**
 * Requests per minute (bars) against the run's budget (a step line), 429s marked in red
 * above their minute. Long runs are binned so that the chart stays at most `maxBars` wide.
 * `bucket`: the bucket the points are of (null: every endpoint's requests).
 */
export function requestsChart(points: MinutePoint[], maxBars = 720, bucket: ChartBucket | null = null): Raw {
  if (points.length === 0) return html`<p class="muted" id="no-requests">No requests were recorded for this run.</p>`;
  const first = points[0]!.minute;
  const last = points[points.length - 1]!.minute;
  const span = last - first + 1;
  const bin = Math.max(1, Math.ceil(span / maxBars));
  const byMinute = new Map(points.map((p) => [p.minute, p]));
  const bars: { minute: number; requests: number; rateLimited: number; budget: number | null }[] = [];
  let budget: number | null = null;
  for (let m = first; m <= last; m += bin) {
    let requests = 0;
    let rateLimited = 0;
    let binBudget: number | null = null;
    for (let k = m; k < m + bin && k <= last; k++) {
      const p = byMinute.get(k);
      if (!p) continue;
      requests += p.requests;
      rateLimited += p.rateLimited;
      if (p.budget !== null) binBudget = Math.max(binBudget ?? 0, p.budget);
    }
    // The budget holds until a worker records another (a quiet minute records none).
    if (binBudget !== null) budget = binBudget;
    bars.push({ minute: m, requests: requests / bin, rateLimited, budget });
  }
  const W = 960;
  const H = 280;
  const L = 56;
  const R = 12;
  const T = 24;
  const B = 36;
  const plotW = W - L - R;
  const plotH = H - T - B;
  const yMax = Math.max(1, ...bars.map((b) => Math.max(b.requests, b.budget ?? 0))) * 1.1;
  // A short run's few bars stay bars, not a wall.
  const slot = Math.min(plotW / bars.length, 48);
  const y = (v: number) => T + plotH - (v / yMax) * plotH;
  const f = (n: number) => Math.round(n * 10) / 10;
  const hhmm = (minute: number) => new Date(minute * 60_000).toISOString().slice(11, 16);

  const rects = bars.map((b, i) =>
    html`<rect class="bar" x="${f(L + i * slot + slot * 0.1)}" y="${f(y(b.requests))}" width="${f(Math.max(0.5, slot * 0.8))}" height="${f(T + plotH - y(b.requests))}" fill="#5c8ddc"><title>${hhmm(b.minute)} UTC: ${Math.round(b.requests)} requests${b.budget !== null ? `, budget ${b.budget}` : ''}${b.rateLimited ? `, ${b.rateLimited} × 429` : ''}</title></rect>`,
  );
  let path = '';
  bars.forEach((b, i) => {
    if (b.budget === null) return;
    const x0 = f(L + i * slot);
    const x1 = f(L + (i + 1) * slot);
    const yy = f(y(b.budget));
    const prev = bars[i - 1];
    path += prev && prev.budget !== null ? ` V${yy} H${x1}` : ` M${x0} ${yy} H${x1}`;
  });
  const markers = bars
    .map((b, i) => ({ b, i }))
    .filter(({ b }) => b.rateLimited > 0)
    .map(({ b, i }) => {
      const cx = f(L + (i + 0.5) * slot);
      const top = f(Math.max(T - 2, y(b.requests) - 4));
      return html`<g class="marker-429" data-minute="${b.minute}" data-count="${b.rateLimited}"><title>${hhmm(b.minute)} UTC: ${b.rateLimited} × HTTP 429</title><path d="M${cx} ${top} l-5 -9 h10 z" fill="#c62828"/></g>`;
    });
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((t) => {
    const v = (yMax / 1.1) * t;
    return html`<line x1="${L}" x2="${W - R}" y1="${f(y(v))}" y2="${f(y(v))}" stroke="#eee"/><text x="${L - 6}" y="${f(y(v) + 4)}" text-anchor="end">${Math.round(v)}</text>`;
  });
  const labelEvery = Math.max(1, Math.ceil(bars.length / 8));
  const xLabels = bars
    .map((b, i) => ({ b, i }))
    .filter(({ i }) => i % labelEvery === 0 || i === bars.length - 1)
    .map(({ b, i }) => html`<text x="${f(L + (i + 0.5) * slot)}" y="${H - B + 16}" text-anchor="middle">${hhmm(b.minute)}</text>`);
  const total429 = bars.reduce((n, b) => n + b.rateLimited, 0);
  return html`
<svg class="chart" id="requests-chart" viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="chart-title" xmlns="http://www.w3.org/2000/svg">
<title id="chart-title">Requests per minute${bucket ? ` in the ${bucket.name} bucket` : ''} against the budget${total429 ? `, ${total429} responses 429` : ''}</title>
${ticks}
<line x1="${L}" x2="${W - R}" y1="${T + plotH}" y2="${T + plotH}" stroke="#999"/>
${rects}
${path ? html`<path class="budget" d="${path.trim()}" fill="none" stroke="#ef6c00" stroke-width="2" stroke-dasharray="6 3"/>` : ''}
${markers}
${xLabels}
<text x="${L}" y="${T - 8}">requests / minute${bin > 1 ? ` (average over ${bin}-minute bins)` : ''}, UTC</text>
</svg>
<p class="legend">${
    bucket
      ? html`<span><i class="swatch c-req"></i>requests a minute in the <code>${bucket.name}</code> bucket${bucket.otherRequests > 0 ? ` (${bucket.otherRequests} requests to other buckets, with budgets of their own, are not drawn)` : ''}</span><span><i class="swatch c-budget"></i>budget a minute there (rate-share × its learned limit)</span><span><i class="swatch c-429"></i>minute with HTTP 429s at any endpoint (${total429})</span>`
      : html`<span><i class="swatch c-req"></i>requests a minute (all endpoints)</span><span><i class="swatch c-budget"></i>budget a minute (rate-share × the learned limit of the run's busiest bucket)</span><span><i class="swatch c-429"></i>minute with HTTP 429s (${total429})</span>`
  }</p>`;
}

// --- the page ---------------------------------------------------------------------------

export interface HtmlReportOptions {
  /** Rows in the table at most; the rest are counted and left to the CSV report. */
  maxRows?: number;
  now?: number;
}

async function write(out: Writable, chunk: Raw | string): Promise<void> {
  if (!out.write(typeof chunk === 'string' ? chunk : chunk.s)) await once(out, 'drain');
}

const PROBLEM_COLUMNS = ['status', 'userId', 'login', 'clientId', 'scopeId', 'grantId', 'httpStatus', 'errorCode', 'errorSummary', 'errorId', 'attempts', 'line', 'finishedAt'] as const;

function problemRow(rec: TargetRecord): Raw {
  const r = resultJson(rec, false) as Record<string, unknown>;
  return html`<tr data-status="${rec.status}">${PROBLEM_COLUMNS.map((c) => html`<td${c === 'attempts' || c === 'line' || c === 'httpStatus' ? raw(' class="n"') : ''}>${r[c]}</td>`)}</tr>\n`;
}

/** Streams the page: the head from the run's meta and counters, then the table row by row. */
export async function writeHtmlReport(store: RunStore, runId: string, out: Writable, opts: HtmlReportOptions = {}): Promise<void> {
  const maxRows = opts.maxRows ?? 10_000;
  const meta = await store.requireMeta(runId);
  const counts = await store.getCounts(runId);
  const chart = chartPoints(await store.perMinute(runId), counts);
  const s = runSummary(meta, counts);
  const now = opts.now ?? Date.now();

  const summaryRows: [string, unknown][] = [
    ['State', `${s.state}${s.stateReason ? ` (${s.stateReason})` : ''}`],
    ['Mode', s.dryRun ? `dry run: nothing was revoked${s.counts.would_revoke > 0 ? ` (to revoke exactly what it found: grantsweep run --from-run ${s.runId} --yes)` : ''}` : 'revocation'],
    ['Source', s.source.kind === 'run' ? `the targets of run ${s.source.value} whose result was ${(s.source.results ?? []).join(' or ')}` : `${s.source.kind}: ${s.source.value}`],
    ['Grants', s.target.clientId || s.target.scopeId ? [s.target.clientId && `client ${s.target.clientId}`, s.target.scopeId && `scope ${s.target.scopeId}`].filter(Boolean).join(', ') : 'all of each user'],
    ['Reason', s.reason ?? '—'],
    ['Snapshot', s.snapshot ? 'grants listed before revoking (in the JSON report)' : 'no'],
    ['Refresh tokens', s.tokens ? 'revoked too, per client (--tokens; the clients are in the JSON and CSV reports)' : 'not revoked: grants only'],
    ['Schedule', s.schedule ?? '—'],
    ['Rate share', meta.rateShare],
    ['Pacing', meta.pacing],
    ['Created', s.createdAt],
    ['Finished', s.finishedAt ?? '—'],
    ['Duration', meta.finishedAt ? duration(meta.finishedAt - meta.createdAt) : `${duration(now - meta.createdAt)} so far`],
    ['Requests', `${s.requests.total} (${s.requests.rateLimited} answered 429)`],
  ];
  const statusRows = (Object.entries(s.counts) as [string, number][]).filter(([k]) => k !== 'total');
  const total = s.counts.total;
  const pct = (n: number) => (total > 0 ? `${Math.round((n / total) * 1000) / 10}%` : '—');
  let x = 0;
  const stacked = statusRows
    .filter(([, n]) => n > 0)
    .map(([k, n]) => {
      const w = total > 0 ? (n / total) * 960 : 0;
      const r = html`<rect x="${Math.round(x * 10) / 10}" y="0" width="${Math.round(w * 10) / 10}" height="18" fill="${STATUS_COLOURS[k] ?? '#999'}"><title>${k}: ${n}</title></rect>`;
      x += w;
      return r;
    });
  const attention = ATTENTION_STATUSES.reduce((n, k) => n + counts[k], 0);

  await write(out, html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${raw(CSP)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="grantsweep ${pkg.version}">
<title>grantsweep run ${s.runId}: ${s.state}</title>
<style>${raw(STYLE)}</style>
</head>
<body>
<header>
<h1>Run <code id="run-id">${s.runId}</code> <span class="state state-${s.state}" id="run-state">${s.state}</span></h1>
<p class="muted">grantsweep report for ${meta.orgUrl}, generated ${iso(now)}</p>
</header>
<section id="summary">
<h2>Summary</h2>
<dl class="summary">
${summaryRows.map(([k, v]) => html`<dt>${k}</dt><dd>${v}</dd>\n`)}</dl>
</section>
<section id="counts">
<h2>Targets by status</h2>
<svg class="chart" viewBox="0 0 960 18" preserveAspectRatio="none" role="img" aria-label="targets by status" xmlns="http://www.w3.org/2000/svg">${stacked}</svg>
<table>
<thead><tr><th>status</th><th class="n">targets</th><th class="n">share</th></tr></thead>
<tbody>
${statusRows.map(([k, n]) => html`<tr data-status="${k}"><td><i class="swatch s-${k}"></i>${k}</td><td class="n">${n}</td><td class="n">${pct(n)}</td></tr>\n`)}<tr data-status="total"><th>total</th><th class="n">${total}</th><th class="n"></th></tr>
</tbody>
</table>
</section>
<section id="rate">
<h2>Requests per minute against the budget</h2>
${requestsChart(chart.points, 720, chart.bucket)}
</section>
<section id="attention">
<h2>Targets to look at: ${ATTENTION_STATUSES.join(', ')}</h2>
`);
  if (attention === 0) {
    await write(out, html`<p id="no-problems">None: no target failed, none was missing, no row was invalid.</p>\n`);
  } else {
    await write(out, html`<label>Search <input type="search" id="filter" placeholder="user id, login, error code…" autocomplete="off"></label>
<p class="muted"><span id="shown">${Math.min(attention, maxRows)}</span> of ${attention} shown${attention > maxRows ? ` (the first ${maxRows}; every row is in the CSV report)` : ''}</p>
<table id="problems">
<thead><tr>${PROBLEM_COLUMNS.map((c) => html`<th>${c}</th>`)}</tr></thead>
<tbody>
`);
    let n = 0;
    for await (const rec of store.records(runId)) {
      if (!ATTENTION_STATUSES.includes(rec.status)) continue;
      if (n++ >= maxRows) break;
      await write(out, problemRow(rec));
    }
    await write(out, '</tbody>\n</table>\n');
  }
  await write(out, html`</section>
<footer class="muted">grantsweep ${pkg.version} · every target's result: <code>grantsweep report ${s.runId} --format csv</code></footer>
<script>${raw(SCRIPT)}</script>
</body>
</html>
`);
}
