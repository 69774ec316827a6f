import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { unescapeKeyNewlines } from '../../src/okta/private-key.ts';
import {
  credentialsExactlyOneWay,
  keyIdMatchesJwk,
  orgUrlNotAdminConsole,
  privateKeyParses,
  readPrivateKeyFile,
  requiredForCommand,
} from '../../config/rules.ts';

const tmp = mkdtempSync(join(tmpdir(), 'gs-rules-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const pkcs8 = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

describe('credentialsExactlyOneWay', () => {
  it.each([
    [{ OKTA_API_TOKEN: 't' }],
    [{ OKTA_CLIENT_ID: 'c', OKTA_PRIVATE_KEY: 'k' }],
    [{ OKTA_CLIENT_ID: 'c', OKTA_PRIVATE_KEY_FILE: '/k.pem', OKTA_KEY_ID: 'kid' }],
  ])('accepts %j', (env) => {
    expect(credentialsExactlyOneWay(env)).toEqual([]);
  });

  it('asks for one way when none is set', () => {
    expect(credentialsExactlyOneWay({})).toEqual([
      { name: 'OKTA_API_TOKEN or OKTA_CLIENT_ID with OKTA_PRIVATE_KEY/OKTA_PRIVATE_KEY_FILE', message: 'one is required' },
    ]);
  });

  it('refuses a token together with a service app, naming every variable that is set', () => {
    expect(credentialsExactlyOneWay({ OKTA_API_TOKEN: 't', OKTA_CLIENT_ID: 'c', OKTA_PRIVATE_KEY_FILE: 'f' })).toEqual([
      { name: 'OKTA_API_TOKEN, OKTA_CLIENT_ID, OKTA_PRIVATE_KEY_FILE', message: expect.stringMatching(/^both ways to authenticate are set/) },
    ]);
  });

  it('asks for the key when only the client id is set', () => {
    expect(credentialsExactlyOneWay({ OKTA_CLIENT_ID: 'c' })).toEqual([
      { name: 'OKTA_PRIVATE_KEY or OKTA_PRIVATE_KEY_FILE', message: 'required with OKTA_CLIENT_ID' },
    ]);
  });

  it('asks for the client id when only a key is set', () => {
    expect(credentialsExactlyOneWay({ OKTA_PRIVATE_KEY: 'k' })).toEqual([{ name: 'OKTA_CLIENT_ID', message: 'required with OKTA_PRIVATE_KEY' }]);
  });

  it('refuses the key given both inline and as a file', () => {
    expect(credentialsExactlyOneWay({ OKTA_CLIENT_ID: 'c', OKTA_PRIVATE_KEY: 'k', OKTA_PRIVATE_KEY_FILE: 'f' })).toEqual([
      { name: 'OKTA_PRIVATE_KEY, OKTA_PRIVATE_KEY_FILE', message: 'both are set; give the private key one way' },
    ]);
  });
});

describe('readPrivateKeyFile', () => {
  it('reads a key file', () => {
    const path = join(tmp, 'key.pem');
    writeFileSync(path, pkcs8);
    expect(readPrivateKeyFile(path)).toEqual({ text: pkcs8 });
  });

  it('names a missing file', () => {
    expect(readPrivateKeyFile(join(tmp, 'none.pem'))).toEqual({ problem: { name: 'OKTA_PRIVATE_KEY_FILE', message: `no such file: ${join(tmp, 'none.pem')}` } });
  });

  it('refuses a directory', () => {
    expect(readPrivateKeyFile(tmp)).toEqual({ problem: { name: 'OKTA_PRIVATE_KEY_FILE', message: `${tmp} is a directory, not a key file` } });
  });

  it('reads a device or a pipe only up to the bound: /dev/zero is refused, not read for ever', () => {
    expect(readPrivateKeyFile('/dev/zero')).toEqual({ problem: { name: 'OKTA_PRIVATE_KEY_FILE', message: '/dev/zero gave more than 65536 bytes; a private key file is a few KB' } });
    expect(readPrivateKeyFile('/dev/null')).toEqual({ text: '' });
    // The bound itself is a size a file may have.
    const path = join(tmp, 'exact.pem');
    writeFileSync(path, Buffer.alloc(65_536, 'k'));
    expect(readPrivateKeyFile(path)).toEqual({ text: 'k'.repeat(65_536) });
  });

  it('refuses a file too large to be a key without reading it', () => {
    const path = join(tmp, 'big.log');
    writeFileSync(path, Buffer.alloc(70_000, 'a'));
    expect(readPrivateKeyFile(path)).toEqual({ problem: { name: 'OKTA_PRIVATE_KEY_FILE', message: `${path} is 70000 bytes; a private key file is a few KB` } });
  });
});

describe('unescapeKeyNewlines', () => {
  it('turns literal \\n of a one-line PEM into line breaks', () => {
    expect(unescapeKeyNewlines(pkcs8.replaceAll('\n', '\\n'))).toBe(pkcs8);
  });
  it('leaves a PEM with real line breaks alone', () => {
    expect(unescapeKeyNewlines(pkcs8)).toBe(pkcs8);
  });
});

describe('privateKeyParses', () => {
  const ok = (text: string) => privateKeyParses(text, 'OKTA_PRIVATE_KEY');
  const problem = (text: string) => {
    const r = ok(text);
    expect(r).toHaveProperty('problem');
    return 'problem' in r ? r.problem : null;
  };

  it('accepts RSA keys as PKCS#8 PEM, PKCS#1 PEM and JWK (with its kid)', () => {
    expect(ok(pkcs8)).toEqual({ kid: null });
    expect(ok(rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string)).toEqual({ kid: null });
    expect(ok(JSON.stringify({ ...rsa.privateKey.export({ format: 'jwk' }), kid: 'k1' }))).toEqual({ kid: 'k1' });
  });

  it('accepts EC P-256 and P-384 keys', () => {
    for (const namedCurve of ['P-256', 'P-384']) {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve });
      expect(ok(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string)).toEqual({ kid: null });
    }
  });

  it('says a garbage value does not parse', () => {
    expect(problem('not a key')).toEqual({ name: 'OKTA_PRIVATE_KEY', message: 'does not parse as a PEM or JWK private key' });
    expect(problem('{"kty":"RSA","d":')).toEqual({ name: 'OKTA_PRIVATE_KEY', message: 'does not parse as a PEM or JWK private key' });
    expect(problem(pkcs8.replace(/[A-Za-z]{20}/, 'x'))).toEqual({ name: 'OKTA_PRIVATE_KEY', message: 'does not parse as a PEM or JWK private key' });
  });

  it('says a public key is not enough', () => {
    expect(problem(rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string)?.message).toMatch(/public key or certificate/);
    expect(problem(JSON.stringify(rsa.publicKey.export({ format: 'jwk' })))?.message).toMatch(/public JWK/);
  });

  it('says an encrypted PEM must be decrypted first', () => {
    const enc = rsa.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' }) as string;
    expect(problem(enc)?.message).toMatch(/^is an encrypted PEM/);
  });

  it('refuses key types and sizes Okta does not accept', () => {
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    expect(problem(small)?.message).toBe('is a 1024-bit RSA key; Okta requires at least 2048 bits');
    const ed = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    expect(problem(ed)?.message).toMatch(/^is a ed25519 key; Okta accepts RSA/);
    const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    expect(problem(k1)?.message).toMatch(/^is an EC key on secp256k1/);
  });

  it('names the variable it was given, for keys read from a file', () => {
    expect(privateKeyParses('x', 'OKTA_PRIVATE_KEY_FILE')).toEqual({ problem: { name: 'OKTA_PRIVATE_KEY_FILE', message: 'does not parse as a PEM or JWK private key' } });
  });
});

describe('keyIdMatchesJwk', () => {
  it('accepts agreement, or either side missing', () => {
    expect(keyIdMatchesJwk('a', 'a')).toEqual([]);
    expect(keyIdMatchesJwk(undefined, 'a')).toEqual([]);
    expect(keyIdMatchesJwk('a', null)).toEqual([]);
  });
  it('refuses an OKTA_KEY_ID that contradicts the JWK', () => {
    expect(keyIdMatchesJwk('a', 'b')).toEqual([{ name: 'OKTA_KEY_ID', message: `"a" differs from the JWK's kid "b"; unset one of them` }]);
  });
});

describe('orgUrlNotAdminConsole', () => {
  it('points from the Admin Console host to the org host', () => {
    expect(orgUrlNotAdminConsole('https://acme-admin.okta.com', 'OKTA_ORG_URL')).toEqual([
      { name: 'OKTA_ORG_URL', message: 'is the Admin Console URL; use the org URL https://acme.okta.com' },
    ]);
    expect(orgUrlNotAdminConsole('https://dev-1-admin.oktapreview.com', 'X')[0]?.message).toMatch(/https:\/\/dev-1\.oktapreview\.com$/);
  });
  it('leaves org URLs and custom domains alone', () => {
    expect(orgUrlNotAdminConsole('https://acme.okta.com', 'X')).toEqual([]);
    expect(orgUrlNotAdminConsole('https://login-admin.example.com', 'X')).toEqual([]);
    expect(orgUrlNotAdminConsole(null, 'X')).toEqual([]);
  });
});

describe('requiredForCommand', () => {
  it('reports a missing setting with the form it should take', () => {
    expect(requiredForCommand(false, 'OKTA_ORG_URL', 'https://x')).toEqual([{ name: 'OKTA_ORG_URL', message: 'required for this command; expected https://x' }]);
    expect(requiredForCommand(true, 'OKTA_ORG_URL', 'https://x')).toEqual([]);
  });
});
