import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nextLink, parseLinkHeader } from '../../src/okta/link-header.ts';

const SELF = 'https://org.example.com/api/v1/users?limit=200';
const NEXT = 'https://org.example.com/api/v1/users?after=00ud4tVDDXYVKPXKVLCO&limit=200';

describe('nextLink: the header shapes Okta and HTTP stacks produce', () => {
  it('finds next in one header per relation (two header values)', () => {
    expect(nextLink([`<${SELF}>; rel="self"`, `<${NEXT}>; rel="next"`])).toBe(NEXT);
  });

  it('finds next in one comma-joined header', () => {
    expect(nextLink(`<${SELF}>; rel="self", <${NEXT}>; rel="next"`)).toBe(NEXT);
  });

  it('finds next in a single header value', () => {
    expect(nextLink(`<${NEXT}>; rel="next"`)).toBe(NEXT);
  });

  it('accepts an unquoted rel and any letter case', () => {
    expect(nextLink(`<${NEXT}>; rel=next`)).toBe(NEXT);
    expect(nextLink(`<${NEXT}>;REL=Next`)).toBe(NEXT);
  });

  it('accepts several relation types in one rel', () => {
    expect(nextLink(`<${NEXT}>; rel="next last"`)).toBe(NEXT);
    expect(nextLink(`<${NEXT}>; rel="prev  next"`)).toBe(NEXT);
  });

  it('reads params in any order, with other params and quoted commas around rel', () => {
    expect(nextLink(`<${NEXT}>; title="a, b; c"; rel="next"; type="application/json"`)).toBe(NEXT);
  });

  it('keeps commas and semicolons inside <> as part of the URL', () => {
    const odd = 'https://org.example.com/api/v1/users?after=a,b;c&limit=2';
    expect(nextLink(`<${SELF}>; rel="self", <${odd}>; rel="next"`)).toBe(odd);
  });

  it('returns null when there is no next (the last page), or no header at all', () => {
    expect(nextLink(`<${SELF}>; rel="self"`)).toBeNull();
    expect(nextLink([`<${SELF}>; rel="self"`])).toBeNull();
    expect(nextLink(`<${NEXT}>; rel="nextpage"`)).toBeNull();
    expect(nextLink(null)).toBeNull();
    expect(nextLink(undefined)).toBeNull();
    expect(nextLink('')).toBeNull();
    expect(nextLink([])).toBeNull();
  });

  it('uses only the first rel param, as RFC 8288 §3.3 requires', () => {
    expect(nextLink(`<${NEXT}>; rel="self"; rel="next"`)).toBeNull();
  });

  it('skips malformed link-values and still finds a later next', () => {
    expect(nextLink(`garbage; rel="next", <${NEXT}>; rel="next"`)).toBe(NEXT);
    expect(parseLinkHeader(`<${NEXT}`)).toEqual([]);
  });
});

describe('nextLink: properties', () => {
  // URL bodies full of the characters a naive split(',') / split(';') would trip on.
  const urlChar = fc.constantFrom(...'abcXYZ0189-_.~=&?%/:,;@!$\'()*+'.split(''));
  const url = fc.string({ unit: urlChar, minLength: 1, maxLength: 40 }).map((s) => `https://org.example.com/api/v1/users?${s}`);
  const quotedValue = fc.string({ unit: fc.constantFrom(...'ab ,;=<>'.split('')), maxLength: 10 });
  const otherRel = fc.constantFrom('self', 'prev', 'first', 'last', 'alternate');

  const relParam = (rels: string[], quote: boolean) =>
    quote || rels.length > 1 ? `rel="${rels.join(' ')}"` : `rel=${rels[0]}`;

  /** A link-value: `<url>` then rel and extra params in a shuffled order. */
  const linkValue = (u: string, rels: string[]) =>
    fc
      .tuple(fc.boolean(), fc.array(quotedValue, { maxLength: 2 }), fc.integer({ min: 0, max: 3 }), fc.boolean())
      .map(([quote, titles, at, tightSpacing]) => {
        const params = titles.map((t, i) => `title${i}="${t}"`);
        params.splice(Math.min(at, params.length), 0, relParam(rels, quote));
        return `<${u}>${params.map((p) => (tightSpacing ? `;${p}` : `; ${p}`)).join('')}`;
      });

  it('returns the next URL exactly, however links are split into headers, ordered or parametrised', () => {
    fc.assert(
      fc.property(
        url,
        fc.array(fc.tuple(url, otherRel), { maxLength: 3 }),
        fc.array(otherRel, { maxLength: 2 }),
        fc.integer({ min: 0, max: 3 }),
        fc.boolean(),
        fc.gen(),
        (next, others, extraRels, position, joined, g) => {
          const nextValue = g(() => linkValue(next, [...extraRels, 'next']));
          const values = others.map(([u, rel]) => g(() => linkValue(u, [rel])));
          values.splice(Math.min(position, values.length), 0, nextValue);
          const header = joined ? values.join(', ') : values;
          expect(nextLink(header)).toBe(next);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('returns null whenever no link carries rel next', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(url, otherRel), { maxLength: 4 }), fc.boolean(), fc.gen(), (others, joined, g) => {
        const values = others.map(([u, rel]) => g(() => linkValue(u, [rel])));
        expect(nextLink(joined ? values.join(', ') : values)).toBeNull();
      }),
    );
  });
});
