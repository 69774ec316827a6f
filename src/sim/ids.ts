import { BASE62, hash } from './hash.ts';

/**
 * Okta-looking ids (`00u` + 17 base62 chars) that encode an integer key reversibly,
 * so looking an id up needs no map: a 4-round Feistel network over 48 bits scrambles
 * the key (ids look random, neighbours do not look alike), nine base62 digits carry
 * it and the other eight are a keyed checksum that rejects ids we never issued.
 */

const HALF = 0x1000000; // 2^24
const MASK24 = 0xffffff;
const ROUNDS = 4;
const DIGITS = 9; // 62^9 > 2^48
export const MAX_KEY = HALF * HALF; // keys must be below 2^48

const DECODE = new Int8Array(128).fill(-1);
for (let i = 0; i < 62; i++) DECODE[BASE62.charCodeAt(i)] = i;

export class IdCodec {
  private readonly roundKeys: number[];
  private readonly checkSeed: number;
  /** Client, scope and group ids are encoded for every grant rendered; remember the small ones. */
  private readonly small: (string | undefined)[] = [];

  constructor(
    readonly prefix: string,
    seed: number,
    kind: number,
  ) {
    this.roundKeys = Array.from({ length: ROUNDS }, (_, r) => hash(seed, kind, r, 0x51ed));
    this.checkSeed = hash(seed, kind, 0xc4ec);
  }

  encode(key: number): string {
    if (key < 1024) return (this.small[key] ??= this.compute(key));
    return this.compute(key);
  }

  private compute(key: number): string {
    let l = Math.floor(key / HALF);
    let r = key % HALF;
    for (const k of this.roundKeys) {
      const next = l ^ (hash(k, r) & MASK24);
      l = r;
      r = next;
    }
    let v = l * HALF + r;
    const digits: number[] = [];
    for (let i = 0; i < DIGITS; i++) {
      digits.push(v % 62);
      v = Math.floor(v / 62);
    }
    // The top digit only ever holds 0 or 1; spread it over the alphabet so no
    // position of the id is visibly constant.
    const top = digits[DIGITS - 1] ?? 0;
    digits[DIGITS - 1] = top + 2 * (hash(this.checkSeed, key, 7) % 31);
    let out = this.prefix;
    for (let i = 0; i < 8; i++) {
      out += BASE62[hash(this.checkSeed, key, i) % 62];
      out += BASE62[digits[i] ?? 0];
    }
    return out + BASE62[digits[DIGITS - 1] ?? 0];
  }

  /** The key an id encodes, or -1 when it is not one of ours. */
  decode(id: string): number {
    const p = this.prefix.length;
    if (id.length !== p + 17 || !id.startsWith(this.prefix)) return -1;
    let v = 0;
    for (let i = DIGITS - 1; i >= 0; i--) {
      const pos = i === DIGITS - 1 ? p + 16 : p + 2 * i + 1;
      const c = id.charCodeAt(pos);
      let d = c < 128 ? (DECODE[c] ?? -1) : -1;
      if (d < 0) return -1;
      if (i === DIGITS - 1) d %= 2;
      v = v * 62 + d;
    }
    if (v >= MAX_KEY) return -1;
    let l = Math.floor(v / HALF);
    let r = v % HALF;
    for (let i = ROUNDS - 1; i >= 0; i--) {
      const prev = r ^ (hash(this.roundKeys[i] ?? 0, l) & MASK24);
      r = l;
      l = prev;
    }
    const key = l * HALF + r;
    // Only the id we would have issued for this key is accepted.
    return this.encode(key) === id ? key : -1;
  }
}

/** Id kinds: each gets its own Feistel keys so equal keys give unrelated ids. */
export const ID_KIND = { user: 1, grant: 2, client: 3, group: 4, authServer: 5, scope: 6, userType: 7, token: 8 } as const;

export type OrgCodecs = Record<keyof typeof ID_KIND, IdCodec>;

/** One codec per id kind, with Okta's prefixes (apps and OAuth clients share `0oa`: app id = client_id). */
export function makeCodecs(seed: number): OrgCodecs {
  return {
    user: new IdCodec('00u', seed, ID_KIND.user),
    grant: new IdCodec('oag', seed, ID_KIND.grant),
    client: new IdCodec('0oa', seed, ID_KIND.client),
    group: new IdCodec('00g', seed, ID_KIND.group),
    authServer: new IdCodec('aus', seed, ID_KIND.authServer),
    scope: new IdCodec('scp', seed, ID_KIND.scope),
    userType: new IdCodec('oty', seed, ID_KIND.userType),
    token: new IdCodec('oar', seed, ID_KIND.token),
  };
}
