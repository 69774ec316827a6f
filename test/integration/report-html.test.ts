import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newRecord } from '../../src/runs/record.ts';
import { RunStore } from '../../src/runs/run-store.ts';
import { startSimulator, type Simulator } from '../../src/sim/index.ts';
import { runCli } from '../helpers/cli.ts';
import { leaversCsv, simEnv, tempDir, type TempDir } from '../helpers/operator.ts';
import { connectTestRedis, redisUrl, uniqueRunId } from '../helpers/redis.ts';

/** What a browser would show as text: tags dropped, entities decoded. */
function textOf(fragment: string): string {
  return fragment
    .replace(/<[^>]*>/g, '')
    .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');
}

function tableRows(page: string, id: string): string[] {
  const table = new RegExp(`<table id="${id}">([\\s\\S]*?)</table>`).exec(page)?.[1] ?? '';
  const body = /<tbody>([\s\S]*?)<\/tbody>/.exec(table)?.[1] ?? '';
  return body.match(/<tr[\s\S]*?<\/tr>/g) ?? [];
}

describe('report --format html: a stored run with hostile values', () => {
  let redis: Redis;
  let store: RunStore;
  let dir: TempDir;
  const runId = uniqueRunId('html-esc');
  const XSS = ['<script>alert(1)</script>', '"><img src=x onerror=alert(2)>', "'><svg onload=alert(3)>", '</textarea></title><b>4</b>'];

  beforeAll(async () => {
    redis = await connectTestRedis();
    store = new RunStore(redis);
    dir = tempDir();
    await store.createRun({
      runId,
      orgUrl: 'https://example.okta.com',
      orgKey: 'test-html-esc',
      state: 'halted',
      stateReason: `stopped by ${XSS[0]}`,
      dryRun: false,
      snapshot: false,
      tokens: false,
      reason: `offboarding ${XSS[1]}`,
      // (A csv source: other files count the suite's --search runs.)
      source: { kind: 'csv', value: `/srv/hr/${XSS[2]}.csv` },
      target: { clientId: null, scopeId: null },
      rateShare: 0.5,
      pacing: 'even',
      attempts: 5,
      maxRateLimitDeferrals: 50,
      createdAt: Date.UTC(2026, 10, 27, 2, 0, 0),
      finishedAt: null,
      loaded: false,
      fed: 0,
      requeueFed: 0, queueBase: null,
      schedule: null,
    });
    const base = { userId: null, login: null, clientId: null, scopeId: null, grantId: null, line: null };
    await store.addTargets(runId, [
      { key: 'a', record: newRecord({ ...base, userId: '00uaaaaaaaaaaaaaaaaa' }) },
      { key: 'b', record: newRecord({ ...base, login: XSS[1]! }) },
      { key: 'c', record: newRecord({ ...base, userId: '00ucccccccccccccccc1' }) },
      { key: 'd', record: newRecord({ ...base, userId: '00uddddddddddddddddd' }) },
    ]);
    const t = Date.UTC(2026, 10, 27, 2, 1, 0);
    await store.recordResult(runId, 'a', { ...newRecord({ ...base, userId: '00uaaaaaaaaaaaaaaaaa' }), status: 'revoked', grantsRevoked: 2, httpStatus: 204, finishedAt: t });
    await store.recordResult(runId, 'b', {
      ...newRecord({ ...base, login: XSS[1]! }),
      status: 'user_not_found', httpStatus: 404, errorCode: 'E0000007', errorSummary: `Not found: ${XSS[3]}`, finishedAt: t,
    });
    await store.recordResult(runId, 'c', {
      ...newRecord({ ...base, userId: '00ucccccccccccccccc1' }),
      status: 'failed', httpStatus: 500, errorCode: XSS[2]!, errorSummary: XSS[0]!, errorId: 'oae<x>', attempts: 5, finishedAt: t,
    });
    const m = Math.floor(Date.UTC(2026, 10, 27, 2, 0, 0) / 60_000);
    await store.addRequestCounts([
      { runId, minute: m, requests: 290, rateLimited: 0, budget: 300 },
      { runId, minute: m + 1, requests: 310, rateLimited: 7, budget: 300 },
      { runId, minute: m + 3, requests: 120, rateLimited: 2, budget: 250 },
    ]);
  });

  afterAll(async () => {
    dir.remove();
    await redis.quit();
  });

  it('escapes every value: no markup from the run reaches the page, and the text still reads as stored', async () => {
    const file = join(dir.path, 'r.html');
    const r = await runCli(['report', runId, '--format', 'html', '--out', file], { REDIS_URL: redisUrl(), GRANTSWEEP_HOME: dir.path });
    expect(r.code, r.stderr).toBe(0);
    const page = readFileSync(file, 'utf8');
    // Only the page's own script, and none of the injected tags or handlers as markup.
    expect(page.match(/<script/gi)).toHaveLength(1);
    expect(page).not.toMatch(/<img|<svg[^>]*onload|<b>4<\/b>|<\/textarea>/i);
    // Every handler-looking text sits inside text, never inside a tag.
    for (const tag of page.match(/<[a-z][^>]*>/gi) ?? []) expect(tag).not.toMatch(/\son\w+=/i);
    for (const x of XSS) expect(page).not.toContain(x);
    // The values are there as text.
    expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(textOf(page)).toContain(`offboarding ${XSS[1]}`);
    expect(textOf(page)).toContain(`Not found: ${XSS[3]}`);
    // A CSP that allows no network and no script but the page's own.
    const csp = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(page)?.[1] ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+'/);
    expect(csp).not.toContain('unsafe-inline');
    expect(page).not.toMatch(/(src|href)="https?:/);
  });

  it('shows the summary, the counts by status and the targets to look at', async () => {
    const r = await runCli(['report', runId, '--format', 'html'], { REDIS_URL: redisUrl(), GRANTSWEEP_HOME: dir.path });
    expect(r.code, r.stderr).toBe(0);
    const page = r.stdout;
    expect(page.startsWith('<!doctype html>')).toBe(true);
    expect(page.trimEnd().endsWith('</html>')).toBe(true);
    expect(page).toContain(`<code id="run-id">${runId}</code>`);
    expect(page).toContain('id="run-state">halted<');
    const count = (status: string) => new RegExp(`<tr data-status="${status}">.*?<td class="n">(\\d+)</td>`).exec(page)?.[1];
    expect([count('revoked'), count('failed'), count('user_not_found'), count('pending'), count('invalid')]).toEqual(['1', '1', '1', '1', '0']);
    expect(/<tr data-status="total"><th>total<\/th><th class="n">(\d+)/.exec(page)?.[1]).toBe('4');
    const rows = tableRows(page, 'problems');
    expect(rows.map((row) => /data-status="([^"]+)"/.exec(row)?.[1]).sort()).toEqual(['failed', 'user_not_found']);
    expect(page).toContain('id="filter"');
    expect(page).toContain('290 requests, budget 300');
  });

  it('draws requests against the budget with the 429s marked on their minutes', async () => {
    const r = await runCli(['report', runId, '--format', 'html'], { REDIS_URL: redisUrl(), GRANTSWEEP_HOME: dir.path });
    const page = r.stdout;
    expect(page).toContain('id="requests-chart"');
    // Four minutes from the first to the last (the quiet one included), one bar each.
    expect(page.match(/<rect class="bar"/g)).toHaveLength(4);
    const markers = [...page.matchAll(/<g class="marker-429" data-minute="(\d+)" data-count="(\d+)">/g)].map((m) => Number(m[2]));
    expect(markers).toEqual([7, 2]);
    expect(page).toMatch(/<path class="budget" d="M[\d.]+ [\d.]+ H[\d.]+/);
    // Recorded before buckets were counted: every endpoint's requests, as the legend says.
    expect(page).toContain('requests a minute (all endpoints)');
  });
});

describe('report --format html: a real run against the simulator', () => {
  let sim: Simulator;
  let dir: TempDir;

  beforeAll(async () => {
    // A 1-second window and a per-token cap under the run's share: the run meets 429s every window.
    sim = await startSimulator({ users: 40, windowSec: 1, rateLimits: { 'user-grants': 20, 'user-get': 1000 }, perTokenShare: 0.3 });
    dir = tempDir();
  });

  afterAll(async () => {
    await sim.close();
    dir.remove();
  });

  it('lists the users that were not found, with hostile logins escaped, and marks the 429s the run met', async () => {
    const users = sim.org.sampleUsers({ count: 12, status: 'ACTIVE', minGrants: 1 });
    const ghosts = ['00uzzzzzzzzzzzzzzzz1', '00uzzzzzzzzzzzzzzzz2'];
    const hostile = '<script>alert(1)<@evil.test';
    const csv = dir.file('leavers.csv', leaversCsv([...users.map((u) => u.id), ...ghosts], [hostile]));
    const runId = uniqueRunId('html-sim');
    const env = simEnv(sim, dir.path, { GRANTSWEEP_RATE_WINDOW_MS: '1000' });
    const run = await runCli(['run', '--csv', csv, '--yes', '--run-id', runId, '--rate-share', '0.5'], env);
    expect(run.code, run.stderr).toBe(0);

    const status = JSON.parse((await runCli(['status', runId, '--json'], env)).stdout);
    expect(status.counts).toMatchObject({ total: 15, revoked: 12, user_not_found: 3, failed: 0 });
    expect(status.requests.rateLimited).toBeGreaterThan(0);

    const file = join(dir.path, `${runId}.html`);
    const r = await runCli(['report', runId, '--format', 'html', '--out', file], env);
    expect(r.code, r.stderr).toBe(0);
    const page = readFileSync(file, 'utf8');
    const rows = tableRows(page, 'problems');
    expect(rows).toHaveLength(3);
    expect(rows.every((row) => row.startsWith('<tr data-status="user_not_found">'))).toBe(true);
    for (const g of ghosts) expect(page).toContain(`<td>${g}</td>`);
    expect(page).not.toContain(hostile);
    expect(page).toContain('&lt;script&gt;alert(1)&lt;@evil.test');
    expect(page.match(/<script/gi)).toHaveLength(1);

    // The chart's 429 markers add up to the run's 429s, and a budget line was recorded.
    const marked = [...page.matchAll(/<g class="marker-429" data-minute="\d+" data-count="(\d+)">/g)].reduce((n, m) => n + Number(m[1]), 0);
    expect(marked).toBe(status.requests.rateLimited);
    expect(page).toMatch(/<path class="budget" d="M/);
    // The budget a minute: rate-share 0.5 × limit 20 per 1-s window = 600 a minute.
    expect(page).toMatch(/budget 600/);
    // The bars are the grants bucket's requests, whose budget that is; the login's lookup went
    // to another bucket and is counted apart, not drawn against it.
    expect(page).toContain('in the <code>user-grants</code> bucket');
    const other = Number(/\((\d+) requests to other buckets/.exec(page)?.[1]);
    expect(other).toBeGreaterThanOrEqual(1);
    const drawn = [...page.matchAll(/<rect class="bar"[^>]*><title>[\d:]+ UTC: (\d+) requests/g)].reduce((n, m) => n + Number(m[1]), 0);
    expect(drawn).toBeGreaterThanOrEqual(12);
    expect(drawn + other).toBe(status.requests.total);
  });
});
