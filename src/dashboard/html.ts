import { html, raw, type Html } from '../html.ts';
import type { runSummary } from '../runs/report.ts';
import { FINAL_RUN_STATES, shownState, type RunState } from '../runs/run-meta.ts';

/**
 * The runs page, rendered on the server. Every value that comes from Redis (run ids,
 * reasons, sources, error text) is escaped, in text and attributes alike, by the `html`
 * tag of src/html.ts.
 */

export type RunRow = ReturnType<typeof runSummary> & { orgUrl: string; orgKey: string };

/** Path segment for a run id (ids are [A-Za-z0-9_.-], but never trust the store's content). */
export const runPath = (runId: string, rest: string) => `/runs/${encodeURIComponent(runId)}/${rest}`;

const STATE_CLASS: Record<RunState, string> = {
  queued: 'st-queued',
  running: 'st-running',
  completed: 'st-completed',
  halted: 'st-halted',
  cancelled: 'st-cancelled',
};

export interface Flash {
  kind: 'ok' | 'error';
  text: string;
}

export interface RunsPageModel {
  rows: RunRow[];
  orgs: { orgKey: string; orgUrl: string }[];
  orgFilter: string | null;
  flash: Flash | null;
}

function when(iso: string | null): Html {
  if (!iso) return html`<span class="muted">–</span>`;
  return html`<time datetime="${iso}">${iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}</time>`;
}

function sourceText(r: RunRow): string {
  const s = r.source as { kind: string; value: string };
  const value = s.kind === 'csv' ? s.value.split(/[\\/]/).pop() : s.value;
  return `${s.kind} ${value ?? ''}`;
}

function actions(r: RunRow, orgFilter: string | null): Html {
  const back = orgFilter ? html`<input type="hidden" name="org" value="${orgFilter}">` : html``;
  const stopped = r.state === 'halted' || r.state === 'cancelled';
  // A run never loaded whole cannot be resumed (retryFailed refuses it): no button.
  const retry =
    r.loaded && (r.counts.failed > 0 || stopped)
      ? html`<form method="post" action="${runPath(r.runId, 'retry')}">${back}<button type="submit" class="retry" data-run="${r.runId}">${
          r.counts.failed > 0 ? `Retry ${r.counts.failed} failed` : 'Resume'
        }</button></form>`
      : html``;
  const cancel = !FINAL_RUN_STATES.includes(r.state)
    ? html`<form method="post" action="${runPath(r.runId, 'cancel')}">${back}<button type="submit" class="cancel" data-run="${r.runId}">Cancel</button></form>`
    : html``;
  // The same as `grantsweep pace RUN --rate-share F --pacing P`: the workers take it up within seconds.
  const pacing = (p: string) => html`<option value="${p}"${raw(r.pacing === p ? ' selected' : '')}>${p}</option>`;
  const pace = !FINAL_RUN_STATES.includes(r.state)
    ? html`<form method="post" action="${runPath(r.runId, 'pace')}" class="pace">${back}<input type="number" name="rateShare" min="0.01" max="1" step="0.01" value="${r.rateShare}" required aria-label="rate share of ${r.runId}" title="the share of each Okta rate-limit bucket the run may use"><select name="pacing" aria-label="pacing of ${r.runId}" title="even: spread over each rate-limit window; window: sent as soon as it opens">${pacing('even')}${pacing('window')}</select><button type="submit" class="pace" data-run="${r.runId}">Set pace</button></form>`
    : html``;
  return html`${retry}${cancel}${pace}`;
}

function row(r: RunRow, m: RunsPageModel): Html {
  const c = r.counts;
  const done = c.total - c.pending;
  return html`<tr id="run-${r.runId}" data-run="${r.runId}" data-state="${r.state}">
  <td class="run"><strong>${r.runId}</strong>${r.dryRun ? html` <span class="tag">dry run</span>` : ''}${
    r.schedule ? html` <span class="tag">schedule ${r.schedule}</span>` : ''
  }<div class="muted small">${sourceText(r)}${r.reason ? ` · ${r.reason}` : ''}</div><div class="muted small">${r.orgUrl}</div></td>
  <td><span class="state ${STATE_CLASS[r.state] ?? ''}">${shownState(r)}</span>${
    r.stateReason ? html`<div class="muted small">${r.stateReason}</div>` : ''
  }</td>
  <td class="num"><progress max="${Math.max(c.total, 1)}" value="${done}"></progress><div class="small">${done} / ${c.total}</div></td>
  <td class="num" data-count="revoked">${c.revoked}</td>
  <td class="num" data-count="would_revoke">${c.would_revoke}</td>
  <td class="num" data-count="nothing_to_revoke">${c.nothing_to_revoke}</td>
  <td class="num" data-count="user_not_found">${c.user_not_found}</td>
  <td class="num" data-count="invalid">${c.invalid}</td>
  <td class="num${c.failed > 0 ? ' bad' : ''}" data-count="failed">${c.failed}</td>
  <td class="num">${r.requests.total}${r.requests.rateLimited > 0 ? html`<div class="small bad">${r.requests.rateLimited} × 429</div>` : ''}</td>
  <td class="small">${when(r.createdAt)}<br>${when(r.finishedAt)}</td>
  <td class="links"><a href="${runPath(r.runId, 'report.json')}">JSON</a> <a href="${runPath(r.runId, 'report.csv')}">CSV</a> <a href="${runPath(r.runId, 'report.html')}">HTML</a>${
    c.failed > 0 ? html`<div class="small"><a class="bad" href="${runPath(r.runId, 'report.csv?status=failed')}">failed (CSV)</a></div>` : ''
  }</td>
  <td class="actions">${actions(r, m.orgFilter)}</td>
</tr>`;
}

export function runsPage(m: RunsPageModel): string {
  const active = m.rows.some((r) => !FINAL_RUN_STATES.includes(r.state));
  const orgLinks = m.orgs.length > 1 || m.orgFilter
    ? html`<nav class="orgs">Org: <a href="/"${m.orgFilter ? '' : html` class="current"`}>all</a>${m.orgs.map(
        (o) => html` <a href="/?org=${encodeURIComponent(o.orgKey)}"${m.orgFilter === o.orgKey ? html` class="current"` : ''}>${o.orgUrl}</a>`,
      )}</nav>`
    : html``;
  const body = m.rows.length === 0
    ? html`<p class="empty">No runs yet. Start one with <code>grantsweep run</code> or <code>grantsweep enqueue</code>.</p>`
    : html`<table>
<thead><tr><th>Run</th><th>State</th><th>Done</th><th>Revoked</th><th>Would revoke</th><th title="nothing to revoke">Nothing</th><th title="user not found">Not found</th><th>Invalid</th><th>Failed</th><th>Requests</th><th>Created<br>Finished</th><th>Reports</th><th></th></tr></thead>
<tbody>
${m.rows.map((r) => row(r, m))}
</tbody>
</table>`;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${active ? html`<script src="/dashboard.js" defer></script><noscript><meta http-equiv="refresh" content="${REFRESH_S}"></noscript>` : ''}
<title>grantsweep · runs</title>
<link rel="stylesheet" href="/dashboard.css">
</head>
<body>
<header><h1>grantsweep</h1><nav><a href="/" class="current">Runs</a> <a href="/queues">Queues</a></nav></header>
<main>
${m.flash ? html`<p class="flash ${m.flash.kind}" role="status">${m.flash.text}</p>` : ''}
${orgLinks}
${body}
</main>
</body>
</html>
`.value;
}

export function messagePage(status: number, title: string, text: string): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${status} ${title}</title><link rel="stylesheet" href="/dashboard.css"></head>
<body><header><h1>grantsweep</h1><nav><a href="/">Runs</a> <a href="/queues">Queues</a></nav></header>
<main><h2>${status} ${title}</h2><p>${text}</p></main></body></html>
`.value;
}

const REFRESH_S = 5;

/**
 * While a run is active the runs page reloads itself every REFRESH_S seconds, except while one of its forms
 * is being filled in (a field focused, or changed and not sent): a reload would throw away a
 * rate share half typed. Without scripts, a plain meta refresh does the reloading.
 */
export const REFRESH_SCRIPT = `'use strict';
const fields = () => [...document.querySelectorAll('form input:not([type=hidden]), form select')];
const changed = (el) => (el.tagName === 'SELECT' ? [...el.options].some((o) => o.selected !== o.defaultSelected) : el.value !== el.defaultValue);
const busy = () => fields().some((el) => el === document.activeElement || changed(el));
setInterval(() => { if (!busy()) location.reload(); }, ${REFRESH_S * 1000});
`;

export const STYLESHEET = `
:root { color-scheme: light; --fg: #1d2330; --muted: #6b7385; --line: #e3e6ee; --bad: #b42318; --ok: #067647; --accent: #2e5bff; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: #f6f7fb; }
header { display: flex; align-items: baseline; gap: 24px; padding: 12px 24px; background: #141a2b; color: #fff; }
header h1 { margin: 0; font-size: 18px; letter-spacing: .02em; }
header a { color: #c9d3ff; margin-right: 12px; text-decoration: none; }
header a.current { color: #fff; font-weight: 600; }
main { padding: 16px 24px; }
table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid var(--line); }
th, td { padding: 8px 10px; border-bottom: 1px solid var(--line); vertical-align: top; text-align: left; }
th { font-size: 12px; color: var(--muted); font-weight: 600; background: #fafbfd; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num progress { width: 90px; }
.muted { color: var(--muted); }
.small { font-size: 12px; }
.bad { color: var(--bad); font-weight: 600; }
.tag { font-size: 11px; padding: 1px 6px; border-radius: 8px; background: #eef1ff; color: var(--accent); }
.state { display: inline-block; padding: 2px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; background: #eef0f4; }
.st-running, .st-queued { background: #e8efff; color: #1f43c7; }
.st-completed { background: #e7f6ee; color: var(--ok); }
.st-halted, .st-cancelled { background: #fdecea; color: var(--bad); }
.links a { margin-right: 6px; color: var(--accent); }
.actions form { display: inline; margin: 0 4px 0 0; }
.actions form.pace { display: block; margin-top: 6px; }
.actions input[type=number], .actions select { font: inherit; font-size: 12px; padding: 3px 4px; margin-right: 2px; }
.actions input[type=number] { width: 4.5em; }
.actions button, td.links, time, td.run strong { white-space: nowrap; }
button { font: inherit; font-size: 12px; padding: 4px 10px; border-radius: 6px; border: 1px solid #c5cbe0; background: #fff; cursor: pointer; }
button.retry { border-color: var(--accent); color: var(--accent); }
button.cancel { border-color: var(--bad); color: var(--bad); }
.flash { padding: 8px 12px; border-radius: 6px; background: #e7f6ee; color: var(--ok); }
.flash.error { background: #fdecea; color: var(--bad); }
.orgs { margin: 0 0 12px; }
.orgs a { margin-right: 8px; color: var(--accent); }
.orgs a.current { font-weight: 600; color: var(--fg); }
.empty { color: var(--muted); }
`;
