import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readCsvTargets } from '../../src/sources/csv-source.ts';
import { targetKey, type TargetInput } from '../../src/sources/target.ts';

const t = (p: Partial<TargetInput>): TargetInput => ({ userId: null, login: null, clientId: null, scopeId: null, grantId: null, line: null, ...p });
const none = { clientId: null, scopeId: null };

describe('targetKey', () => {
  it('is 16 base64url characters', () => {
    expect(targetKey(t({ userId: '00u1' }), none)).toMatch(/^[A-Za-z0-9_-]{16}$/);
  });

  it('ignores the line and, when the user id is known, the login', () => {
    const a = targetKey(t({ userId: '00u1', line: 2 }), none);
    expect(targetKey(t({ userId: '00u1', login: 'x@y', line: 9 }), none)).toBe(a);
  });

  it('treats logins case-insensitively and user ids case-sensitively', () => {
    expect(targetKey(t({ login: 'Bob@Example.com' }), none)).toBe(targetKey(t({ login: 'bob@example.com' }), none));
    expect(targetKey(t({ userId: '00uAb' }), none)).not.toBe(targetKey(t({ userId: '00uab' }), none));
  });

  it('applies run-wide defaults where the row is blank, and lets the row win where it is not', () => {
    const defaults = { clientId: '0oaDefault', scopeId: null };
    const spelledOut = targetKey(t({ userId: '00u1', clientId: '0oaDefault' }), defaults);
    expect(targetKey(t({ userId: '00u1' }), defaults)).toBe(spelledOut);
    expect(targetKey(t({ userId: '00u1', clientId: '0oaOther' }), defaults)).not.toBe(spelledOut);
  });

  it('never confuses a user id with a login of the same text', () => {
    expect(targetKey(t({ userId: 'abc' }), none)).not.toBe(targetKey(t({ login: 'abc' }), none));
  });

  it('gives different keys whenever the normalised targets differ (no separator collisions)', () => {
    const s = fc.option(fc.string({ maxLength: 6 }), { nil: null });
    const target = fc.record({ userId: fc.string({ minLength: 1, maxLength: 6 }), clientId: s, scopeId: s, grantId: s });
    fc.assert(
      fc.property(target, target, (a, b) => {
        const same = a.userId === b.userId && a.clientId === b.clientId && a.scopeId === b.scopeId && a.grantId === b.grantId;
        expect(targetKey(t(a), none) === targetKey(t(b), none)).toBe(same);
      }),
      { numRuns: 2000 },
    );
  });

  it('gives the rows of duplicates.csv three distinct keys for six rows', async () => {
    const keys: string[] = [];
    for await (const item of readCsvTargets(join(import.meta.dirname, '../fixtures/csv/duplicates.csv'))) {
      if (item.kind === 'target') keys.push(targetKey(item.target, { clientId: '0oa1', scopeId: null }));
    }
    expect(keys).toHaveLength(6);
    // rows 2-4: same user and client; rows 5-6: same login in two cases (6 relies on the default client)
    expect(keys[1]).toBe(keys[0]);
    expect(keys[2]).toBe(keys[0]);
    expect(keys[4]).toBe(keys[3]);
    expect(new Set(keys).size).toBe(3);
  });
});
