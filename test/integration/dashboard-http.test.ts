import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDashboard, type Dashboard } from '../../src/dashboard/index.ts';
import { orgKeyOf, queueNameOf } from '../../src/queue/org.ts';
import { orgKeys } from '../../src/redis/keys.ts';
import { CSV_HEADER } from '../../src/runs/report.ts';
import { RunStore } from '../../src/runs/run-store.ts';
import type { Simulator } from '../../src/sim/index.ts';
import { runCli } from '../helpers/cli.ts';
import { leaversCsv, runWithFailures, storeUnloadedRun } from '../helpers/dashboard.ts';
import { connectTestRedis, redisUrl, uniqueRunId } from '../helpers/redis.ts';
import { envFor, startTestSim } from '../helpers/sim.ts';

let sim: Simulator;
let env: NodeJS.ProcessEnv;
let redis: Redis;
let store: RunStore;
let dash: Dashboard;
let orgKey: string;
/** A run whose 5 targets all failed, with markup in its reason and its CSV's name. */
let failedRunId: string;
const NASTY = `<script>alert("x")</script> & 'quotes'`;

beforeAll(async () => {
  sim = await startTestSim();
  env = envFor(sim);
  orgKey = orgKeyOf(sim.url);
  redis = await connectTestRedis();
  store = new RunStore(redis);
  failedRunId = uniqueRunId('dash-failed');
  await runWithFailures(sim, env, failedRunId, { count: 5, offset: 0, reason: NASTY, csvName: 'leavers-<img src=x>.csv' });
  dash = await startDashboard({ redis, redisUrl: redisUrl(), store, port: 0, orgUrls: [sim.url] });
});

afterAll(async () => {
  await dash?.close();
  await sim?.close();
  await redis?.quit();
});

const get = (path: string, headers: Record<string, string> = {}) => fetch(`${dash.url}${path}`, { headers, redirect: 'manual' });
const post = (base: string, path: string, headers: Record<string, string> = {}) =>
  fetch(`${base}${path}`, { method: 'POST', headers, redirect: 'manual' });
const sameOrigin = () => ({ origin: dash.url });

describe('dashboard: the runs page', () => {
  it("lists the run with its state, counts, report links and a retry button, every value escaped", async () => {
    const res = await get(`/?org=${orgKey}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    const page = await res.text();
    const row = page.slice(page.indexOf(`<tr id="run-${failedRunId}"`), page.indexOf('</tr>', page.indexOf(`<tr id="run-${failedRunId}"`)));
    expect(row).toContain('data-state="completed"');
    expect(row).toContain('<td class="num bad" data-count="failed">5</td>');
    expect(row).toContain('5 / 5');
    for (const f of ['json', 'csv', 'html']) expect(row).toContain(`href="/runs/${failedRunId}/report.${f}"`);
    expect(row).toMatch(new RegExp(`<form method="post" action="/runs/${failedRunId}/retry">.*Retry 5 failed</button>`));
    expect(row).not.toContain('class="cancel"'); // a completed run has nothing to cancel
    // The reason and the file name are shown, as text.
    expect(row).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quotes&#39;');
    expect(row).toContain('leavers-&lt;img src=x&gt;.csv');
    expect(page).not.toContain('<script>');
    expect(page).not.toContain('<img');
  });

  it('lists the same runs as JSON, and filters by org', async () => {
    const all = (await (await get('/api/runs')).json()) as { runId: string; orgKey: string }[];
    expect(all.map((r) => r.runId)).toContain(failedRunId);
    const mine = (await (await get(`/api/runs?org=${orgKey}`)).json()) as { runId: string; orgKey: string; counts: { failed: number } }[];
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.every((r) => r.orgKey === orgKey)).toBe(true);
    expect(mine.find((r) => r.runId === failedRunId)?.counts.failed).toBe(5);
    const other = (await (await get('/api/runs?org=0123456789ab')).json()) as unknown[];
    expect(other).toEqual([]);
  });

  it('serves the JSON and CSV reports the report command writes', async () => {
    const json = await get(`/runs/${failedRunId}/report.json`);
    expect(json.status).toBe(200);
    expect(json.headers.get('content-type')).toMatch(/^application\/json/);
    const fromDashboard = await json.text();
    const fromCli = await runCli(['report', failedRunId], env);
    expect(fromCli.code).toBe(0);
    expect(JSON.parse(fromDashboard)).toEqual(JSON.parse(fromCli.stdout));
    const body = JSON.parse(fromDashboard) as { counts: { failed: number }; results: { status: string; httpStatus: number }[] };
    expect(body.counts.failed).toBe(5);
    expect(body.results.map((r) => r.status)).toEqual(Array(5).fill('failed'));

    const csv = await get(`/runs/${failedRunId}/report.csv`);
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-disposition')).toBe(`attachment; filename="${failedRunId}.csv"`);
    const lines = (await csv.text()).trim().split('\n');
    expect(lines[0]).toBe(CSV_HEADER.join(','));
    expect(lines.slice(1).filter((l) => l.includes(',failed,'))).toHaveLength(5);

    // ?status= as `report --status`: the runs page links the failed ones when there are some.
    const page = await (await get('/')).text();
    expect(page).toContain(`href="/runs/${failedRunId}/report.csv?status=failed"`);
    const failedOnly = await get(`/runs/${failedRunId}/report.csv?status=failed`);
    expect(failedOnly.headers.get('content-disposition')).toBe(`attachment; filename="${failedRunId}-failed.csv"`);
    expect((await failedOnly.text()).trim().split('\n').slice(1)).toEqual(lines.slice(1));
    const none = (await (await get(`/runs/${failedRunId}/report.json?status=revoked`)).json()) as { results: unknown[]; resultsWithStatus: string[] };
    expect([none.results, none.resultsWithStatus]).toEqual([[], ['revoked']]);
    for (const bad of ['report.csv?status=revokd', 'report.csv?status=', 'report.html?status=failed', 'report.json?status=failed&status=revoked']) {
      const r = await get(`/runs/${failedRunId}/${bad}`);
      expect(r.status, bad).toBe(400);
      expect(await r.text(), bad).toMatch(/^status: /);
    }
  });

  it('serves the HTML report (the one `report --format html` writes), sandboxed', async () => {
    const res = await get(`/runs/${failedRunId}/report.html`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    // An opaque origin: nothing in the report can act on the dashboard.
    expect(res.headers.get('content-security-policy')).toMatch(/^sandbox allow-scripts;/);
    const text = await res.text();
    const fromCli = await runCli(['report', failedRunId, '--format', 'html'], env);
    expect(fromCli.code).toBe(0);
    // The same page, but for the time it was generated.
    const unstamped = (page: string) => page.replace(/generated \d{4}-\d\d-\d\dT[\d:.]+Z/, 'generated …');
    expect(unstamped(text)).toBe(unstamped(fromCli.stdout));
    expect(text).toContain(failedRunId);
    expect(text).toContain('&lt;script&gt;alert(');
    expect(text).not.toContain('<script>alert(');
  });

  it('answers 404 for an unknown run and 400 for a malformed id', async () => {
    expect((await get('/runs/no-such-run-xyz/report.json')).status).toBe(404);
    expect((await get('/runs/bad%20id/report.csv')).status).toBe(400);
    expect((await get(`/runs/${failedRunId}/report.xml`)).status).toBe(404);
    expect((await post(dash.url, '/runs/no-such-run-xyz/retry', { ...sameOrigin(), accept: 'application/json' })).status).toBe(404);
  });

  it('answers a request it cannot read with its 4xx, not a 500', async () => {
    expect((await get('/runs/%ZZ/report.json')).status).toBe(400);
    const form = (body: string, headers: Record<string, string>) =>
      fetch(`${dash.url}/runs/${failedRunId}/pace`, { method: 'POST', body, headers: { ...sameOrigin(), ...headers }, redirect: 'manual' });
    const urlencoded = { 'content-type': 'application/x-www-form-urlencoded' };
    expect((await form(`rateShare=0.3&pad=${'x'.repeat(8_000)}`, urlencoded)).status).toBe(413);
    expect((await form('rateShare=0.3', { 'content-type': 'application/x-www-form-urlencoded; charset=utf-16' })).status).toBe(415);
    expect((await form('rateShare=0.3', { ...urlencoded, 'content-encoding': 'gzip' })).status).toBe(400);
    // None of them changed the run.
    expect((await store.getMeta(failedRunId))!.rateShare).toBe(0.5);
  });

  it('answers /healthz while Redis answers', async () => {
    const res = await get('/healthz');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ok\n');
  });

  it("shows the org's queue on bull-board, read-only", async () => {
    const res = await get('/queues/api/queues');
    expect(res.status).toBe(200);
    const body = (await res.json()) as { queues: { name: string; readOnlyMode: boolean }[] };
    const q = body.queues.find((x) => x.name === queueNameOf(orgKey));
    expect(q).toBeDefined();
    expect(q!.readOnlyMode).toBe(true);
    // Emptying the queue would strand fed targets: the board refuses it.
    const empty = await fetch(`${dash.url}/queues/api/queues/${queueNameOf(orgKey)}/empty`, { method: 'PUT', headers: sameOrigin() });
    expect(empty.status).toBe(405);
  });
});

describe('dashboard: retry and cancel', () => {
  it('retry requeues the failed targets and offers the run to the workers, then shows what it did', async () => {
    const runId = uniqueRunId('dash-retry');
    await runWithFailures(sim, env, runId, { count: 4, offset: 20 });
    await redis.srem(orgKeys(orgKey).active, runId);

    const res = await post(dash.url, `/runs/${runId}/retry`, sameOrigin());
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/');
    const counts = await store.getCounts(runId);
    expect(counts).toMatchObject({ total: 4, failed: 0, pending: 4 });
    expect(await redis.sismember(orgKeys(orgKey).active, runId)).toBe(1);
    expect((await store.requireMeta(runId)).state).toBe('running');

    // The outcome is shown once, from a cookie, as text; the run, running again, can now be cancelled.
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith('grantsweep_flash='))!.split(';')[0]!;
    const shown = await get('/', { cookie });
    expect(shown.headers.getSetCookie().some((c) => /^grantsweep_flash=;/.test(c))).toBe(true);
    const page = await shown.text();
    expect(page).toContain(`<p class="flash ok" role="status">retried: 4 targets of ${runId} requeued</p>`);
    expect(page).toContain(`action="/runs/${runId}/cancel"`);
    expect(await (await get('/')).text()).not.toContain('class="flash');
  });

  it('retry answers JSON to a client that asks for it', async () => {
    const runId = uniqueRunId('dash-retry-json');
    await runWithFailures(sim, env, runId, { count: 2, offset: 30 });
    const res = await post(dash.url, `/runs/${runId}/retry`, { ...sameOrigin(), accept: 'application/json' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ runId, action: 'retry', requeued: 2, resumed: false, pending: 2 });
  });

  it('cancel stops a run that has not finished, like `grantsweep cancel`, and a finished one stays finished', async () => {
    const runId = uniqueRunId('dash-cancel');
    const { csv } = leaversCsv(sim, 3, 40);
    // Enqueued, no worker: it stays queued until cancelled.
    const enq = await runCli(['enqueue', '--csv', csv, '--yes', '--run-id', runId], env);
    expect(enq.code, enq.stderr).toBe(0);
    const before = await (await get(`/?org=${orgKey}`)).text();
    expect(before).toContain(`action="/runs/${runId}/cancel"`);

    const res = await post(dash.url, `/runs/${runId}/cancel`, { ...sameOrigin(), accept: 'application/json' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ runId, action: 'cancel', state: 'cancelled', alreadyCompleted: false });
    const meta = await store.requireMeta(runId);
    expect(meta.state).toBe('cancelled');
    expect(meta.stateReason).toBe('cancelled from the dashboard');
    // The budget refuses the run's requests too.
    expect(await redis.hexists(orgKeys(orgKey).stopped, runId)).toBe(1);

    const again = await post(dash.url, `/runs/${failedRunId}/cancel`, { ...sameOrigin(), accept: 'application/json' });
    expect(await again.json()).toMatchObject({ alreadyCompleted: true, state: 'completed' });
    expect((await store.requireMeta(failedRunId)).state).toBe('completed');
  });
});

describe('dashboard: pace', () => {
  const postForm = (path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${dash.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body, redirect: 'manual' });

  it('sets the share of a run that has not finished, like `grantsweep pace`; a bad share, a finished run or another origin is refused', async () => {
    const runId = uniqueRunId('dash-pace');
    const { csv } = leaversCsv(sim, 3, 50);
    const enq = await runCli(['enqueue', '--csv', csv, '--yes', '--run-id', runId], env);
    expect(enq.code, enq.stderr).toBe(0);
    const page = await (await get(`/?org=${orgKey}`)).text();
    const row = page.slice(page.indexOf(`<tr id="run-${runId}"`), page.indexOf('</tr>', page.indexOf(`<tr id="run-${runId}"`)));
    expect(row).toMatch(new RegExp(`<form method="post" action="/runs/${runId}/pace" class="pace">(<input type="hidden"[^>]*>)?<input type="number" name="rateShare"[^>]* value="0.5"`));
    expect(row).toMatch(/<select name="pacing"[^>]*><option value="even" selected>even<\/option><option value="window">window<\/option><\/select>/);
    const failedRow = page.slice(page.indexOf(`<tr id="run-${failedRunId}"`), page.indexOf('</tr>', page.indexOf(`<tr id="run-${failedRunId}"`)));
    expect(failedRow).not.toContain('/pace"');

    const res = await postForm(`/runs/${runId}/pace`, 'rateShare=0.3', { ...sameOrigin(), accept: 'application/json' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ runId, action: 'pace', state: 'queued', before: { rateShare: 0.5, pacing: 'even' }, after: { rateShare: 0.3, pacing: 'even' } });
    expect((await store.requireMeta(runId)).rateShare).toBe(0.3);

    // A browser's form: back to the page, which says what was done.
    const browser = await postForm(`/runs/${runId}/pace`, 'rateShare=0.25', sameOrigin());
    expect(browser.status).toBe(303);
    expect(browser.headers.getSetCookie().some((c) => c.startsWith('grantsweep_flash='))).toBe(true);
    expect((await store.requireMeta(runId)).rateShare).toBe(0.25);

    // The pacing alone (the form sends both fields; an empty one changes nothing), as the page's select sends it.
    const window = await postForm(`/runs/${runId}/pace`, 'rateShare=&pacing=window', { ...sameOrigin(), accept: 'application/json' });
    expect(await window.json()).toMatchObject({ before: { rateShare: 0.25, pacing: 'even' }, after: { rateShare: 0.25, pacing: 'window' } });
    expect((await store.requireMeta(runId)).pacing).toBe('window');
    const paged = await (await get(`/?org=${orgKey}`)).text();
    expect(paged.slice(paged.indexOf(`<tr id="run-${runId}"`))).toMatch(/<option value="window" selected>/);

    // What cannot be read is the request's fault (400); the run's state refusing is 409, below.
    for (const [body, msg] of [
      ['rateShare=2', /rate share: expected a number in \(0, 1\], got "?2/],
      ['rateShare=0.3&pacing=burst', /pacing: expected one of even, window, got "?burst/],
      ['rateShare=&pacing=', /give a rate share .* a pacing .* or both/],
      ['', /give a rate share/],
    ] as const) {
      const bad = await postForm(`/runs/${runId}/pace`, body, { ...sameOrigin(), accept: 'application/json' });
      expect(bad.status, body).toBe(400);
      expect(((await bad.json()) as { error: string }).error).toMatch(msg);
    }
    const done = await postForm(`/runs/${failedRunId}/pace`, 'rateShare=0.3', { ...sameOrigin(), accept: 'application/json' });
    expect(done.status).toBe(409);
    expect(((await done.json()) as { error: string }).error).toMatch(/has completed: there is nothing left to pace/);
    const foreign = await postForm(`/runs/${runId}/pace`, 'rateShare=0.9', { origin: 'http://evil.test' });
    expect(foreign.status).toBe(403);
    expect((await store.requireMeta(runId)).rateShare).toBe(0.25);
    expect((await store.requireMeta(runId)).pacing).toBe('window');
    expect((await runCli(['cancel', runId], env)).code).toBe(0);
  });
});

describe('dashboard: a run never loaded whole', () => {
  it('shows it as loading with a Cancel button and no Resume, and refuses a retry (409) as `retry` does', async () => {
    const runId = uniqueRunId('dash-unloaded');
    await storeUnloadedRun(store, sim, runId);
    const rowOf = (page: string) => page.slice(page.indexOf(`<tr id="run-${runId}"`), page.indexOf('</tr>', page.indexOf(`<tr id="run-${runId}"`)));
    const queued = rowOf(await (await get(`/?org=${orgKey}`)).text());
    expect(queued).toMatch(/<span class="state[^"]*">loading<\/span>/);
    expect(queued).toContain(`action="/runs/${runId}/cancel"`);
    expect(queued).not.toContain('class="retry"');

    await store.stopRun(runId, 'halted', 'loading was interrupted (Ctrl-C or SIGTERM) after 0 targets were stored; nothing was revoked');
    const halted = rowOf(await (await get(`/?org=${orgKey}`)).text());
    expect(halted).toContain('data-state="halted"');
    expect(halted).not.toContain('class="retry"');
    const res = await post(dash.url, `/runs/${runId}/retry`, { ...sameOrigin(), accept: 'application/json' });
    expect(res.status).toBe(409);
    expect(((await res.json()) as { error: string }).error).toMatch(/was never completely loaded \(loading was interrupted/);
    expect(await redis.sismember(orgKeys(orgKey).active, runId)).toBe(0);
    expect((await store.requireMeta(runId)).state).toBe('halted');
  });
});

describe('dashboard: who may do what', () => {
  it('refuses a POST from another origin, or with no origin at all, and changes nothing', async () => {
    const runId = uniqueRunId('dash-csrf');
    await runWithFailures(sim, env, runId, { count: 2, offset: 50 });
    const attempts: Record<string, string>[] = [{}, { origin: 'http://evil.example' }, { origin: 'null' }, { referer: 'http://evil.example/page' }];
    for (const headers of attempts) {
      const res = await post(dash.url, `/runs/${runId}/retry`, headers);
      expect(res.status).toBe(403);
    }
    expect(await store.getCounts(runId)).toMatchObject({ failed: 2, pending: 0 });
    // The same request from the dashboard's own page goes through.
    expect((await post(dash.url, `/runs/${runId}/retry`, { referer: `${dash.url}/` })).status).toBe(303);
    expect(await store.getCounts(runId)).toMatchObject({ failed: 0, pending: 2 });
  });

  it('without a token, answers only to a loopback Host (no DNS rebinding)', async () => {
    const { request } = await import('undici');
    const res = await request(`${dash.url}/`, { headers: { host: `rebind.example:${dash.port}` } });
    expect(res.statusCode).toBe(421);
    await res.body.dump();
    const ok = await request(`${dash.url}/`, { headers: { host: `localhost:${dash.port}` } });
    expect(ok.statusCode).toBe(200);
    await ok.body.dump();
  });

  describe('with a token (--require-token on 127.0.0.1)', () => {
    const TOKEN = 'test-token-0123456789abcdef';
    let locked: Dashboard;
    beforeAll(async () => {
      locked = await startDashboard({ redis, redisUrl: redisUrl(), store, port: 0, token: TOKEN, requireToken: true });
    });
    afterAll(async () => {
      await locked?.close();
    });
    const lget = (path: string, headers: Record<string, string> = {}) => fetch(`${locked.url}${path}`, { headers, redirect: 'manual' });

    it('answers 401 without the token, or with a wrong one', async () => {
      const attempts: Record<string, string>[] = [
        {},
        { authorization: 'Bearer wrong-token-0123456789' },
        { authorization: `Basic ${TOKEN}` },
        { cookie: `grantsweep_dashboard=${TOKEN}` },
      ];
      for (const headers of attempts) {
        const res = await lget('/', headers);
        expect(res.status).toBe(401);
        expect(await res.text()).not.toContain(failedRunId);
      }
      expect((await lget('/api/runs')).status).toBe(401);
      expect((await lget(`/runs/${failedRunId}/report.json`)).status).toBe(401);
      expect((await lget('/queues/api/queues')).status).toBe(401);
      expect((await lget('/?token=wrong-token-0123456789')).status).toBe(401);
      expect((await post(locked.url, `/runs/${failedRunId}/retry`, { origin: locked.url })).status).toBe(401);
      // Health checks need no token and reveal nothing.
      expect((await lget('/healthz')).status).toBe(200);
    });

    it('accepts it as a Bearer header', async () => {
      const res = await lget('/api/runs', { authorization: `Bearer ${TOKEN}` });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { runId: string }[]).map((r) => r.runId)).toContain(failedRunId);
    });

    it('turns ?token= into a cookie once, and drops it from the address', async () => {
      const res = await lget(`/?org=${orgKey}&token=${TOKEN}`);
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toBe(`/?org=${orgKey}`);
      const setCookie = res.headers.getSetCookie().find((c) => c.startsWith('grantsweep_dashboard='))!;
      expect(setCookie).toMatch(/HttpOnly/i);
      expect(setCookie).toMatch(/SameSite=Strict/i);
      expect(setCookie).not.toContain(TOKEN);
      const cookie = setCookie.split(';')[0]!;
      const page = await lget(`/?org=${orgKey}`, { cookie });
      expect(page.status).toBe(200);
      expect(await page.text()).toContain(failedRunId);

      // With the cookie, a POST still needs the dashboard's own origin.
      const runId = uniqueRunId('dash-token');
      await runWithFailures(sim, env, runId, { count: 1, offset: 60 });
      expect((await post(locked.url, `/runs/${runId}/retry`, { cookie })).status).toBe(403);
      expect((await post(locked.url, `/runs/${runId}/retry`, { cookie, origin: locked.url })).status).toBe(303);
      expect(await store.getCounts(runId)).toMatchObject({ failed: 0, pending: 1 });
    });

    it('lets a Bearer client POST without an Origin (a browser cannot send that header cross-site)', async () => {
      const runId = uniqueRunId('dash-bearer');
      await runWithFailures(sim, env, runId, { count: 1, offset: 70 });
      const res = await post(locked.url, `/runs/${runId}/retry`, { authorization: `Bearer ${TOKEN}`, accept: 'application/json' });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ requeued: 1 });
    });
  });
});
