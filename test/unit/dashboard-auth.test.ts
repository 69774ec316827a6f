import { describe, expect, it } from 'vitest';
import {
  bindRule,
  cookieValueFor,
  credentialOf,
  hostHeaderIsLoopback,
  isLoopbackHost,
  safeEqual,
  sameOrigin,
} from '../../src/dashboard/auth.ts';

const TOKEN = 'a-dashboard-token-of-32-chars!!!';

describe('dashboard: the bind rule', () => {
  it('knows loopback addresses from the rest', () => {
    for (const h of ['127.0.0.1', '127.0.0.2', '127.255.255.254', 'localhost', 'LOCALHOST', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) {
      expect(isLoopbackHost(h), h).toBe(true);
    }
    for (const h of ['0.0.0.0', '::', '10.0.0.5', '192.168.1.10', '128.0.0.1', 'example.com', 'localhost.example.com', '::ffff:10.0.0.1', '']) {
      expect(isLoopbackHost(h), h).toBe(false);
    }
  });

  it('runs open on loopback, and refuses anywhere else without a token', () => {
    expect(bindRule({ host: '127.0.0.1', token: null })).toEqual({ tokenRequired: false, problem: null });
    expect(bindRule({ host: '::1', token: null })).toEqual({ tokenRequired: false, problem: null });
    for (const host of ['0.0.0.0', '::', '10.1.2.3', 'dashboard.internal']) {
      const r = bindRule({ host, token: null });
      expect(r.problem, host).toMatch(/is not a loopback address.*GRANTSWEEP_DASHBOARD_TOKEN/);
      expect(bindRule({ host, token: TOKEN })).toEqual({ tokenRequired: true, problem: null });
    }
  });

  it('with --require-token, refuses loopback without a token too', () => {
    expect(bindRule({ host: '127.0.0.1', token: null, requireToken: true }).problem).toMatch(/--require-token/);
    expect(bindRule({ host: '127.0.0.1', token: TOKEN, requireToken: true })).toEqual({ tokenRequired: true, problem: null });
  });

  it('checks a token that was given, even on loopback, and refuses a short one', () => {
    expect(bindRule({ host: '127.0.0.1', token: TOKEN })).toEqual({ tokenRequired: true, problem: null });
    expect(bindRule({ host: '0.0.0.0', token: 'short' }).problem).toMatch(/at least 16 characters.*got 5/);
    expect(bindRule({ host: '0.0.0.0', token: 'short' }).problem).not.toContain('short');
  });
});

describe('dashboard: credentials', () => {
  it('compares tokens whatever their lengths', () => {
    expect(safeEqual(TOKEN, TOKEN)).toBe(true);
    expect(safeEqual(TOKEN.slice(0, -1), TOKEN)).toBe(false);
    expect(safeEqual(`${TOKEN}x`, TOKEN)).toBe(false);
    expect(safeEqual('', TOKEN)).toBe(false);
  });

  it('accepts a Bearer header or the derived cookie, nothing else', () => {
    expect(credentialOf(TOKEN, { authorization: `Bearer ${TOKEN}` })).toBe('bearer');
    expect(credentialOf(TOKEN, { authorization: `bearer ${TOKEN}` })).toBe('bearer');
    expect(credentialOf(TOKEN, { cookie: `x=1; grantsweep_dashboard=${cookieValueFor(TOKEN)}` })).toBe('cookie');
    expect(credentialOf(TOKEN, { cookie: `grantsweep_dashboard=${TOKEN}` })).toBe('none');
    expect(credentialOf(TOKEN, { cookie: `grantsweep_dashboard=${cookieValueFor('another-token-0123456')}` })).toBe('none');
    expect(credentialOf(TOKEN, { authorization: `Basic ${TOKEN}` })).toBe('none');
    expect(credentialOf(TOKEN, {})).toBe('none');
    expect(cookieValueFor(TOKEN)).not.toContain(TOKEN);
  });

  it('takes a POST as same-origin only when Origin (or Referer) names the host it was sent to', () => {
    expect(sameOrigin({ host: '127.0.0.1:3000', origin: 'http://127.0.0.1:3000' })).toBe(true);
    expect(sameOrigin({ host: 'dash.example:443', origin: 'https://dash.example:443' })).toBe(true);
    expect(sameOrigin({ host: '127.0.0.1:3000', referer: 'http://127.0.0.1:3000/?org=ab' })).toBe(true);
    expect(sameOrigin({ host: '127.0.0.1:3000', origin: 'http://127.0.0.1:3001' })).toBe(false);
    expect(sameOrigin({ host: '127.0.0.1:3000', origin: 'http://evil.example' })).toBe(false);
    expect(sameOrigin({ host: '127.0.0.1:3000', origin: 'null' })).toBe(false);
    expect(sameOrigin({ host: '127.0.0.1:3000' })).toBe(false);
    expect(sameOrigin({ origin: 'http://127.0.0.1:3000' })).toBe(false);
    // Origin wins over a Referer that would match.
    expect(sameOrigin({ host: '127.0.0.1:3000', origin: 'http://evil.example', referer: 'http://127.0.0.1:3000/' })).toBe(false);
  });

  it('accepts only loopback names in the Host header of an open dashboard', () => {
    expect(hostHeaderIsLoopback('127.0.0.1:3000')).toBe(true);
    expect(hostHeaderIsLoopback('localhost:3000')).toBe(true);
    expect(hostHeaderIsLoopback('[::1]:3000')).toBe(true);
    expect(hostHeaderIsLoopback('attacker.example:3000')).toBe(false);
    expect(hostHeaderIsLoopback(undefined)).toBe(false);
    expect(hostHeaderIsLoopback('bad host')).toBe(false);
  });
});

