import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis } from '../../src/redis/connection.ts';
import { orgKeyOf, queueNameOf } from '../../src/queue/org.ts';
import { orgKeys, queuePrefix, runKeys, runsIndexKey } from '../../src/redis/keys.ts';
import { SharedBudget } from '../../src/queue/budget.ts';
import { RunStoppedError } from '../../src/queue/errors.ts';
import { tombstone, TOMBSTONE_MS } from '../../src/runs/prune.ts';
import { RunStore } from '../../src/runs/run-store.ts';
import type { Simulator } from '../../src/sim/index.ts';
import { runCli } from '../helpers/cli.ts';
import { redisUrl, uniqueRunId } from '../helpers/redis.ts';
import { envFor, startTestSim, writeCsv } from '../helpers/sim.ts';

/**
 * `runs prune` deletes every old final run of the Redis it is given, so this file keeps
 * its runs in a database of their own (db 9 of the suite's redis-server, on its Unix
 * socket: `?db=9`; on TCP, `/9`): the other
 * files' runs are not its to delete, and its counts are exact.
 */
const DAY = 86_400_000;
let sim: Simulator;
let env: NodeJS.ProcessEnv;
let redis: Redis;
let store: RunStore;
const ids = { old: uniqueRunId('prune-old'), recent: uniqueRunId('prune-recent'), cancelled: uniqueRunId('prune-cancel'), queued: uniqueRunId('prune-queued') };

/** Makes a run look as if it was created and finished `days` ago. */
async function age(runId: string, days: number): Promise<void> {
  const at = Date.now() - days * DAY;
  const meta = (await store.getMeta(runId))!;
  await redis.hset(runKeys(runId).meta, 'createdAt', String(at - 3_600_000), ...(meta.finishedAt ? ['finishedAt', String(at)] : []));
  await redis.zadd(runsIndexKey, at - 3_600_000, runId);
}

/** The keys of a run that exist (a SCAN of this database for its hash tag). */
async function keysOf(runId: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `gs:{r:${runId}}:*`, 'COUNT', 1000);
    found.push(...keys);
    cursor = next;
  } while (cursor !== '0');
  return found;
}

beforeAll(async () => {
  sim = await startTestSim({ users: 60 });
  const base = redisUrl();
  const url = base.startsWith('unix://') ? `${base}?db=9` : `${base}/9`;
  env = envFor(sim, { REDIS_URL: url });
  redis = createRedis({ url, role: 'worker' });
  await redis.connect();
  await redis.flushdb();
  store = new RunStore(redis);
  const users = sim.org.sampleUsers({ count: 12, status: 'ACTIVE', minGrants: 1 }).map((u) => u.id);
  const csv = (from: number) => writeCsv(['userId', ...users.slice(from, from + 3)]);
  for (const [runId, from] of [[ids.old, 0], [ids.recent, 3]] as const) {
    const r = await runCli(['run', '--csv', csv(from), '--yes', '--run-id', runId], env);
    expect(r.code, r.stderr).toBe(0);
  }
  // Enqueued with no worker: one is cancelled (final, in the org's stopped runs), one stays queued.
  for (const [runId, from] of [[ids.cancelled, 6], [ids.queued, 9]] as const) {
    const r = await runCli(['enqueue', '--csv', csv(from), '--yes', '--run-id', runId], env);
    expect(r.code, r.stderr).toBe(0);
  }
  expect((await runCli(['cancel', ids.cancelled], env)).code).toBe(0);
  await age(ids.old, 40);
  await age(ids.cancelled, 35);
  await age(ids.queued, 60);
}, 60_000);
afterAll(async () => {
  await redis?.flushdb();
  redis?.disconnect();
  await sim?.close();
});

describe('runs prune', () => {
  it('--dry-run lists the final runs finished before the age and deletes nothing', async () => {
    const r = await runCli(['runs', 'prune', '--older-than', '30d', '--dry-run', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.dryRun).toBe(true);
    expect(out.pruned.map((p: { runId: string }) => p.runId).sort()).toEqual([ids.old, ids.cancelled].sort());
    expect(out.pruned.find((p: { runId: string }) => p.runId === ids.old)).toMatchObject({ state: 'completed', targets: 3 });
    expect(out.pruned.find((p: { runId: string }) => p.runId === ids.cancelled)).toMatchObject({ state: 'cancelled', targets: 3 });
    expect(out.kept).toBe(1); // the queued run: 60 days old, never final
    expect((await keysOf(ids.old)).length).toBeGreaterThanOrEqual(4);
    expect(await redis.zscore(runsIndexKey, ids.old)).not.toBeNull();
  });

  it('deletes every key of those runs and their index entries, leaves a stopped run a tombstone for a week; the others stay whole', async () => {
    const orgKey = (await store.getMeta(ids.cancelled))!.orgKey;
    expect(await redis.hget(orgKeys(orgKey).stopped, ids.cancelled)).not.toBeNull();
    const before = { recent: (await keysOf(ids.recent)).sort(), queued: (await keysOf(ids.queued)).sort() };

    const r = await runCli(['runs', 'prune', '--older-than', '30d', '--yes'], env);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => l.split('\t'));
    expect(lines.map((l) => l[0]).sort()).toEqual([ids.old, ids.cancelled].sort());
    expect(lines.every((l) => l[3] === '3 targets')).toBe(true);
    expect(r.stderr).toMatch(/deleted 2 runs in http:\/\/127\.0\.0\.1:\d+ \(6 targets\) that finished before \S+; kept 1 older run not final or finished since/);

    for (const gone of [ids.old, ids.cancelled]) {
      expect(await keysOf(gone)).toEqual([]);
      expect(await redis.zscore(runsIndexKey, gone)).toBeNull();
    }
    // The cancelled run's stop mark stays, as a tombstone: a worker still waiting with one of its
    // targets (a 429's reset, a backoff, a frozen process) is refused its slot, as before the prune.
    expect(await redis.hget(orgKeys(orgKey).stopped, ids.cancelled)).toMatch(/^the run was deleted by runs prune at \d{4}-/);
    const budget = new SharedBudget(redis, { orgKey, maxInFlight: 10, leaseMs: 30_000, windowMs: 60_000 });
    budget.setShare(ids.cancelled, 1, 'even');
    await expect(budget.acquire({ method: 'DELETE', path: '/api/v1/users/00u1/grants', bucket: 'user-grants', runId: ids.cancelled })).rejects.toBeInstanceOf(RunStoppedError);
    // Its id cannot start a new run while the tombstone holds (the new run would start stopped, and hang).
    const reuse = await runCli(['enqueue', '--csv', writeCsv(['userId', '00uREUSE000000000001']), '--yes', '--run-id', ids.cancelled], env);
    expect(reuse.code).toBe(2);
    expect(reuse.stderr).toMatch(new RegExp(`--run-id ${ids.cancelled}: a run with this id was pruned at \\S+, and its stop mark holds until \\S+ \\(a worker may still hold its targets\\); choose another id`));
    expect(await store.getMeta(ids.cancelled)).toBeNull();
    // The completed run had no mark, and gets none: its id is free at once.
    expect(await redis.hget(orgKeys(orgKey).stopped, ids.old)).toBeNull();
    expect((await keysOf(ids.recent)).sort()).toEqual(before.recent);
    expect((await keysOf(ids.queued)).sort()).toEqual(before.queued);

    const status = await runCli(['status', ids.old], env);
    expect(status.code).toBe(2);
    const report = await runCli(['report', ids.recent, '--format', 'json'], env);
    expect(report.code, report.stderr).toBe(0);
    expect(JSON.parse(report.stdout).counts).toMatchObject({ total: 3, revoked: 3 });
    expect((await runCli(['runs', '--json'], env)).stdout).toContain(ids.queued);

    const again = await runCli(['runs', 'prune', '--older-than', '30d', '--yes'], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe('');
    expect(again.stderr).toMatch(/deleted 0 runs in \S+ \(0 targets\)/);
    // A week on, a prune of the org forgets the tombstone.
    expect(await redis.hget(orgKeys(orgKey).stopped, ids.cancelled)).not.toBeNull();
    await redis.hset(orgKeys(orgKey).stopped, ids.cancelled, tombstone(Date.now() - TOMBSTONE_MS - 60_000));
    expect((await runCli(['runs', 'prune', '--older-than', '30d', '--yes'], env)).code).toBe(0);
    expect(await redis.hget(orgKeys(orgKey).stopped, ids.cancelled)).toBeNull();
  });

  it('the delete itself refuses a run that is not final or finished after the cutoff (a retry between the read and the delete)', async () => {
    expect(await store.deleteRun(ids.queued, Date.now())).toBeNull();
    expect(await store.deleteRun(ids.recent, Date.now() - DAY)).toBeNull();
    expect((await keysOf(ids.queued)).length).toBeGreaterThan(0);
    expect((await keysOf(ids.recent)).length).toBeGreaterThan(0);
  });

  it('an index entry whose run is gone (a prune cut short) is dropped, and not counted', async () => {
    await redis.zadd(runsIndexKey, Date.now() - 90 * DAY, 'ghost-run');
    const dry = await runCli(['runs', 'prune', '--older-than', '30d', '--dry-run', '--json'], env);
    expect(JSON.parse(dry.stdout)).toMatchObject({ pruned: [], kept: 1 });
    expect(await redis.zscore(runsIndexKey, 'ghost-run')).not.toBeNull();
    const r = await runCli(['runs', 'prune', '--older-than', '30d', '--json'], env);
    expect(JSON.parse(r.stdout)).toMatchObject({ pruned: [], kept: 1 });
    expect(await redis.zscore(runsIndexKey, 'ghost-run')).toBeNull();
  });

  it('takes the failed jobs of the runs it deletes out of their queue, and those of runs already gone, and leaves the others', async () => {
    // Finished runs of an org of their own, 40 days and 1 day old, each with a job that failed for good;
    // one more whose id starts like the old one's, and a run deleted by a prune cut short before its jobs' turn.
    const orgKey = 'fa11ed0f0001'; // hex, as orgKeyOf makes them: prune finds the org's queue by its name
    const runs = { old: uniqueRunId('prune-failed-old'), recent: uniqueRunId('prune-failed-new') };
    const gone = uniqueRunId('prune-failed-gone');
    for (const [runId, days] of [[runs.old, 40], [runs.recent, 1], [`${runs.old}.5`, 1]] as const) {
      const at = Date.now() - days * DAY;
      await store.createRun({
        runId, orgUrl: 'https://prune-failed.okta.test', orgKey, state: 'completed', stateReason: null, dryRun: false, snapshot: false, tokens: false,
        reason: null, source: { kind: 'csv', value: 'x.csv' }, target: { clientId: null, scopeId: null }, rateShare: 0.5, pacing: 'even',
        attempts: 5, maxRateLimitDeferrals: 50, createdAt: at - 3_600_000, finishedAt: at, loaded: true, fed: 1, requeueFed: 0, queueBase: null, schedule: null,
      });
    }
    const connection = createRedis({ url: env.REDIS_URL!, role: 'worker' });
    const queue = new Queue(queueNameOf(orgKey), { connection, prefix: queuePrefix });
    const workerConnection = createRedis({ url: env.REDIS_URL!, role: 'worker' });
    const worker = new Worker(queueNameOf(orgKey), async () => { throw new Error('Redis went away (a test)'); }, { connection: workerConnection, prefix: queuePrefix });
    try {
      // Job ids as the feeder names them; the last is another run's whose id starts like the old one's.
      await queue.add('revoke-targets', { runId: runs.old, keys: ['u:jane@example.com'] }, { attempts: 1, jobId: `${runs.old}.0` });
      await queue.add('revoke-targets', { runId: runs.recent, keys: ['u:joe@example.com'] }, { attempts: 1, jobId: `${runs.recent}.0` });
      await queue.add('revoke-targets', { runId: runs.old, keys: ['u:ann@example.com'] }, { attempts: 1, jobId: `${runs.old}.r0` });
      await queue.add('revoke-targets', { runId: `${runs.old}.5`, keys: ['u:bo@example.com'] }, { attempts: 1, jobId: `${runs.old}.5.0` });
      await queue.add('revoke-targets', { runId: gone, keys: ['u:al@example.com'] }, { attempts: 1, jobId: `${gone}.3` });
      await expect.poll(() => queue.getFailedCount(), { timeout: 10_000 }).toBe(5);
      await worker.close();

      // Runs of an org other than OKTA_ORG_URL's: --all-orgs.
      const r = await runCli(['runs', 'prune', '--older-than', '30d', '--yes', '--json', '--all-orgs'], env);
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out.pruned.map((p: { runId: string }) => p.runId)).toEqual([runs.old]);
      expect(out.failedJobs).toBe(3);
      const left = await queue.getFailed();
      expect(left.map((j) => j.data.runId).sort()).toEqual([runs.recent, `${runs.old}.5`].sort());
      // Their job hashes went too, not only their place in the failed set.
      for (const id of [`${runs.old}.0`, `${runs.old}.r0`, `${gone}.3`]) expect(await redis.exists(`${queuePrefix}:${queueNameOf(orgKey)}:${id}`)).toBe(0);
      expect(await redis.exists(`${queuePrefix}:${queueNameOf(orgKey)}:${runs.recent}.0`)).toBe(1);

      // A later prune that deletes no run of this org still visits its queue: a job whose run is gone goes.
      const later = uniqueRunId('prune-failed-later');
      const again = new Worker(queueNameOf(orgKey), async () => { throw new Error('Redis went away (a test)'); }, { connection: workerConnection, prefix: queuePrefix });
      await queue.add('revoke-targets', { runId: later, keys: ['u:cy@example.com'] }, { attempts: 1, jobId: `${later}.0` });
      await expect.poll(() => queue.getFailedCount(), { timeout: 10_000 }).toBe(3);
      await again.close();
      const r2 = await runCli(['runs', 'prune', '--older-than', '30d', '--yes', '--json', '--all-orgs'], env);
      expect(r2.code, r2.stderr).toBe(0);
      expect(JSON.parse(r2.stdout)).toMatchObject({ pruned: [], failedJobs: 1 });
      expect((await queue.getFailed()).map((j) => j.data.runId).sort()).toEqual([runs.recent, `${runs.old}.5`].sort());
    } finally {
      await worker.close();
      await queue.obliterate({ force: true });
      await queue.close();
      connection.disconnect();
      workerConnection.disconnect();
    }
  });

  it("lists and prunes OKTA_ORG_URL's runs only; --all-orgs every org's, each row naming its org", async () => {
    const other = { url: 'https://preview-org.okta.test', runId: uniqueRunId('prune-other-org') };
    const at = Date.now() - 40 * DAY;
    await store.createRun({
      runId: other.runId, orgUrl: other.url, orgKey: orgKeyOf(other.url), state: 'completed', stateReason: null, dryRun: false, snapshot: false, tokens: false,
      reason: null, source: { kind: 'csv', value: 'x.csv' }, target: { clientId: null, scopeId: null }, rateShare: 0.5, pacing: 'even',
      attempts: 5, maxRateLimitDeferrals: 50, createdAt: at - 3_600_000, finishedAt: at, loaded: true, fed: 0, requeueFed: 0, queueBase: null, schedule: null,
    });
    const listed = (args: string[]) => runCli(['runs', ...args], env).then((r) => r.stdout);
    expect(await listed([])).not.toContain(other.runId);
    expect(await listed([])).toContain(ids.recent);
    const all = (await listed(['--all-orgs'])).split('\n').map((l) => l.split('\t'));
    expect(all.find((l) => l[0] === other.runId)?.at(-1)).toBe('preview-org.okta.test');
    expect(all.find((l) => l[0] === ids.recent)?.at(-1)).toBe(new URL(sim.url).host);
    const json = JSON.parse(await listed(['--json', '--all-orgs']));
    expect(json.find((r: { runId: string }) => r.runId === other.runId)).toMatchObject({ orgUrl: other.url, state: 'completed' });

    const mine = await runCli(['runs', 'prune', '--older-than', '30d', '--yes', '--json'], env);
    expect(mine.code, mine.stderr).toBe(0);
    expect(JSON.parse(mine.stdout)).toMatchObject({ org: sim.url, pruned: [] });
    expect(JSON.parse(mine.stdout).otherOrgs).toBeGreaterThanOrEqual(1);
    expect(await store.getMeta(other.runId)).not.toBeNull();
    const text = await runCli(['runs', 'prune', '--older-than', '30d', '--yes'], env);
    expect(text.stderr).toMatch(/left \d+ runs? of other orgs \(--all-orgs: those too\)/);

    const everyOrg = await runCli(['runs', 'prune', '--older-than', '30d', '--yes', '--json', '--all-orgs'], env);
    expect(everyOrg.code, everyOrg.stderr).toBe(0);
    expect(JSON.parse(everyOrg.stdout)).toMatchObject({ org: null, otherOrgs: 0 });
    expect(JSON.parse(everyOrg.stdout).pruned.map((p: { runId: string }) => p.runId)).toContain(other.runId);
    expect(await store.getMeta(other.runId)).toBeNull();
  });

  it('a bad or missing --older-than is a usage error that deletes nothing', async () => {
    const before = await redis.zcard(runsIndexKey);
    for (const [args, msg] of [
      [['--older-than', '30'], /--older-than "30": expected a number and a unit, such as 30d/],
      [['--older-than', '-1d'], /--older-than "-1d": expected a number and a unit/],
      [[], /--older-than is required/],
    ] as const) {
      const r = await runCli(['runs', 'prune', ...args, '--yes'], env);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(msg);
    }
    expect(await redis.zcard(runsIndexKey)).toBe(before);
  });
});
