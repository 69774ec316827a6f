import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidIdError, pathSegment, validatePathId, type IdKind } from '../../src/okta/ids.ts';

const KINDS: IdKind[] = ['userId', 'login', 'clientId', 'scopeId', 'grantId', 'groupId', 'appId'];

/** Characters a hostile or broken input would use, mixed with any UTF-16 unit and astral code points. */
const unit = fc.oneof(
  fc.constantFrom('.', 'm', 'e', 'M', 'E', '+', '@', ';', ',', ':', '=', '&', '~', ' ', '/', '\\', '?', '#', '%', '\u2028', '\t'),
  fc.integer({ min: 0, max: 0xffff }).map((n) => String.fromCharCode(n)),
  fc.integer({ min: 0x10000, max: 0x10ffff }).map((n) => String.fromCodePoint(n)),
);
const anyString = fc.string({ unit, maxLength: 30 });
const forbiddenChar = fc.constantFrom('/', '\\', '?', '#', '%', ' ', '\t', '\n', '\r', '\0', '\u007f', '\u0085', '\u00a0', '\u2028', '\u2029', '\u200b', '\u202e', '\ufeff');

function rejectionOf(kind: IdKind, value: unknown): InvalidIdError {
  try {
    validatePathId(kind, value);
  } catch (err) {
    if (err instanceof InvalidIdError) return err;
    throw err;
  }
  throw new Error(`expected ${JSON.stringify(value)} to be refused`);
}

describe('validatePathId: examples', () => {
  it('accepts Okta ids and logins with dots, plus signs and @, and returns them unchanged', () => {
    expect(validatePathId('userId', '00ub0oNGTSWTBKOLGLNR')).toBe('00ub0oNGTSWTBKOLGLNR');
    expect(validatePathId('login', 'first.last+tag@example.com')).toBe('first.last+tag@example.com');
    expect(validatePathId('scopeId', 'okta.users.read')).toBe('okta.users.read');
    expect(validatePathId('grantId', '...')).toBe('...');
    expect(validatePathId('userId', 'meme')).toBe('meme');
  });

  it.each([
    ['a/b', 'must not contain "/"'],
    ['a\\b', 'must not contain "\\"'],
    ['a?b', 'must not contain "?"'],
    ['a#b', 'must not contain "#"'],
    ['%2e%2e', 'must not contain "%"'],
    ['.', 'must not be "." or ".."'],
    ['..', 'must not be "." or ".."'],
    ['me', 'must not be "me"'],
    ['ME', 'must not be "me"'],
    ['Me', 'must not be "me"'],
    ['', 'must not be empty'],
    [' a', 'whitespace or control'],
    ['a\n', 'whitespace or control'],
    ['a\u2028b', 'whitespace or control'],
    ['a\u200bb', 'whitespace or control'],
    ['a\ud800b', 'well-formed unicode'],
  ])('refuses %j (%s)', (value, reason) => {
    const err = rejectionOf('userId', value);
    expect(err.kind).toBe('userId');
    expect(err.reason).toContain(reason);
    expect(err.message).toContain(reason);
  });

  it('words its message as kind "value": reason', () => {
    expect(rejectionOf('userId', 'a/b').message).toBe('userId "a/b": must not contain "/"');
  });

  it('refuses values that are not strings without echoing them', () => {
    for (const v of [42, null, undefined, {}, ['00u1']]) {
      const err = rejectionOf('grantId', v);
      expect(err.reason).toBe('must be a string');
      expect(err.message).toMatch(/^grantId \((number|null|undefined|object|array)\): must be a string$/);
    }
  });

  it('allows 200 characters for a login but 100 for other ids', () => {
    const login = `${'a'.repeat(188)}@example.com`;
    expect(login).toHaveLength(200);
    expect(validatePathId('login', login)).toBe(login);
    expect(rejectionOf('login', `a${login}`).reason).toBe('must be at most 200 characters');
    expect(validatePathId('clientId', 'c'.repeat(100))).toHaveLength(100);
    expect(rejectionOf('clientId', 'c'.repeat(101)).reason).toBe('must be at most 100 characters');
  });

  it('truncates the value kept for messages to 40 characters and escapes control characters', () => {
    const long = rejectionOf('userId', `${'x'.repeat(60)}/`);
    expect(long.value).toBe(`${'x'.repeat(40)}…`);
    const ctl = rejectionOf('userId', 'a\nb\u202ec');
    expect(ctl.value).toBe('a\\u000ab\\u202ec');
    expect(ctl.message).not.toMatch(/[\n\u202e]/);
  });

  it('pathSegment percent-encodes what the validator accepted', () => {
    expect(pathSegment('login', 'first.last+tag@example.com')).toBe('first.last%2Btag%40example.com');
    expect(pathSegment('userId', 'ü;x,y')).toBe('%C3%BC%3Bx%2Cy');
    expect(() => pathSegment('userId', '../apps')).toThrow(InvalidIdError);
  });
});

describe('validatePathId: properties', () => {
  it('refuses every string that contains a forbidden or invisible character, for every kind', () => {
    fc.assert(
      fc.property(fc.constantFrom(...KINDS), anyString, forbiddenChar, anyString, (kind, a, c, b) => {
        expect(() => validatePathId(kind, a + c + b)).toThrow(InvalidIdError);
      }),
      { numRuns: 500 },
    );
  });

  it('either refuses with InvalidIdError or yields exactly one path segment that decodes back to the id', () => {
    fc.assert(
      fc.property(fc.constantFrom(...KINDS), anyString, (kind, value) => {
        let seg: string;
        try {
          seg = pathSegment(kind, value);
        } catch (err) {
          expect(err).toBeInstanceOf(InvalidIdError);
          return;
        }
        const parts = new URL(`https://x/api/v1/users/${seg}/grants`).pathname.split('/');
        expect(parts).toHaveLength(6); // leading '' + 5 segments
        expect(parts.slice(0, 4)).toEqual(['', 'api', 'v1', 'users']);
        expect(parts[4]).toBe(seg);
        expect(parts[5]).toBe('grants');
        expect(decodeURIComponent(seg)).toBe(value);
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts any short string of URL-safe punctuation and letters other than ".", ".." and "me"', () => {
    const safe = fc.string({
      unit: fc.constantFrom(...'abcXYZ019._-+@~!$&\'()*,;=:'.split('')),
      minLength: 1,
      maxLength: 100,
    });
    fc.assert(
      fc.property(
        safe.filter((s) => s !== '.' && s !== '..' && s.toLowerCase() !== 'me'),
        (s) => {
          expect(validatePathId('userId', s)).toBe(s);
        },
      ),
    );
  });
});
