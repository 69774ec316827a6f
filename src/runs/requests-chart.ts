import { html, type Html } from '../html.ts';
import { pacedBucket } from './paced-bucket.ts';
import type { MinuteCounts, RunCounts } from './run-store.ts';

/**
 * The HTML report's chart: requests a minute (bars) against the run's budget (a step line),
 * with the minutes that met 429s marked. An SVG built by the escaping `html` tag.
 */

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
export function requestsChart(points: MinutePoint[], maxBars = 720, bucket: ChartBucket | null = null): Html {
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
