import { describe, expect, it } from 'vitest';
import type { UserFacts } from '../../src/sim/org.ts';
import { compileQuery, SearchError } from '../../src/sim/search.ts';

const base: UserFacts = {
  index: 0,
  id: '00uAAAAAAAAAAAAAAAAA',
  status: 'ACTIVE',
  firstName: 'Mary-Jo',
  lastName: 'Müller',
  login: 'mary-jo.muller0@example.com',
  department: 'Legal',
  created: Date.UTC(2020, 0, 1),
  lastUpdated: Date.UTC(2021, 5, 1),
};
const other: UserFacts = { ...base, index: 1, id: '00uBBBBBBBBBBBBBBBBB', status: 'DEPROVISIONED', firstName: 'Sam', lastName: 'Khan', login: 'sam.khan1@example.com', department: 'Sales', lastUpdated: Date.UTC(2019, 0, 1) };

const hits = (expr: string, mode: 'search' | 'filter' = 'search') => [base, other].filter((u) => compileQuery(expr, mode).test(u)).map((u) => u.index);

describe('users search expressions', () => {
  it('supports eq, sw and co with case-insensitive values and operators', () => {
    expect(hits('status eq "active"')).toEqual([0]);
    expect(hits('profile.lastName SW "mü"')).toEqual([0]);
    expect(hits('profile.login co "KHAN"')).toEqual([1]);
    expect(hits('profile.department eq "sales"')).toEqual([1]);
  });

  it('compares dates as instants with gt/ge/lt/le', () => {
    expect(hits('lastUpdated gt "2020-01-01T00:00:00.000Z"')).toEqual([0]);
    expect(hits('lastUpdated lt "2020-01-01T00:00:00Z"')).toEqual([1]);
    expect(hits('created ge "2020-01-01T00:00:00.000Z"')).toEqual([0, 1]);
    expect(hits('created le "2019-12-31T23:59:59.999Z"')).toEqual([]);
  });

  it('binds and tighter than or, and honours parentheses', () => {
    expect(hits('status eq "DEPROVISIONED" or status eq "ACTIVE" and profile.department eq "Sales"')).toEqual([1]);
    expect(hits('(status eq "DEPROVISIONED" or status eq "ACTIVE") and profile.department eq "Legal"')).toEqual([0]);
    expect(hits('status lt "STAGED" or status gt "STAGED"')).toEqual([0, 1]);
  });

  it('reads \\" and \\\\ escapes inside quoted values', () => {
    const quoted = { ...base, lastName: 'O"Neil\\Jr' };
    expect(compileQuery('profile.lastName eq "O\\"Neil\\\\Jr"', 'search').test(quoted)).toBe(true);
    expect(compileQuery('profile.lastName eq "O\\"Neil"', 'search').test(quoted)).toBe(false);
  });

  it('marks a lone id or login equality as a direct lookup', () => {
    expect(compileQuery('id eq "00uX"', 'search').exact).toEqual({ attr: 'id', value: '00uX' });
    expect(compileQuery('profile.login eq "a@b.c"', 'filter').exact).toEqual({ attr: 'profile.login', value: 'a@b.c' });
    expect(compileQuery('id eq "00uX" or id eq "00uY"', 'search').exact).toBeUndefined();
  });

  it.each([
    ['', 'empty'],
    ['status eq ACTIVE', 'unquoted value'],
    ['status eq "ACTIVE', 'unterminated string'],
    ['(status eq "ACTIVE"', 'missing parenthesis'],
    ['status ne "ACTIVE"', 'unknown operator'],
    ['status eq "ACTIVE" and', 'dangling and'],
    ['nickname eq "x"', 'unknown top-level attribute'],
    ['profile.department co "a"', 'co outside the four profile names'],
    ['created gt "yesterday"', 'not a date'],
  ])('rejects %j (%s)', (expr) => {
    expect(() => compileQuery(expr, 'search')).toThrow(SearchError);
  });
});

describe('users filter expressions', () => {
  it('allows eq on its attributes, and ranges only on lastUpdated', () => {
    expect(hits('status eq "DEPROVISIONED"', 'filter')).toEqual([1]);
    expect(hits('lastUpdated gt "2020-01-01T00:00:00.000Z" and profile.firstName eq "Mary-Jo"', 'filter')).toEqual([0]);
    expect(() => compileQuery('profile.login sw "sam"', 'filter')).toThrow(SearchError);
    expect(() => compileQuery('created gt "2020-01-01T00:00:00.000Z"', 'filter')).toThrow(SearchError);
    expect(() => compileQuery('profile.department eq "Sales"', 'filter')).toThrow(SearchError);
  });

  it('compares values case-sensitively, unlike search', () => {
    expect(hits('status eq "active"', 'filter')).toEqual([]);
    expect(hits('profile.lastName eq "müller"', 'filter')).toEqual([]);
    expect(hits('profile.lastName eq "Müller"', 'filter')).toEqual([0]);
  });
});
