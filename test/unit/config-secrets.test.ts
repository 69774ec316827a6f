import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { describeConfig, loadConfig } from '../../config/load.ts';

const tmp = mkdtempSync(join(tmpdir(), 'gs-secrets-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const SECRET = 'S3CRETvalue';
const ORG = { OKTA_ORG_URL: 'https://example.okta.com' };
const need = { okta: true, credentials: true } as const;

/** Everything a user could see when loading fails: the message, the stack, the inspected error. */
function failureText(env: Record<string, string>, flags: Record<string, unknown> = {}): string {
  try {
    loadConfig({ env, flags, need });
  } catch (err) {
    return `${(err as Error).message}\n${(err as Error).stack}\n${inspect(err, { depth: 5 })}\n${JSON.stringify(err)}`;
  }
  throw new Error('loadConfig did not throw');
}

describe('secrets never appear in configuration errors', () => {
  const rsaPem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const keyBody = rsaPem.split('\n')[1]!; // a line of real key material

  it.each([
    ['a token with a space in it', { ...ORG, OKTA_API_TOKEN: `${SECRET} tail` }],
    ['a token next to a client id', { ...ORG, OKTA_API_TOKEN: SECRET, OKTA_CLIENT_ID: '0oa1' }],
    ['a token with a bad org URL', { OKTA_ORG_URL: 'http://x.example', OKTA_API_TOKEN: SECRET }],
    ['garbage as the private key', { ...ORG, OKTA_CLIENT_ID: '0oa1', OKTA_PRIVATE_KEY: `-----BEGIN PRIVATE KEY-----\n${SECRET}\n-----END PRIVATE KEY-----` }],
    ['a truncated JWK', { ...ORG, OKTA_CLIENT_ID: '0oa1', OKTA_PRIVATE_KEY: `{"kty":"RSA","d":"${SECRET}` }],
    ['a key without a client id', { ...ORG, OKTA_PRIVATE_KEY: SECRET }],
    ['a password in the org URL', { OKTA_ORG_URL: `https://admin:${SECRET}@example.okta.com`, OKTA_API_TOKEN: 't' }],
    ['a password in a Redis URL with the wrong scheme', { ...ORG, OKTA_API_TOKEN: 't', REDIS_URL: `http://:${SECRET}@host:6379` }],
    ['a token pasted into OKTA_ORG_URL', { OKTA_ORG_URL: SECRET, OKTA_API_TOKEN: 't' }],
    ['a password with an unencoded @ in a Redis URL', { ...ORG, OKTA_API_TOKEN: 't', REDIS_URL: `http://:x@${SECRET}@host:6379` }],
    ['a password in an unparseable Redis URL', { ...ORG, OKTA_API_TOKEN: 't', REDIS_URL: `redis://:${SECRET}@[bad` }],
  ])('%s', (_, env) => {
    const text = failureText(env);
    expect(text).not.toContain(SECRET);
  });

  it('a damaged real key (no key material in the message)', () => {
    const damaged = rsaPem.replace(keyBody, `${keyBody.slice(0, 20)}!!${keyBody.slice(22)}`);
    const text = failureText({ ...ORG, OKTA_CLIENT_ID: '0oa1', OKTA_PRIVATE_KEY: damaged });
    expect(text).toContain('OKTA_PRIVATE_KEY: does not parse as a PEM or JWK private key');
    expect(text).not.toContain(keyBody.slice(22, 50));
  });

  it('a key file that holds something else', () => {
    const path = join(tmp, 'not-a-key.txt');
    writeFileSync(path, `password=${SECRET}\n`);
    const text = failureText({ ...ORG, OKTA_CLIENT_ID: '0oa1', OKTA_PRIVATE_KEY_FILE: path });
    expect(text).toContain(`OKTA_PRIVATE_KEY_FILE: does not parse as a PEM or JWK private key`);
    expect(text).not.toContain(SECRET);
  });

  it('a token given as a flag', () => {
    const text = failureText({ ...ORG, OKTA_API_TOKEN: 't' }, { apiToken: SECRET });
    expect(text).toContain('--api-token: secrets are not accepted as flags');
    expect(text).not.toContain(SECRET);
  });
});

describe('describeConfig masks secrets', () => {
  it('shows an API token as ***', () => {
    const config = loadConfig({ env: { ...ORG, OKTA_API_TOKEN: SECRET, REDIS_URL: `redis://u:${SECRET}@host:6379` }, need });
    const shown = describeConfig(config);
    expect(shown.credentials).toEqual({ kind: 'apiToken', apiToken: '***' });
    expect(shown.redisUrl).toBe('redis://u:***@host:6379');
    expect(JSON.stringify(shown)).not.toContain(SECRET);
    expect(inspect(shown, { depth: 10 })).not.toContain(SECRET);
  });

  it('shows a private key as *** and keeps the non-secret client id and key id', () => {
    const jwk = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
    const config = loadConfig({
      env: { ...ORG, OKTA_CLIENT_ID: '0oaService', OKTA_PRIVATE_KEY: JSON.stringify(jwk), OKTA_KEY_ID: 'kid-7' },
      need,
    });
    const shown = describeConfig(config);
    expect(shown.credentials).toEqual({ kind: 'privateKey', clientId: '0oaService', privateKey: '***', keyId: 'kid-7' });
    expect(JSON.stringify(shown)).not.toContain(jwk.d!);
  });

  it('lists every setting of the config', () => {
    const config = loadConfig({ env: {} });
    expect(Object.keys(describeConfig(config)).sort()).toEqual(Object.keys(config).sort());
  });
});
