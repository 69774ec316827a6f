import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ID_KIND, IdCodec, MAX_KEY } from '../../src/sim/ids.ts';

describe('simulator id codec', () => {
  const users = new IdCodec('00u', 42, ID_KIND.user);

  it('decodes every id it encodes back to the same key', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_KEY - 1 }), (key) => {
        expect(users.decode(users.encode(key))).toBe(key);
      }),
    );
  });

  it('makes Okta-shaped ids: prefix plus 17 base62 characters', () => {
    for (const key of [0, 1, 999_999, 2 ** 40]) expect(users.encode(key)).toMatch(/^00u[0-9A-Za-z]{17}$/);
    expect(new IdCodec('oag', 42, ID_KIND.grant).encode(5)).toMatch(/^oag[0-9A-Za-z]{17}$/);
  });

  it('rejects ids it never issued: other prefixes, lengths, a changed character, another seed', () => {
    const id = users.encode(1234);
    expect(users.decode(`00g${id.slice(3)}`)).toBe(-1);
    expect(users.decode(id.slice(0, -1))).toBe(-1);
    const flipped = id.slice(0, 10) + (id[10] === 'a' ? 'b' : 'a') + id.slice(11);
    expect(users.decode(flipped)).toBe(-1);
    expect(new IdCodec('00u', 43, ID_KIND.user).decode(id)).toBe(-1);
    expect(users.decode('00u!!!!!!!!!!!!!!!!!')).toBe(-1);
  });

  it('gives neighbouring keys unrelated-looking ids and different kinds different ids', () => {
    const a = users.encode(1);
    const b = users.encode(2);
    const shared = [...a].filter((c, i) => b[i] === c).length;
    expect(shared).toBeLessThan(10);
    expect(new IdCodec('00u', 42, ID_KIND.grant).encode(1)).not.toBe(a);
  });
});
