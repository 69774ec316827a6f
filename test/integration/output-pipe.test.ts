import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Simulator } from '../../src/sim/index.ts';
import { BIN, runCli } from '../helpers/cli.ts';
import { uniqueRunId } from '../helpers/redis.ts';
import { envFor, startTestSim, writeCsv } from '../helpers/sim.ts';

/**
 * An administrator pipes a report into `head` or `grep -m1`: the reader goes away long before
 * the end. The command must end quietly with its own exit code, not as a crash.
 */
let sim: Simulator;
let env: NodeJS.ProcessEnv;
const runId = uniqueRunId('pipe');

beforeAll(async () => {
  sim = await startTestSim({ users: 1_500 });
  env = envFor(sim);
  // A dry run lists every user's grants: its report is far larger than a pipe's 64 KB buffer.
  const ids = sim.org.sampleUsers({ count: 1_500 }).map((u) => u.id);
  const r = await runCli(['run', '--csv', writeCsv(['userId', ...ids]), '--dry-run', '--yes', '--run-id', runId], env);
  expect(r.code, r.stderr).toBe(0);
});
afterAll(async () => {
  await sim.close();
});

/** Runs `grantsweep <args> | <reader>` in bash; grantsweep's own exit code, its stderr, what the reader printed. */
function piped(args: string[], reader: string): Promise<{ code: number; stderr: string; stdout: string }> {
  const script = `"${process.execPath}" "${BIN}" ${args.join(' ')} 2>"$ERR" | ${reader}; echo "exit=\${PIPESTATUS[0]}"; cat "$ERR"`;
  const child = spawn('bash', ['-c', script], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env, ERR: `${env.GRANTSWEEP_HOME}/stderr` },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  return new Promise((resolve) =>
    child.on('close', () => {
      const m = /^([\s\S]*?)exit=(\d+)\n([\s\S]*)$/.exec(out);
      resolve({ stdout: m?.[1] ?? out, code: Number(m?.[2] ?? -1), stderr: m?.[3] ?? '' });
    }),
  );
}

describe('output into a pipe closed early', () => {
  it.each([
    ['csv', ['report', runId, '--format', 'csv'], 'head -1', /^userId,login,/],
    ['json', ['report', runId], 'grep -m1 -F \'"would_revoke"\'', /"status": "would_revoke"|"would_revoke":/],
  ])('report --format %s | reader: the first lines, exit 0, nothing on stderr', async (_f, args, reader, first) => {
    const r = await piped(args as string[], reader as string);
    expect(r.stdout).toMatch(first as RegExp);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it.each([['report', runId, '--format', 'csv'], ['status', runId], ['--help']])('%s … > /dev/full: says the output is incomplete, exit 2, no crash', (...args) => {
    const full = openSync('/dev/full', 'w');
    try {
      const r = spawnSync(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, stdio: ['ignore', full, 'pipe'], encoding: 'utf8' });
      expect(r.stderr).toBe('grantsweep: stdout cannot be written (ENOSPC): the output is incomplete\n');
      expect(r.status).toBe(2);
    } finally {
      closeSync(full);
    }
  });

  it('the whole report still reaches a reader that reads it all', async () => {
    const r = await piped(['report', runId, '--format', 'csv'], 'wc -l');
    expect(Number(r.stdout.trim())).toBe(1_501);
    expect(r.code).toBe(0);
  });
});
