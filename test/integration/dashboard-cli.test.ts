import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, spawnCli } from '../helpers/cli.ts';
import { redisUrl } from '../helpers/redis.ts';

const env = () => ({ REDIS_URL: redisUrl(), GRANTSWEEP_HOME: mkdtempSync(join(tmpdir(), 'gs-home-')) });
const TOKEN = 'cli-test-token-0123456789abcdef';

describe('grantsweep dashboard', () => {
  it('refuses to start on a non-loopback address without a token, before opening anything', async () => {
    const r = await runCli(['dashboard', '--host', '0.0.0.0', '--port', '0'], { ...env(), REDIS_URL: 'redis://127.0.0.1:1' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--host 0\.0\.0\.0 is not a loopback address.*GRANTSWEEP_DASHBOARD_TOKEN/);
  });

  it('refuses --require-token without a token, and a token too short to be a secret', async () => {
    const a = await runCli(['dashboard', '--require-token', '--port', '0'], env());
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/--require-token was given; set GRANTSWEEP_DASHBOARD_TOKEN/);
    const b = await runCli(['dashboard', '--host', '0.0.0.0', '--port', '0'], { ...env(), GRANTSWEEP_DASHBOARD_TOKEN: 'hunter2' });
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/at least 16 characters/);
    expect(b.stderr).not.toContain('hunter2');
    const c = await runCli(['dashboard', '--port', '70000'], env());
    expect(c.code).toBe(2);
    expect(c.stderr).toMatch(/--port: expected a port in 0\.\.65535/);
    // A host name that does not resolve: said, exit 2, not a stack.
    const d = await runCli(['dashboard', '--host', 'nosuch.invalid', '--port', '0'], { ...env(), GRANTSWEEP_DASHBOARD_TOKEN: TOKEN });
    expect(d.code, d.stderr).toBe(2);
    expect(d.stderr).toMatch(/--host\/--port: nosuch\.invalid is not a name this machine can resolve/);
    expect(d.stderr).not.toMatch(/unexpected error/);
    // A bad OKTA_ORG_URL is named, as by any command, rather than silently ignored.
    const e = await runCli(['dashboard', '--port', '0'], { ...env(), OKTA_ORG_URL: 'ftp://org.example' });
    expect(e.code, e.stderr).toBe(2);
    expect(e.stderr).toContain('OKTA_ORG_URL: must be https');
  });

  it('serves with GRANTSWEEP_DASHBOARD_TOKEN and --require-token: 401 without it, 200 with it; exits 0 on SIGTERM', async () => {
    const p = spawnCli(['dashboard', '--port', '0', '--require-token'], { ...env(), GRANTSWEEP_DASHBOARD_TOKEN: TOKEN });
    try {
      let url: string | undefined;
      while (!url) {
        url = /dashboard at (http:\/\/127\.0\.0\.1:\d+)\//.exec(p.output().stderr)?.[1];
        if (p.child.exitCode !== null) throw new Error(`dashboard exited: ${p.output().stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(p.output().stderr).toContain('token required');
      expect(p.output().stderr).not.toContain(TOKEN);
      expect((await fetch(`${url}/`)).status).toBe(401);
      const ok = await fetch(`${url}/`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain('<title>grantsweep · runs</title>');
    } finally {
      p.child.kill('SIGTERM');
    }
    const done = await p.done;
    expect(done.code).toBe(0);
  });
});
