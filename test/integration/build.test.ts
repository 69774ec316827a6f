import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
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

const filesEndingWith = (dir: string, ext: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesEndingWith(join(dir, e.name), ext) : e.name.endsWith(ext) ? [join(dir, e.name)] : [],
  );
const luaSources = ['src', 'jobs', 'config'].flatMap((d) => filesEndingWith(join(ROOT, d), '.lua'));

let sim: Simulator;
beforeAll(async () => {
  const build = spawnSync(process.execPath, [join(ROOT, 'scripts/build.mjs')], { encoding: 'utf8' });
  expect(build.stderr + build.stdout).toContain(`dist/: compiled, ${luaSources.length} Lua scripts copied`);
  expect(build.status).toBe(0);
  sim = await startTestSim({ users: 200, grantsPerUser: 2, seed: 33 });
}, 120_000);
afterAll(async () => {
  await sim?.close();
});

describe('the compiled build', () => {
  it('has every Lua script beside its module', () => {
    expect(luaSources.length).toBeGreaterThan(0);
    for (const f of luaSources) expect(existsSync(join(ROOT, 'dist', f.slice(ROOT.length)))).toBe(true);
  });

  it('imports no TypeScript file: every relative specifier was rewritten to .js', () => {
    const files = filesEndingWith(join(ROOT, 'dist'), '.js');
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
