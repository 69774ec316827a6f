import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { spawnCli } from '../helpers/cli.ts';
import { uniqueRunId } from '../helpers/redis.ts';
import { envFor, simAndRedis, writeCsv } from '../helpers/sim.ts';

/**
 * A command loads what it uses. The producer of a million-row CSV must fit in 200 MB
 * (BENCHMARKS.md, figure 4); BullMQ, undici and jose are some 40 MB of it, and an import
 * of a helper from the worker's module once brought them all back into `enqueue`.
 */
const RECORDER = fileURLToPath(new URL('../helpers/record-imports.mjs', import.meta.url));
const t = simAndRedis({ users: 20 });

/** The packages a command imported (from node_modules), after it ran to its end. */
async function packagesImportedBy(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stderr: string; packages: Set<string> }> {
  const file = join(mkdtempSync(join(tmpdir(), 'gs-imports-')), 'imports.txt');
  const r = await spawnCli(args, { ...env, RECORD_IMPORTS: file, NODE_OPTIONS: `--import "${RECORDER}"` }).done;
  const urls = readFileSync(file, 'utf8').split('\n');
  const packages = new Set(urls.map((u) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1]).filter((p): p is string => !!p));
  return { code: r.code, stderr: r.stderr, packages };
}

describe('what a command loads', () => {
  it('enqueue --csv stores a run without BullMQ, undici, jose or express; status, runs, report, pace, retry and cancel work without them', async () => {
    const env = envFor(t.sim);
    const csv = writeCsv(['userId', ...t.sim.org.sampleUsers({ count: 3 }).map((u) => u.id)]);
    const runId = uniqueRunId('lean');
    const enq = await packagesImportedBy(['enqueue', '--csv', csv, '--yes', '--run-id', runId], env);
    expect(enq.code, enq.stderr).toBe(0);
    // The recorder sees the packages it should: the command's own.
    expect(enq.packages).toContain('ioredis');
    expect(enq.packages).toContain('csv-parse');
    for (const heavy of ['bullmq', 'undici', 'jose', 'express']) expect(enq.packages, heavy).not.toContain(heavy);

    // Nor do the commands that read or change a run in Redis alone (the prune's failed jobs are BullMQ's, and
    // `retry --wait` runs a worker: they load it for those alone).
    for (const args of [['status', runId, '--json'], ['runs', '--json'], ['report', runId, '--format', 'csv'], ['pace', runId, '--rate-share', '0.3'], ['retry', runId], ['cancel', runId]]) {
      const r = await packagesImportedBy(args, env);
      expect(r.code, r.stderr).toBe(0);
      for (const heavy of ['bullmq', 'undici', 'jose', 'express']) expect(r.packages, `${args[0]}: ${heavy}`).not.toContain(heavy);
    }
    // And the recorder would tell: a worker's command does load them.
    const check = await packagesImportedBy(['check', '--json'], env);
    expect(check.code, check.stderr).toBe(0);
    expect(check.packages).toContain('undici');
  });
});
