import { createHash } from 'node:crypto';
import type { Writable } from 'node:stream';
import pkg from '../../package.json' with { type: 'json' };
import { html, raw, type Html, type Part } from '../html.ts';
import type { TargetRecord, TargetStatus } from './record.ts';
import { resultJson, runSummary, writeChunk } from './report.ts';
import { chartPoints, requestsChart } from './requests-chart.ts';
import type { RunStore } from './run-store.ts';

/**
 * `report --format html`: one self-contained page (inline CSS, JS and SVG; a CSP that
 * allows no network and only this page's own script) to attach to a ticket: the run's
 * summary, counts by status, requests per minute against the budget with the 429s
 * marked, and a searchable table of the targets that need a look.
 *
 * Escaping is the default: every value goes through the `html` template tag (src/html.ts),
 * which escapes whatever is not explicitly `raw()` markup built here. Values never reach the
 * script (it filters the table's text), so there is no JavaScript context to escape for.
 */

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

// --- the page ---------------------------------------------------------------------------

export interface HtmlReportOptions {
  /** Rows in the table at most; the rest are counted and left to the CSV report. */
  maxRows?: number;
  now?: number;
}

async function write(out: Writable, chunk: Html | string): Promise<void> {
  await writeChunk(out, typeof chunk === 'string' ? chunk : chunk.value);
}

const PROBLEM_COLUMNS = ['status', 'userId', 'login', 'clientId', 'scopeId', 'grantId', 'httpStatus', 'errorCode', 'errorSummary', 'errorId', 'attempts', 'line', 'finishedAt'] as const;

function problemRow(rec: TargetRecord): Html {
  const r = resultJson(rec, false);
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

  const summaryRows: [string, Part][] = [
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
