/**
 * Runs every figure's script in turn, each in its own process (each starts and stops its
 * own Redis, simulator and workers), and prints their summary lines.
 *
 *   npm run bench                 # the full figures: about an hour and a half
 *   npm run bench -- --quick      # short windows and fewer targets: about fifteen minutes
 *   npm run bench -- --only budget,vs-sdk
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { flagValue, hasFlag, log, machine, ROOT } from './lib/harness.ts';

const FIGURES = ['budget', 'vs-sdk', 'overhead', 'overhead-parts', 'scale', 'cluster'] as const;
const only = flagValue('--only')?.split(',');
const pass = hasFlag('--quick') ? ['--quick'] : [];

const m = machine();
log(`machine: ${m.cpu}, ${m.cores} cores, node ${m.node}, redis ${m.redis}, load ${m.loadavg1}`);
const lines: string[] = [];
let failed = 0;
for (const fig of FIGURES.filter((f) => !only || only.includes(f))) {
  log(`— ${fig}`);
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', `${fig}.ts`), ...pass], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    child.stdout.on('data', (d: Buffer) => {
      process.stdout.write(d);
      lines.push(...d.toString().split('\n').filter(Boolean));
    });
    const stop = () => child.kill('SIGTERM');
    process.once('SIGINT', stop);
    child.once('exit', (c) => {
      process.off('SIGINT', stop);
      resolve(c);
    });
  });
  if (code !== 0) {
    failed++;
    log(`${fig} exited ${code}`);
  }
}
log(`done: ${lines.length} summary line(s), ${failed} failed; JSON in bench/results/`);
process.exitCode = failed ? 1 : 0;
