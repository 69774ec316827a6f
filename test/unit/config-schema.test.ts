import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../config/defaults.ts';
import { configSchema, orgUrlSchema, redisUrlSchema } from '../../config/schema.ts';
import { maskRedisUrl } from '../../src/redis/redis-url.ts';

const messages = (r: { success: boolean; error?: { issues: { message: string }[] } }) => r.error?.issues.map((i) => i.message) ?? [];

describe('orgUrlSchema', () => {
  it.each([
    ['https://example.okta.com/', 'https://example.okta.com'],
    ['https://Example.OKTA.com', 'https://example.okta.com'],
    ['https://example.okta.com:8443', 'https://example.okta.com:8443'],
    ['http://localhost:8080/', 'http://localhost:8080'],
    ['http://127.0.0.1:9', 'http://127.0.0.1:9'],
    ['http://[::1]:3000', 'http://[::1]:3000'],
  ])('normalises %s to %s', (input, origin) => {
    expect(orgUrlSchema.parse(input)).toBe(origin);
  });

  it.each([
    ['http://example.com', 'must be https (plain http only for localhost, 127.0.0.1 or [::1]), got http://example.com'],
    ['https://example.okta.com/oauth2/default', "must be the org's base URL without a path or query (like https://example.okta.com), got \"https://example.okta.com/oauth2/default\""],
    ['https://example.okta.com/?x=1', expect.stringMatching(/without a path or query/)],
    // A URL copied from a browser may carry a token in its query or fragment: never echoed.
    ['https://example.okta.com/app/x?token=S3CRETtok#id_token=S3CRETid', "must be the org's base URL without a path or query (like https://example.okta.com), got \"https://example.okta.com/app/x?…#…\""],
    ['example.okta.com', 'expected a URL like https://example.okta.com, got "example.okta.com"'],
    ['https://admin:hunter2@example.okta.com', 'must not contain a user name or password'],
  ])('refuses %s', (input, message) => {
    expect(messages(orgUrlSchema.safeParse(input))).toEqual([message]);
  });
});

describe('redisUrlSchema', () => {
  it.each([
    'redis://localhost:6379',
    'rediss://:pw@cache.example:6380/2',
    'unix:///var/run/redis.sock',
    'redis-cluster://10.0.0.1:7000,10.0.0.2:7000,10.0.0.3:7000',
    'rediss-cluster://user:pw@[::1]:7000',
  ])('accepts %s', (url) => {
    expect(redisUrlSchema.parse(url)).toBe(url);
  });

  it.each([
    ['http://localhost:6379', 'must start with redis://, rediss://, redis-cluster:// or unix://, got http://'],
    ['redis-cluster://10.0.0.1:7000,10.0.0.2:99999', expect.stringMatching(/^"10\.0\.0\.2:99999" is not host:port/)],
    ['redis-cluster://', 'expected redis-cluster://host:port,host:port,… for a Redis Cluster'],
    ['unix://', 'expected unix:///path/to/redis.sock, got a unix:// URL with no path'],
    ['localhost:6379', expect.stringMatching(/^must start with redis:\/\//)],
    ['redis:///0', 'names no host, got "redis:///0"'],
  ])('refuses %s', (url, message) => {
    expect(messages(redisUrlSchema.safeParse(url))).toEqual([message]);
  });

  it('masks the password in a Redis URL', () => {
    expect(maskRedisUrl('redis://user:s3cret@host:6379/0')).toBe('redis://user:***@host:6379/0');
    expect(maskRedisUrl('rediss://:s3cret@host')).toBe('rediss://:***@host');
    expect(maskRedisUrl('redis://host:6379')).toBe('redis://host:6379');
    expect(maskRedisUrl('redis://:p@ss@host:6379')).toBe('redis://:***@host:6379');
    // A password with no user and no ":" (the cluster form takes one): masked whole.
    expect(maskRedisUrl('redis-cluster://S3cretClusterPW@127.0.0.1:7120,127.0.0.1:7121')).toBe('redis-cluster://***@127.0.0.1:7120,127.0.0.1:7121');
    expect(maskRedisUrl('redis://S3cret@host:6379')).toBe('redis://***@host:6379');
    expect(maskRedisUrl('redis-cluster://user:S3cret@h1:1,h2:2')).toBe('redis-cluster://user:***@h1:1,h2:2');
    expect(maskRedisUrl('redis-cluster://u:s3cret@h1:7000,h2:7000')).toBe('redis-cluster://u:***@h1:7000,h2:7000');
    // A scheme in capitals connects too (schemes are case-insensitive).
    expect(maskRedisUrl('REDIS://:S3cret@host:6379/0')).toBe('REDIS://:***@host:6379/0');
    expect(maskRedisUrl('Rediss://u:S3cret@host')).toBe('Rediss://u:***@host');
    expect(maskRedisUrl('REDIS://S3cret@host')).toBe('REDIS://***@host');
    expect(maskRedisUrl('unix:///tmp/a@b.sock')).toBe('unix:///tmp/a@b.sock');
  });
});

describe('configSchema', () => {
  it('describes every key (the text `config print --help` and the README draw on)', () => {
    for (const [key, schema] of Object.entries(configSchema.shape)) {
      expect(schema.description, key).toMatch(/\S/);
    }
  });

  it('accepts its own defaults, which are frozen', () => {
    expect(configSchema.parse(DEFAULTS)).toEqual(DEFAULTS);
    expect(Object.isFrozen(DEFAULTS)).toBe(true);
  });
});
