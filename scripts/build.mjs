// `npm run build`: the TypeScript compiled to dist/ (tsconfig.build.json), with the Lua
// scripts beside the modules that load them. Production (the Docker image) runs
// dist/src/cli/main.js: no loader thread, no compile at start-up.
import { spawnSync } from 'node:child_process';
import { cpSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist');
rmSync(out, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);

let assets = 0;
const walk = (dir) => {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (e.name.endsWith('.lua')) {
      cpSync(p, join(out, relative(root, p)));
      assets++;
    }
  }
};
for (const top of ['src', 'jobs', 'config']) walk(join(root, top));
console.log(`dist/: compiled, ${assets} Lua scripts copied`);
