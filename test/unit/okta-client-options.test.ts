import { afterEach, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.ts';
import { ApiTokenAuth } from '../../src/okta/auth.ts';
import { bucketFor, OktaClient } from '../../src/okta/client.ts';
import { InvalidIdError } from '../../src/okta/ids.ts';
import type { BucketName, GateLease, RequestDescriptor, RequestGate } from '../../src/okta/types.ts';

/** Counts acquires: a request that reaches the gate is a request about to be sent. */
class CountingGate implements RequestGate {
  acquired: RequestDescriptor[] = [];
  acquire(req: RequestDescriptor): Promise<GateLease> {
    this.acquired.push(req);
    return Promise.reject(new Error('test gate: no request may be sent'));
  }
}

const clients: OktaClient[] = [];
function client(orgUrl = 'https://example.okta.com', gate?: RequestGate) {
  const c = new OktaClient({ orgUrl, auth: new ApiTokenAuth('tok'), gate });
  clients.push(c);
  return c;
}
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

describe('OktaClient orgUrl', () => {
  it('accepts https and loopback http, normalised to the origin', () => {
    expect(client('https://example.okta.com/').orgUrl).toBe('https://example.okta.com');
    expect(client('http://localhost:8080').orgUrl).toBe('http://localhost:8080');
    expect(client('http://127.0.0.1:9').orgUrl).toBe('http://127.0.0.1:9');
    expect(client('http://[::1]:9').orgUrl).toBe('http://[::1]:9');
  });

  it.each([
    ['http://example.okta.com', /must use https/],
    ['http://127.0.0.2', /must use https/],
    ['ftp://example.okta.com', /must use https/],
    ['example.okta.com', /not a URL/],
    ['https://user:pw@example.okta.com', /user name or password/],
    ['https://example.okta.com/oauth2/default', /origin only/],
    ['https://example.okta.com?x=1', /origin only/],
  ])('refuses %s with a clear UsageError', (orgUrl, message) => {
    expect(() => client(orgUrl)).toThrow(UsageError);
    expect(() => client(orgUrl)).toThrow(message);
  });
});

describe('OktaClient argument checks happen before any request', () => {
  it('throws RangeError for a limit outside the endpoint range, and never reaches the gate', () => {
    const gate = new CountingGate();
    const c = client('https://example.okta.com', gate);
    expect(() => c.listUserGrants('00u1', { limit: 201 })).toThrow(RangeError);
    expect(() => c.listUserGrants('00u1', { limit: 0 })).toThrow(RangeError);
    expect(() => c.listUserClientGrants('00u1', '0oa1', { limit: 1.5 })).toThrow(RangeError);
    expect(() => c.listUsers({ limit: 201 })).toThrow(/listUsers: limit must be an integer from 1 to 200/);
    expect(() => c.listGroupUsers('00g1', { limit: 1001 })).toThrow(RangeError);
    expect(() => c.listAppUsers('0oa1', { limit: 501 })).toThrow(/from 1 to 500/);
    expect(gate.acquired).toEqual([]);
  });

  it('refuses crafted ids synchronously for lists and as a rejection for single calls, with no request', async () => {
    const gate = new CountingGate();
    const c = client('https://example.okta.com', gate);
    expect(() => c.listUserGrants('../apps')).toThrow(InvalidIdError);
    expect(() => c.listUserClientGrants('00u1', 'a/b')).toThrow(InvalidIdError);
    expect(() => c.listGroupUsers('x?y')).toThrow(InvalidIdError);
    await expect(c.revokeUserGrants('me')).rejects.toThrow(InvalidIdError);
    await expect(c.revokeUserGrant('00u1', '..')).rejects.toThrow(InvalidIdError);
    await expect(c.getUser('a%2Fb@example.com')).rejects.toThrow('login "a%2Fb@example.com": must not contain "%"');
    expect(gate.acquired).toEqual([]);
  });

  it('takes a search or a filter, not both, and refuses empty expressions', () => {
    const c = client();
    expect(() => c.listUsers({ search: 'status eq "ACTIVE"', filter: 'status eq "ACTIVE"' })).toThrow(UsageError);
    expect(() => c.listUsers({ search: '  ' })).toThrow(UsageError);
    expect(() => c.listUserGrants('00u1', { expand: 'user' as 'scope' })).toThrow(RangeError);
  });
});

describe('bucketFor', () => {
  it.each<[('GET' | 'DELETE'), string, BucketName]>([
    ['GET', '/api/v1/users', 'users-list'],
    ['GET', '/api/v1/users/00u1', 'user-get'],
    ['GET', '/api/v1/users/a%40b.c', 'user-get'],
    ['GET', '/api/v1/users/00u1/grants', 'user-grants'],
    ['DELETE', '/api/v1/users/00u1/grants/oag1', 'user-grants'],
    ['GET', '/api/v1/users/00u1/clients', 'user-grants'],
    ['DELETE', '/api/v1/users/00u1/clients/0oa1/grants', 'user-grants'],
    ['GET', '/api/v1/groups/00g1/users', 'groups'],
    ['GET', '/api/v1/apps/0oa1/users', 'apps'],
    ['DELETE', '/api/v1/users/00u1', 'other'],
    ['GET', '/api/v1/logs', 'other'],
    ['GET', '/oauth2/v1/token', 'other'],
  ])('%s %s → %s', (method, path, bucket) => {
    expect(bucketFor(method, path)).toBe(bucket);
  });
});
