import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Simulator } from '../../src/sim/index.ts';
import { runCli } from '../helpers/cli.ts';
import { envFor, startTestSim, writeCsv } from '../helpers/sim.ts';

/** A Redis that refuses writes (maxmemory reached, noeviction): said plainly, exit 3, never a stack. */

let server: ChildProcess;
let url: string;
let sim: Simulator;

beforeAll(async () => {
  sim = await startTestSim({ users: 10 });
  const dir = mkdtempSync(join(tmpdir(), 'gs-redis-full-'));
  url = `unix://${join(dir, 'r.sock')}`;
  server = spawn('redis-server', ['--port', '0', '--unixsocket', join(dir, 'r.sock'), '--maxmemory', '3mb', '--maxmemory-policy', 'noeviction', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let i = 0; i < 100 && (await runCli(['runs'], { REDIS_URL: url })).code !== 0; i++) await new Promise((r) => setTimeout(r, 50));
});

afterAll(async () => {
  server?.kill('SIGKILL');
  await sim?.close();
});

describe('a full Redis', () => {
  it('enqueue into a Redis at its maxmemory: exit 3 saying Redis is full', async () => {
    // About 40,000 targets: far more than 3 MB holds.
    const rows = ['userId', ...Array.from({ length: 40_000 }, (_, i) => `00u${String(i).padStart(17, '0')}`)];
    const r = await runCli(['enqueue', '--csv', writeCsv(rows), '--yes', '--run-id', 'full-1'], envFor(sim, { REDIS_URL: url }));
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/grantsweep: Redis is full \(OOM command not allowed when used memory > 'maxmemory'/);
    expect(r.stderr).not.toMatch(/unexpected error|ReplyError/);
  }, 60_000);
});
