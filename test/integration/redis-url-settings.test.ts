import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';
import { redisUrl } from '../helpers/redis.ts';

/** REDIS_URL's password and database reach Redis as written, or the command says why not. */

const PASSWORD = 'UnixPass-S3cret';
let server: ChildProcess;
let socket: string;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gs-redis-auth-'));
  socket = join(dir, 'r.sock');
  server = spawn('redis-server', ['--port', '0', '--unixsocket', socket, '--requirepass', PASSWORD, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const r = await runCli(['runs'], { REDIS_URL: `unix://${socket}?password=${PASSWORD}` });
    if (r.code === 0) return;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error('the password-protected redis-server did not start');
});

afterAll(() => {
  server?.kill('SIGKILL');
});

describe('REDIS_URL: credentials and database', () => {
  it("a unix socket's password is used (?password= or before the path) and never shown", async () => {
    for (const url of [`unix://${socket}?password=${PASSWORD}`, `unix://:${PASSWORD}@${socket}`]) {
      const check = await runCli(['runs', '--json'], { REDIS_URL: url });
      expect(check.code, check.stderr).toBe(0);
      expect(check.stdout + check.stderr).not.toContain(PASSWORD);
    }
    // The wrong password: refused by Redis, named without it.
    const wrong = await runCli(['runs'], { REDIS_URL: `unix://${socket}?password=Wrong-${PASSWORD}` });
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toContain(`Redis at unix://${socket}?password=*** could not be reached`);
    expect(wrong.stderr).not.toContain(PASSWORD);
  });

  it('a database Redis does not have is refused (exit 2), not replaced by database 0', async () => {
    const base = redisUrl();
    const url = base.startsWith('unix://') ? `${base}?db=99` : `${base.replace(/\/\d*$/, '')}/99`;
    const r = await runCli(['runs'], { REDIS_URL: url });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/REDIS_URL: Redis at .* refuses database 99 \(ERR DB index is out of range\)/);
  });
});
