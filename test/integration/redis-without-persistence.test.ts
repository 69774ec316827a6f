import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckResult } from '../../src/cli/commands/check.ts';
import type { Simulator } from '../../src/sim/index.ts';
import { runCli, spawnCli } from '../helpers/cli.ts';
import { until } from '../helpers/fleet.ts';
import { envFor, startTestSim, writeCsv } from '../helpers/sim.ts';

/**
 * A Redis that keeps nothing across a restart (appendonly no, no save points), as a
 * careless deployment runs it: a real redis-server of this file's own, on a Unix socket.
 * `check` says so; a run whose Redis loses it mid-way ends naming why, not "no such run".
 */
let sim: Simulator;
let server: ChildProcess;
let sock: string;

beforeAll(async () => {
  sim = await startTestSim({ users: 200, faults: { latencyMs: 100 } });
  const dir = mkdtempSync(join(tmpdir(), 'gs-nopersist-'));
  sock = join(dir, 'redis.sock');
  server = spawn('redis-server', ['--port', '0', '--unixsocket', sock, '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  await until('the bare redis-server', () => existsSync(sock), 10_000, 25);
});
afterAll(async () => {
  server?.kill('SIGKILL');
  await sim?.close();
});

describe('a Redis without persistence', () => {
  it('check warns: a restart would lose every run, its results and its queue', async () => {
    const env = envFor(sim, { REDIS_URL: `unix://${sock}` });
    const json = await runCli(['check', '--json'], env);
    expect(json.code, json.stderr).toBe(0);
    expect((JSON.parse(json.stdout) as CheckResult).redisPersistence).toBe('none');
    const t = await runCli(['check'], env);
    expect(t.stdout).toMatch(/^redis +.* · warning: persists nothing \(appendonly no, no save points\): a Redis restart loses every run, its results and its queue; set appendonly yes$/m);
    // The suite's Redis (the embedded one) is on its append-only file.
    expect(JSON.parse((await runCli(['check', '--json'], envFor(sim))).stdout).redisPersistence).toBe('aof');
  });

  it('a run whose Redis loses it mid-way (a restart without persistence) ends with exit 3 and why, not "no such run"', async () => {
    const env = envFor(sim, { REDIS_URL: `unix://${sock}` });
    const users = sim.org.sampleUsers({ count: 150, status: 'ACTIVE', minGrants: 1 });
    const run = spawnCli(['run', '--csv', writeCsv(['userId', ...users.map((u) => u.id)]), '--yes', '--concurrency', '2'], env);
    const admin = new Redis(sock);
    try {
      await until('some revocations', () => (sim.log.snapshot().byEndpoint['DELETE /api/v1/users/{userId}/grants'] ?? 0) >= 5, 30_000, 20);
      // What a restart without persistence leaves: nothing.
      await admin.flushall();
      const r = await run.done;
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toMatch(/run \S+ is gone from Redis while it was watched: Redis restarted without persistence \(appendonly no\), or the run was pruned/);
      expect(r.stderr).not.toMatch(/no such run|unexpected error/);
    } finally {
      run.child.kill('SIGKILL');
      admin.disconnect();
    }
  });
});
