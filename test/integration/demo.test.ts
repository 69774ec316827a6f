import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { spawnCli } from '../helpers/cli.ts';
import { redisUrl } from '../helpers/redis.ts';

/** The quick start's first line (`npm run demo`), as a process, on the suite's Redis. */
describe('grantsweep demo', () => {
  const env = () => ({ REDIS_URL: redisUrl(), GRANTSWEEP_HOME: mkdtempSync(join(tmpdir(), 'gs-demo-')) });

  it('offboards the leavers of its CSV, reports each, and checks with a dry run of the same targets that nothing is left', async () => {
    const { done } = spawnCli(['demo', '--users', '200', '--count', '20'], env());
    const r = await done;
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'), r.stdout.lastIndexOf('\ncheck (') + 1)) as { state: string; counts: Record<string, number>; results: { status: string; grants: unknown[] }[] };
    expect(report.state).toBe('completed');
    expect(report.counts).toMatchObject({ total: 20, revoked: 20, failed: 0 });
    expect(report.results.every((x) => x.grants.length > 0)).toBe(true);
    expect(r.stdout).toMatch(/run demo-\d+-check: completed \[dry run\]\n {2}20\/20 done · nothing_to_revoke 20/);
    expect(r.stderr).toMatch(/the simulator confirms: 0 grants left for the 20 leavers \(they held \d+\)/);
  });

  it('refuses a sample larger than the org (exit 2)', async () => {
    const r = await spawnCli(['demo', '--users', '10', '--count', '11'], env()).done;
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--users and --count: expected whole numbers with 1 <= count <= users/);
  });
});
