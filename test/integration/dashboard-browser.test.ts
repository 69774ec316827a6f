import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDashboard, type Dashboard } from '../../src/dashboard/index.ts';
import { orgKeyOf } from '../../src/queue/org.ts';
import { RunStore } from '../../src/runs/run-store.ts';
import type { Simulator } from '../../src/sim/index.ts';
import { runCli, spawnCli } from '../helpers/cli.ts';
import { leaversCsv, runWithFailures, storeUnloadedRun } from '../helpers/dashboard.ts';
import { connectTestRedis, redisUrl } from '../helpers/redis.ts';
import { envFor, startTestSim } from '../helpers/sim.ts';

/**
 * The dashboard in a real browser: Debian's chromium (installed by .ci/run), driven by
 * playwright-core. A run with failed targets is on the page; its retry button puts them
 * back, a `grantsweep worker` process revokes them, and the page shows the run complete.
 * The README's screenshots are taken here: into docs/images with UPDATE_SCREENSHOTS=1
 * (`npm run docs:screenshots`), else into a temporary folder, so a test run leaves the tree clean.
 */

const CHROMIUM = '/usr/bin/chromium';
const IMAGES = process.env.UPDATE_SCREENSHOTS
  ? fileURLToPath(new URL('../../docs/images/', import.meta.url))
  : mkdtempSync(join(tmpdir(), 'gs-screenshots-'));

let sim: Simulator;
let env: NodeJS.ProcessEnv;
let redis: Redis;
let store: RunStore;
let dash: Dashboard;
let context: BrowserContext;
let userDataDir: string;
let worker: ReturnType<typeof spawnCli> | undefined;
let failedUsers: { id: string }[];

const suffix = Date.now().toString(36);
const ids = {
  clean: `offboarding-2026-11-${suffix}`,
  failed: `leavers-batch-2-${suffix}`,
  cancelled: `incident-0oa-client-${suffix}`,
  queued: `nightly-cleanup-${suffix}`,
};

beforeAll(async () => {
  // Fail with a clear message rather than a launch stack trace.
  expect(statSync(CHROMIUM, { throwIfNoEntry: false })?.isFile(), `${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`).toBe(true);
  // Okta's published limits, so that the report's chart shows a real budget.
  sim = await startTestSim({ rateLimits: 'default' });
  env = envFor(sim);
  redis = await connectTestRedis();
  store = new RunStore(redis);

  // A clean run, a run whose targets all failed, and a cancelled one: the page as an operator sees it.
  const clean = leaversCsv(sim, 8, 0, 'leavers-2026-11.csv');
  const ok = await runCli(['run', '--csv', clean.csv, '--yes', '--snapshot', '--run-id', ids.clean, '--reason', 'monthly offboarding'], env);
  expect(ok.code, ok.stderr).toBe(0);
  failedUsers = await runWithFailures(sim, env, ids.failed, { count: 6, offset: 20, reason: 'leavers, second batch', csvName: 'leavers-batch-2.csv' });
  const incident = leaversCsv(sim, 4, 40, 'compromised-client.csv');
  expect((await runCli(['enqueue', '--csv', incident.csv, '--yes', '--run-id', ids.cancelled, '--reason', 'INC-4711'], env)).code).toBe(0);
  expect((await runCli(['cancel', ids.cancelled], env)).code).toBe(0);
  // And one waiting for a worker, at a low share: its pace is set from the page below.
  const nightly = leaversCsv(sim, 3, 50, 'deprovisioned.csv');
  expect((await runCli(['enqueue', '--csv', nightly.csv, '--yes', '--run-id', ids.queued, '--rate-share', '0.3', '--reason', 'nightly cleanup'], env)).code).toBe(0);

  dash = await startDashboard({ redis, redisUrl: redisUrl(), store, port: 0, orgUrls: [sim.url] });
  userDataDir = mkdtempSync(join(tmpdir(), 'gs-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
    viewport: { width: 1440, height: 560 },
    deviceScaleFactor: 1,
  });
  mkdirSync(IMAGES, { recursive: true });
});

afterAll(async () => {
  await context?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  if (!process.env.UPDATE_SCREENSHOTS) rmSync(IMAGES, { recursive: true, force: true });
  if (worker) {
    worker.child.kill('SIGTERM');
    await worker.done;
  }
  await dash?.close();
  await sim?.close();
  await redis?.quit();
});

/** A whole page's picture: a PNG, and not a blank few bytes. */
function expectPng(png: Buffer): void {
  expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
  expect(png.length).toBeGreaterThan(10_000);
}

const rowOf = (page: Page, runId: string) => page.locator(`tr[data-run="${runId}"]`);
const cell = (page: Page, runId: string, count: string) => rowOf(page, runId).locator(`td[data-count="${count}"]`);

describe('dashboard in a browser', () => {
  it('shows the runs; retry on the failed one puts its targets back, a worker revokes them, the run completes', async () => {
    const page = await context.newPage();
    const runsPage = `${dash.url}/?org=${orgKeyOf(sim.url)}`;
    await page.goto(runsPage);
    await expect.poll(() => page.title()).toBe('grantsweep · runs');

    const row = rowOf(page, ids.failed);
    expect(await row.getAttribute('data-state')).toBe('completed');
    expect(await cell(page, ids.failed, 'failed').textContent()).toBe('6');
    expect(await cell(page, ids.failed, 'revoked').textContent()).toBe('0');
    expect(await cell(page, ids.clean, 'revoked').textContent()).toBe('8');
    expect(await rowOf(page, ids.cancelled).getAttribute('data-state')).toBe('cancelled');
    expect(await rowOf(page, ids.clean).locator('button').count()).toBe(0);

    // The waiting run's pace, set from its row as `grantsweep pace` would.
    const queued = rowOf(page, ids.queued);
    expect(await queued.getAttribute('data-state')).toBe('queued');
    await queued.locator('input[name="rateShare"]').fill('0.4');
    await queued.locator('select[name="pacing"]').selectOption('window');
    await Promise.all([page.waitForNavigation(), queued.getByRole('button', { name: 'Set pace' }).click()]);
    // A field in focus holds the page's own 5-s reload (a run is active) until the run is closed below.
    await queued.locator('input[name="rateShare"]').focus();
    expect(await page.locator('.flash').textContent()).toBe(`${ids.queued}: rate share 0.3 → 0.4, pacing even → window; its workers take it up within seconds`);
    expect(await store.requireMeta(ids.queued)).toMatchObject({ rateShare: 0.4, pacing: 'window' });
    expect(await rowOf(page, ids.queued).locator('select[name="pacing"]').inputValue()).toBe('window');
    expectPng(await page.screenshot({ path: join(IMAGES, 'dashboard.png'), fullPage: true }));
    // Closed again, so that the page stops reloading itself under the clicks below (the last test looks at that).
    expect((await runCli(['cancel', ids.queued], env)).code).toBe(0);
    await page.reload();

    // The report links lead to the run's reports: the JSON one, and the HTML page with its failed targets.
    const json = await page.request.get(await row.getByRole('link', { name: 'JSON' }).getAttribute('href').then((h) => `${dash.url}${h}`));
    expect(((await json.json()) as { counts: { failed: number } }).counts.failed).toBe(6);
    const [report] = await Promise.all([page.waitForNavigation(), row.getByRole('link', { name: 'HTML' }).click()]);
    expect(report?.status()).toBe(200);
    expect(await page.locator('#problems tr[data-status="failed"]').count()).toBe(6);
    expectPng(await page.screenshot({ path: join(IMAGES, 'report.png'), fullPage: true }));
    await page.goBack();
    await page.waitForURL(runsPage);

    worker = spawnCli(['worker', '--concurrency', '4'], env);
    await row.getByRole('button', { name: 'Retry 6 failed' }).click();
    await page.waitForURL(runsPage);
    expect(await page.locator(".flash").textContent()).toBe(`retried: 6 targets of ${ids.failed} requeued`);
    // Right after the click the targets are pending again (or already being revoked).
    expect(Number(await cell(page, ids.failed, 'failed').textContent())).toBe(0);

    await expect
      .poll(
        async () => {
          await page.reload();
          return [await rowOf(page, ids.failed).getAttribute('data-state'), await cell(page, ids.failed, 'revoked').textContent()];
        },
        { timeout: 45_000, interval: 500 },
      )
      .toEqual(['completed', '6']);
    expect(await cell(page, ids.failed, 'failed').textContent()).toBe('0');
    expect(await rowOf(page, ids.failed).locator('button.retry').count()).toBe(0);
    expect(await store.getCounts(ids.failed)).toMatchObject({ total: 6, revoked: 6, failed: 0, pending: 0 });
    // The simulated org agrees: the retried users' grants are gone.
    expect(failedUsers.map((u) => sim.org.grantsOf(u.id)?.length)).toEqual(Array(6).fill(0));
    // The cancelled run was not touched by the worker.
    expect((await store.getCounts(ids.cancelled)).pending).toBe(4);
    await page.close();
  });

  it("shows bull-board with the org's queue", async () => {
    const page = await context.newPage();
    await page.goto(`${dash.url}/`);
    await page.getByRole('link', { name: 'Queues' }).click();
    await page.waitForURL(`${dash.url}/queues`);
    await expect.poll(() => page.getByText(`org-${orgKeyOf(sim.url)}`).count(), { timeout: 15_000 }).toBeGreaterThan(0);
    await page.close();
  });

  it("opens the HTML report of the clean run: the report's script runs in its sandbox", async () => {
    const page = await context.newPage();
    await page.goto(`${dash.url}/?org=${orgKeyOf(sim.url)}`);
    const link = rowOf(page, ids.clean).getByRole('link', { name: 'HTML' });
    const [response] = await Promise.all([page.waitForNavigation(), link.click()]);
    expect(response?.status()).toBe(200);
    expect(await page.content()).toContain(ids.clean);
    // Sandboxed without allow-same-origin: the page's origin is opaque, so it cannot read the dashboard's cookies or API.
    expect(await page.evaluate(() => window.origin)).toBe('null');
    await page.close();
  });

  it('reloads itself while a run is active, but not while a form on it is being filled in', async () => {
    // A run whose loading never finished: active for the page, and no worker takes it.
    const runId = `loading-${suffix}`;
    await storeUnloadedRun(store, sim, runId);
    const page = await context.newPage();
    try {
      await page.goto(`${dash.url}/?org=${orgKeyOf(sim.url)}`);
      const share = rowOf(page, runId).locator('input[name="rateShare"]');
      // A document marked now loses the mark when the page reloads.
      const mark = () => page.evaluate(() => ((window as unknown as { gsMark?: boolean }).gsMark = true));
      const marked = () => page.evaluate(() => (window as unknown as { gsMark?: boolean }).gsMark === true);
      await mark();
      await share.fill('0.35');
      await page.locator('h1').click(); // the field loses focus; its value stays changed, not sent
      await page.waitForTimeout(6_500); // past the 5-s reload
      expect(await marked()).toBe(true);
      expect(await share.inputValue()).toBe('0.35');
      // Put back as it was: the page reloads again (within a few of its 5-s turns).
      await share.fill('0.5');
      await page.locator('h1').click();
      await page.waitForFunction(() => (window as unknown as { gsMark?: boolean }).gsMark !== true, null, { timeout: 20_000 });
      expect(await rowOf(page, runId).getAttribute('data-state')).toBe('queued');
    } finally {
      await page.close();
      expect((await runCli(['cancel', runId], env)).code).toBe(0);
    }
  });
});
