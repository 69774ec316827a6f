import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Simulator } from '../../src/sim/index.ts';
import { spawnCli } from '../helpers/cli.ts';
import { uniqueRunId } from '../helpers/redis.ts';
import { envFor, startTestSim, writeCsv } from '../helpers/sim.ts';

// The compiled build that the Docker image runs (`npm run build`, dist/src/cli/main.js).
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = join(ROOT, 'dist/src/cli/main.js');

const jsFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? jsFiles(join(dir, e.name)) : e.name.endsWith('.js') ? [join(dir, e.name)] : []));

let sim: Simulator;
beforeAll(async () => {
  const build = spawnSync(process.execPath, [join(ROOT, 'scripts/build.mjs')], { encoding: 'utf8' });
  expect(build.stderr + build.stdout).toMatch(/dist\/: compiled, 7 Lua scripts copied/);
  expect(build.status).toBe(0);
  sim = await startTestSim({ users: 200, grantsPerUser: 2, seed: 33 });
}, 120_000);
afterAll(async () => {
  await sim?.close();
});

describe('the compiled build', () => {
  it('imports no TypeScript file: every relative specifier was rewritten to .js', () => {
    const files = jsFiles(join(ROOT, 'dist'));
    expect(files.length).toBeGreaterThan(50);
    const left = files.filter((f) => /(from\s+|import\()\s*["']\.{1,2}\/[^"']*\.ts["']/.test(readFileSync(f, 'utf8')));
    expect(left).toEqual([]);
  });

  it('prints the package version', async () => {
    const r = await spawnCli(['--version'], {}, MAIN).done;
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
  });

  it('runs a CSV end to end on the simulator (its Lua scripts, workers and report)', async () => {
    const users = sim.org.sampleUsers({ count: 40 });
    const runId = uniqueRunId('dist');
    const csv = writeCsv(['userId', ...users.map((u) => u.id)]);
    const env = envFor(sim);
    const r = await spawnCli(['run', '--csv', csv, '--yes', '--run-id', runId], env, MAIN).done;
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.code).toBe(0);
    for (const u of users) expect(sim.org.grantsOf(u.id)).toEqual([]);
    const status = await spawnCli(['status', runId, '--json'], env, MAIN).done;
    expect(JSON.parse(status.stdout).counts).toMatchObject({ total: 40, pending: 0, failed: 0 });
  });
});
