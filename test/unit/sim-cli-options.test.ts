import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.ts';
import { parseSimFlags } from '../../src/sim/cli-options.ts';

describe('grantsweep sim flag parsing', () => {
  it('turns string flags into simulator options', () => {
    const plan = parseSimFlags({
      port: '0', users: '250', seed: '9', grantsPerUser: '2-6', rateLimit: 'user-grants=60,users-list=10',
      windowSec: '1', concurrencyLimit: '4', perTokenShare: '0.5', noisyNeighbour: '0.3', errorRate: '0.1', latencyMs: '5',
    });
    expect(plan.options).toMatchObject({
      port: 0, users: 250, seed: 9, grantsPerUser: [2, 6], rateLimits: { 'user-grants': 60, 'users-list': 10 }, windowSec: 1,
      concurrencyLimit: 4, perTokenShare: 0.5, noisyNeighbour: { share: 0.3 }, faults: { errorRate: 0.1, latencyMs: 5 },
    });
    expect(plan.csv).toBeUndefined();
  });

  it('maps --no-rate-limit to unlimited buckets and --write-csv to a CSV plan', () => {
    const plan = parseSimFlags({ rateLimit: false, writeCsv: '/tmp/x.csv', count: '7' });
    expect(plan.options.rateLimits).toBe('none');
    expect(plan.csv).toEqual({ file: '/tmp/x.csv', count: 7 });
  });

  it('reads the OAuth public key from a PEM file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gs-sim-cli-'));
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const file = join(dir, 'pub.pem');
    writeFileSync(file, publicKey.export({ format: 'pem', type: 'spki' }));
    const plan = parseSimFlags({ oauthClientId: '0oaservice', oauthPublicKeyFile: file });
    expect(plan.options.oauthClients?.[0]).toMatchObject({ clientId: '0oaservice', publicJwk: { kty: 'EC', crv: 'P-256' } });
  });

  it.each([
    [{ users: 'many' }, '--users'],
    [{ port: '70000' }, '--port'],
    [{ errorRate: '1.5' }, '--error-rate'],
    [{ rateLimit: 'grants=5' }, '--rate-limit'],
    [{ rateLimit: 'apps=x' }, '--rate-limit apps'],
    [{ perTokenShare: '0' }, '--per-token-share'],
    [{ oauthClientId: '0oa1' }, '--oauth-client-id'],
    [{ oauthClientId: '0oa1', oauthPublicKeyFile: '/nonexistent/key.pem' }, '--oauth-public-key-file'],
    [{ count: '5' }, '--count'],
    [{ grantsPerUser: '5-2' }, '--grants-per-user'],
    [{ grantsPerUser: '3-500' }, '--grants-per-user'],
    // Node's timers fire at once beyond 2^31-1 ms: a latency that large would be none.
    [{ latencyMs: '1e12' }, '--latency-ms'],
    [{ slowMs: '3600001' }, '--slow-ms'],
    [{ windowSec: '1e9' }, '--window-sec'],
  ])('rejects %j with a UsageError naming %s', (flags, flag) => {
    let caught: unknown;
    try {
      parseSimFlags(flags);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(UsageError);
    expect((caught as UsageError).exitCode).toBe(2);
    expect((caught as Error).message.startsWith(flag)).toBe(true);
    expect((caught as Error).message).not.toContain('\n');
  });
});
