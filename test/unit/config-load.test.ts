import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.ts';
import { ConfigError, loadConfig } from '../../config/load.ts';

const ORG = { OKTA_ORG_URL: 'https://example.okta.com' };
const TOKEN = { ...ORG, OKTA_API_TOKEN: '00abcDEFtoken' };

/** The problem lines of the ConfigError that loadConfig throws. */
function problems(opts: Parameters<typeof loadConfig>[0]): string[] {
  try {
    loadConfig(opts);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).exitCode).toBe(2);
    return (err as Error).message.split('\n');
  }
  throw new Error('loadConfig did not throw');
}

describe('loadConfig: layers', () => {
  it('gives the defaults when nothing is set, with home resolved against cwd', () => {
    expect(loadConfig({ env: {}, cwd: '/srv/app' })).toEqual({
      orgUrl: null,
      credentials: null,
      redisUrl: null,
      home: '/srv/app/.grantsweep',
      logLevel: 'info',
      concurrency: 8,
      rateShare: 0.5,
      pacing: 'even',
      maxInFlight: 10,
      requestTimeoutMs: 10_000,
      attempts: 5,
      maxRateLimitDeferrals: 50,
      rateWindowMs: 60_000,
      lockDurationMs: 30_000,
      redisOutageMs: null,
      principalShareRefreshMs: 3_600_000,
      scheduleOverlapMs: 60_000,
      proxy: null,
      runId: null,
    });
  });

  it('lets the environment override defaults and flags override the environment', () => {
    const c = loadConfig({
      env: { LOG_LEVEL: 'debug', REDIS_URL: 'redis://env:6379', GRANTSWEEP_HOME: '/env/home' },
      flags: { logLevel: 'trace', home: 'rel' },
      cwd: '/work',
    });
    expect(c.logLevel).toBe('trace');
    expect(c.redisUrl).toBe('redis://env:6379');
    expect(c.home).toBe('/work/rel');
  });

  it('takes the pacing from GRANTSWEEP_PACING or --pacing, and names the source of a bad one', () => {
    expect(loadConfig({ env: { GRANTSWEEP_PACING: 'Window' } }).pacing).toBe('window');
    expect(loadConfig({ env: { GRANTSWEEP_PACING: 'window' }, flags: { pacing: 'even' } }).pacing).toBe('even');
    expect(problems({ env: { GRANTSWEEP_PACING: 'burst' } })).toEqual(['GRANTSWEEP_PACING: expected one of even, window, got "burst"']);
    expect(problems({ env: {}, flags: { pacing: 'fast' } })).toEqual(['--pacing: expected one of even, window, got "fast"']);
  });

  it('takes GRANTSWEEP_PRINCIPAL_SHARE_REFRESH_MS, and names a bad one', () => {
    expect(loadConfig({ env: { GRANTSWEEP_PRINCIPAL_SHARE_REFRESH_MS: '60000' } }).principalShareRefreshMs).toBe(60_000);
    expect(problems({ env: { GRANTSWEEP_PRINCIPAL_SHARE_REFRESH_MS: '500' } })).toEqual(['GRANTSWEEP_PRINCIPAL_SHARE_REFRESH_MS: expected an integer in 1000..86400000, got 500']);
  });

  it('takes GRANTSWEEP_MAX_RATE_LIMIT_DEFERRALS and GRANTSWEEP_SCHEDULE_OVERLAP_MS, and names bad ones', () => {
    expect(loadConfig({ env: { GRANTSWEEP_MAX_RATE_LIMIT_DEFERRALS: '7', GRANTSWEEP_SCHEDULE_OVERLAP_MS: '0' } })).toMatchObject({ maxRateLimitDeferrals: 7, scheduleOverlapMs: 0 });
    expect(loadConfig({ env: {} })).toMatchObject({ maxRateLimitDeferrals: 50, scheduleOverlapMs: 60_000 });
    expect(problems({ env: { GRANTSWEEP_MAX_RATE_LIMIT_DEFERRALS: '-1', GRANTSWEEP_SCHEDULE_OVERLAP_MS: '1h' } })).toEqual([
      'GRANTSWEEP_MAX_RATE_LIMIT_DEFERRALS: expected an integer in 0..10000, got -1',
      'GRANTSWEEP_SCHEDULE_OVERLAP_MS: expected an integer in 0..86400000, got "1h"',
    ]);
  });

  it('takes GRANTSWEEP_REDIS_OUTAGE_MS (0: wait for ever; unset: the command decides), and names a bad one', () => {
    expect(loadConfig({ env: { GRANTSWEEP_REDIS_OUTAGE_MS: '60000' } }).redisOutageMs).toBe(60_000);
    expect(loadConfig({ env: { GRANTSWEEP_REDIS_OUTAGE_MS: '0' } }).redisOutageMs).toBe(0);
    expect(problems({ env: { GRANTSWEEP_REDIS_OUTAGE_MS: '5m' } })).toEqual(['GRANTSWEEP_REDIS_OUTAGE_MS: expected an integer in 0..86400000, got "5m"']);
    expect(problems({ env: { GRANTSWEEP_REDIS_OUTAGE_MS: '-1' } })).toEqual(['GRANTSWEEP_REDIS_OUTAGE_MS: expected an integer in 0..86400000, got -1']);
  });

  it('coerces numeric flags that commander passes as strings', () => {
    const c = loadConfig({
      env: {},
      flags: { concurrency: '12', rateShare: '0.25', maxInFlight: ' 20 ', requestTimeoutMs: '2500', attempts: 3, maxRateLimitDeferrals: '0', runId: 'nightly-2024.01_a' },
    });
    expect(c).toMatchObject({ concurrency: 12, rateShare: 0.25, maxInFlight: 20, requestTimeoutMs: 2500, attempts: 3, maxRateLimitDeferrals: 0, runId: 'nightly-2024.01_a' });
  });

  it('ignores flags that are not settings (commander passes every option of the command)', () => {
    const c = loadConfig({ env: {}, flags: { csv: 'x.csv', skipInvalid: true, clientId: '0oaTarget', concurrency: undefined } });
    expect(c.concurrency).toBe(8);
    expect(c.credentials).toBeNull();
  });

  it('treats an empty or blank environment variable as unset', () => {
    expect(loadConfig({ env: { LOG_LEVEL: '', REDIS_URL: '   ' } })).toMatchObject({ logLevel: 'info', redisUrl: null });
  });

  it('reads neither Okta URL nor credentials when the command does not need them', () => {
    const c = loadConfig({ env: { OKTA_ORG_URL: 'http://bad.example', OKTA_API_TOKEN: 'a b', REDIS_URL: 'redis://r:6379' } });
    expect(c.orgUrl).toBeNull();
    expect(c.credentials).toBeNull();
    expect(c.redisUrl).toBe('redis://r:6379');
  });

  it('returns an API token credential for a run', () => {
    const c = loadConfig({ env: TOKEN, need: { okta: true, credentials: true } });
    expect(c.orgUrl).toBe('https://example.okta.com');
    expect(c.credentials).toEqual({ kind: 'apiToken', apiToken: '00abcDEFtoken' });
  });

  it('returns a private key credential, taking keyId from the JWK when OKTA_KEY_ID is unset', () => {
    const jwk = { ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }), kid: 'kid-1' };
    const c = loadConfig({ env: { ...ORG, OKTA_CLIENT_ID: '0oaService', OKTA_PRIVATE_KEY: JSON.stringify(jwk) }, need: { credentials: true } });
    expect(c.credentials).toMatchObject({ kind: 'privateKey', clientId: '0oaService', keyId: 'kid-1' });
  });
});

describe('loadConfig: problems', () => {
  it('reports every problem at once, each named by the variable or flag it came from', () => {
    expect(
      problems({
        env: { OKTA_ORG_URL: 'http://example.com', LOG_LEVEL: 'verbose' },
        flags: { rateShare: '1.5', concurrency: '0', runId: 'has space' },
        need: { okta: true, credentials: true },
      }),
    ).toEqual([
      'OKTA_ORG_URL: must be https (plain http only for localhost, 127.0.0.1 or [::1]), got http://example.com',
      'LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent, got "verbose"',
      '--concurrency: expected an integer in 1..75, got 0',
      '--rate-share: expected a number in (0, 1], got 1.5',
      '--run-id: expected 1 to 64 of A-Z a-z 0-9 _ . -, got "has space"',
      'OKTA_API_TOKEN or OKTA_CLIENT_ID with OKTA_PRIVATE_KEY/OKTA_PRIVATE_KEY_FILE: one is required',
    ]);
  });

  it.each([
    [{ concurrency: '76' }, '--concurrency: expected an integer in 1..75, got 76'],
    [{ concurrency: '2.5' }, '--concurrency: expected an integer in 1..75, got 2.5'],
    [{ concurrency: 'eight' }, '--concurrency: expected an integer in 1..75, got "eight"'],
    [{ concurrency: '' }, '--concurrency: expected an integer in 1..75, got ""'],
    [{ concurrency: '0x10' }, '--concurrency: expected an integer in 1..75, got "0x10"'],
    [{ rateShare: '0' }, '--rate-share: expected a number in (0, 1], got 0'],
    [{ rateShare: 'NaN' }, '--rate-share: expected a number in (0, 1], got "NaN"'],
    [{ maxInFlight: 100 }, '--max-in-flight: expected an integer in 1..75, got 100'],
    [{ requestTimeoutMs: '50' }, '--request-timeout-ms: expected an integer in 100..600000, got 50'],
    [{ attempts: '0' }, '--attempts: expected an integer in 1..20, got 0'],
    [{ maxRateLimitDeferrals: '-1' }, '--max-rate-limit-deferrals: expected an integer in 0..10000, got -1'],
    [{ runId: 'x'.repeat(65) }, expect.stringMatching(/^--run-id: expected 1 to 64 of/)],
    [{ runId: 'a/b' }, '--run-id: expected 1 to 64 of A-Z a-z 0-9 _ . -, got "a/b"'],
  ])('refuses the flags %j', (flags, message) => {
    expect(problems({ env: {}, flags })).toEqual([message]);
  });

  it('requires OKTA_ORG_URL for a command that talks to Okta', () => {
    expect(problems({ env: {}, need: { okta: true } })).toEqual(['OKTA_ORG_URL: required for this command; expected https://<your-org>.okta.com']);
  });

  it('refuses secrets given as flags and says which variable to use', () => {
    expect(problems({ env: TOKEN, flags: { apiToken: 'x' }, need: { credentials: true } })).toEqual([
      '--api-token: secrets are not accepted as flags (they show in ps and shell history); set OKTA_API_TOKEN',
    ]);
  });
});

describe('loadConfig: a proxy to Okta', () => {
  it('reads HTTPS_PROXY, HTTP_PROXY and NO_PROXY, upper case before lower case, for commands that talk to Okta', () => {
    const c = loadConfig({ env: { ...TOKEN, https_proxy: 'http://proxy.corp:3128', HTTP_PROXY: 'http://u:p%40ss@proxy.corp:8080', no_proxy: '.internal,10.0.0.0/8' }, need: { credentials: true } });
    expect(c.proxy).toEqual({ httpsProxy: 'http://proxy.corp:3128', httpProxy: 'http://u:p%40ss@proxy.corp:8080', noProxy: '.internal,10.0.0.0/8' });
    const upper = loadConfig({ env: { ...TOKEN, HTTPS_PROXY: 'https://a.corp:443', https_proxy: 'http://b.corp:3128' }, need: { credentials: true } });
    expect(upper.proxy?.httpsProxy).toBe('https://a.corp:443');
  });

  it('is null without a proxy URL (NO_PROXY alone changes nothing), and not read by commands that do not call Okta', () => {
    expect(loadConfig({ env: { ...TOKEN, NO_PROXY: 'localhost' }, need: { credentials: true } }).proxy).toBeNull();
    expect(loadConfig({ env: { HTTPS_PROXY: 'socks5://x:1080' } }).proxy).toBeNull();
  });

  it('refuses a proxy that is not an http(s) origin, naming the variable and never its password', () => {
    const lines = problems({ env: { ...TOKEN, HTTPS_PROXY: 'socks5://user:hunter2@proxy.corp:1080', http_proxy: 'http://user:hunter2@proxy.corp:3128/path' }, need: { credentials: true } });
    expect(lines).toEqual([
      'HTTPS_PROXY: must be an http:// or https:// proxy, got socks5://proxy.corp:1080',
      'http_proxy: must be the proxy\'s origin only, got "http://***@proxy.corp:3128/path"',
    ]);
    expect(lines.join('\n')).not.toContain('hunter2');
  });

  it("refuses a proxy whose password is not valid percent-encoding (the proxy agent threw on it, after the run was stored)", () => {
    const lines = problems({ env: { ...TOKEN, HTTP_PROXY: 'http://user:Pa%ZZhunter2@127.0.0.1:3128' }, need: { credentials: true } });
    expect(lines).toEqual(['HTTP_PROXY: its password is not valid percent-encoding (a "%" must be followed by two hex digits; write %25 for a "%" of its own)']);
  });

  it("refuses a GRANTSWEEP_ variable a letter or two from a setting's name (a typo would leave the default in force)", () => {
    expect(problems({ env: { GRANTSWEEP_RATESHARE: '0.1', GRANTSWEEP_CONCURENCY: '2', GRANTSWEEP_NOSUCH: 'x', GRANTSWEEP_EMPTY: '' } })).toEqual([
      'GRANTSWEEP_RATESHARE: no setting has this name: did you mean GRANTSWEEP_RATE_SHARE? (every setting is listed in the README, under Configuration)',
      'GRANTSWEEP_CONCURENCY: no setting has this name: did you mean GRANTSWEEP_CONCURRENCY? (every setting is listed in the README, under Configuration)',
    ]);
    // What a platform sets for a Service named grantsweep is left alone, however near a setting.
    expect(() => loadConfig({ env: { GRANTSWEEP_PORT: 'tcp://10.0.0.1:3000', GRANTSWEEP_SERVICE_HOST: '10.0.0.1', GRANTSWEEP_HOME_PORT_3000_TCP_ADDR: '10.0.0.2', GRANTSWEEP_PACING_SERVICE_PORT: '80' } })).not.toThrow();
    // The dashboard's token and the image's health check are read by name elsewhere.
    expect(() => loadConfig({ env: { GRANTSWEEP_DASHBOARD_TOKEN: 't', GRANTSWEEP_HEALTHCHECK_URL: 'http://127.0.0.1:3000/healthz', GRANTSWEEP_RATE_SHARE: '0.1' } })).not.toThrow();
  });

  it('describes the proxy with its credentials masked', async () => {
    const { describeConfig } = await import('../../config/load.ts');
    const c = loadConfig({ env: { ...TOKEN, HTTPS_PROXY: 'http://user:hunter2@proxy.corp:3128' }, need: { credentials: true } });
    expect(describeConfig(c).proxy).toEqual({ httpsProxy: 'http://***@proxy.corp:3128', httpProxy: null, noProxy: null });
    expect(JSON.stringify(describeConfig(c))).not.toContain('hunter2');
  });
});
