import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.ts';
import { checkPlaceholders, fillSince, oktaTime, sameScheduledQuery, usesSince } from '../../src/sources/since.ts';

const at = Date.UTC(2026, 10, 27, 2, 0, 0, 5);

describe('{{since}}', () => {
  it("is filled in with Okta's date format, everywhere it stands, spaces inside the braces or not", () => {
    const s = fillSince({ kind: 'search', value: 'lastUpdated gt "{{since}}" or statusChanged gt "{{ since }}"' }, at);
    expect(s).toEqual({ kind: 'search', value: 'lastUpdated gt "2026-11-27T02:00:00.005Z" or statusChanged gt "2026-11-27T02:00:00.005Z"' });
    expect(oktaTime(at)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('is looked for in directory queries only', () => {
    expect(usesSince({ kind: 'filter', value: 'lastUpdated gt "{{since}}"' })).toBe(true);
    expect(usesSince({ kind: 'filter', value: 'status eq "SUSPENDED"' })).toBe(false);
    expect(usesSince({ kind: 'csv', value: '/data/{{since}}.csv' })).toBe(false);
  });

  it('is refused outside a schedule, and so is an unknown placeholder or one in a CSV path in a schedule', () => {
    const refused = (f: () => void) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(UsageError);
        return (e as Error).message;
      }
      throw new Error('not refused');
    };
    expect(refused(() => checkPlaceholders({ kind: 'filter', value: 'lastUpdated gt "{{since}}"' }, false))).toMatch(/^--filter: \{\{since\}\} is filled in by a schedule/);
    expect(refused(() => checkPlaceholders({ kind: 'search', value: 'lastUpdated gt "{{now}}"' }, true))).toBe('--search: unknown placeholder {{now}}: the one a schedule fills in is {{since}}');
    expect(refused(() => checkPlaceholders({ kind: 'csv', value: '/data/{{since}}.csv' }, true))).toMatch(/^\{\{since\}\} goes in --search or --filter/);
    // Mistyped in a schedule: sent as written every time, it would match nobody.
    for (const value of ['x sw "{{since}"', 'lastUpdated gt "{since}"', 'lastUpdated gt "{since}}"', 'lastUpdated gt "{{ since }}" and x eq "}}"']) {
      expect(refused(() => checkPlaceholders({ kind: 'search', value }, true))).toMatch(/^--search: a placeholder is not written as \{\{since\}\} \(two braces on each side\)/);
    }
    // Accepted: a schedule's {{since}}, and other double braces in a one-off run (literal text).
    expect(() => checkPlaceholders({ kind: 'search', value: 'lastUpdated gt "{{since}}"' }, true)).not.toThrow();
    expect(() => checkPlaceholders({ kind: 'search', value: 'profile.nickName eq "{{x}}"' }, false)).not.toThrow();
  });
});

describe('sameScheduledQuery', () => {
  const t = { kind: 'search' as const, value: 'status eq "SUSPENDED" and lastUpdated gt "{{since}}"' };
  it('takes the template with any time filled in, and nothing else', () => {
    expect(sameScheduledQuery(t, { kind: 'search', value: 'status eq "SUSPENDED" and lastUpdated gt "2026-11-27T02:00:00.000Z"' })).toBe(true);
    expect(sameScheduledQuery(t, { kind: 'filter', value: 'status eq "SUSPENDED" and lastUpdated gt "2026-11-27T02:00:00.000Z"' })).toBe(false);
    expect(sameScheduledQuery(t, { kind: 'search', value: 'status eq "DEPROVISIONED" and lastUpdated gt "2026-11-27T02:00:00.000Z"' })).toBe(false);
    expect(sameScheduledQuery(t, { kind: 'search', value: 'status eq "SUSPENDED" and lastUpdated gt "yesterday"' })).toBe(false);
    // Characters that mean something in a regular expression are taken as they are.
    const odd = { kind: 'search' as const, value: 'profile.x eq "a.b(c)*" and lastUpdated gt "{{ since }}"' };
    expect(sameScheduledQuery(odd, { kind: 'search', value: 'profile.x eq "a.b(c)*" and lastUpdated gt "2026-01-01T00:00:00.000Z"' })).toBe(true);
    expect(sameScheduledQuery(odd, { kind: 'search', value: 'profile.x eq "aXb(c)*" and lastUpdated gt "2026-01-01T00:00:00.000Z"' })).toBe(false);
  });
});
