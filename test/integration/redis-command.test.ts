import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureEmbeddedRedis, stopEmbeddedRedis } from '../../src/redis/embedded.ts';
import { runCli } from '../helpers/cli.ts';

describe('grantsweep redis status|stop: the embedded redis-server', () => {
  it('says running only when a server answers on its socket: not for a socket file a crash left behind', async () => {
    const home = mkdtempSync(join(tmpdir(), 'gs-home-redis-'));
    const env = { REDIS_URL: undefined, GRANTSWEEP_HOME: home };
    const dir = join(home, 'redis');

    expect((await runCli(['redis', 'status'], env)).stdout).toBe('embedded Redis: not running\n');
    // What a killed redis-server leaves: the socket's file, with nobody behind it.
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'redis.sock'), '');
    expect((await runCli(['redis', 'status'], env)).stdout).toBe('embedded Redis: not running\n');

    const started = await ensureEmbeddedRedis({ dir });
    try {
      const status = await runCli(['redis', 'status'], env);
      expect(status.code).toBe(0);
      expect(status.stdout).toBe(`embedded Redis: ${join(dir, 'redis.sock')}\n`);
      expect(started.url).toBe(`unix://${join(dir, 'redis.sock')}`);
      const stop = await runCli(['redis', 'stop'], env);
      expect(stop.stdout).toBe(`stopped the embedded Redis in ${dir}\n`);
      expect((await runCli(['redis', 'status'], env)).stdout).toBe('embedded Redis: not running\n');
    } finally {
      await stopEmbeddedRedis(dir);
    }
  });

  it('a GRANTSWEEP_HOME too long for a Unix socket, or under /proc, is refused at once, naming it (exit 2), not after redis-server fails to start', async () => {
    const home = join(mkdtempSync(join(tmpdir(), 'gs-home-long-')), 'x'.repeat(100));
    const r = await runCli(['runs'], { REDIS_URL: undefined, GRANTSWEEP_HOME: home });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/GRANTSWEEP_HOME: the embedded Redis's socket .* would be \d+ bytes long, and a Unix socket's path holds at most 107/);
    // Under /proc, Node's recursive mkdir spun at full CPU for ever.
    const proc = await runCli(['runs'], { REDIS_URL: undefined, GRANTSWEEP_HOME: '/proc/gs-home' });
    expect(proc.code, proc.stderr).toBe(2);
    expect(proc.stderr).toContain("GRANTSWEEP_HOME: cannot make the embedded Redis's folder /proc/gs-home/redis (it is under /proc, the kernel's)");
  });

  it('refuses to manage a Redis of REDIS_URL: exit 2', async () => {
    const r = await runCli(['redis', 'stop'], { REDIS_URL: 'redis://127.0.0.1:1', GRANTSWEEP_HOME: mkdtempSync(join(tmpdir(), 'gs-home-redis-')) });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('REDIS_URL is set: grantsweep does not manage that Redis');
  });
});
