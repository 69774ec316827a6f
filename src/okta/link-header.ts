/**
 * RFC 8288 `Link` header parsing, just enough to find `rel="next"`.
 *
 * Okta sends one header per relation, but HTTP stacks may join repeated headers with
 * ", " (node-fetch does), and a URL may itself hold commas and semicolons inside its
 * `<...>`. So this is a small scanner that respects `<>` and quoted strings, not a split(',').
 */

export interface LinkValue {
  /** The target exactly as sent between `<` and `>`. */
  uri: string;
  /** Lower-cased relation types from the first `rel` parameter. */
  rels: string[];
}

/** The URL of the first link whose rel includes `next`, or null when there is none (last page). */
export function nextLink(headerValues: string | string[] | null | undefined): string | null {
  if (headerValues == null) return null;
  const values = Array.isArray(headerValues) ? headerValues : [headerValues];
  for (const value of values) {
    for (const link of parseLinkHeader(value)) {
      if (link.rels.includes('next')) return link.uri;
    }
  }
  return null;
}

export function parseLinkHeader(value: string): LinkValue[] {
  const links: LinkValue[] = [];
  let i = 0;
  const n = value.length;
  const skipSpace = () => {
    while (i < n && (value[i] === ' ' || value[i] === '\t')) i++;
  };
  // Skip a malformed link-value up to the next top-level comma, honouring quotes.
  const skipToComma = () => {
    while (i < n && value[i] !== ',') {
      if (value[i] === '"') readQuoted();
      else i++;
    }
  };
  const readQuoted = (): string => {
    let out = '';
    i++; // opening quote
    while (i < n && value[i] !== '"') {
      if (value[i] === '\\' && i + 1 < n) i++;
      out += value[i];
      i++;
    }
    i++; // closing quote (or past the end)
    return out;
  };
  const readToken = (stops: string): string => {
    const start = i;
    while (i < n && !stops.includes(value[i]!)) i++;
    return value.slice(start, i).trim();
  };

  while (i < n) {
    skipSpace();
    if (value[i] === ',') {
      i++;
      continue;
    }
    if (value[i] !== '<') {
      skipToComma();
      continue;
    }
    const close = value.indexOf('>', i + 1);
    if (close < 0) break; // unterminated target: nothing trustworthy follows
    const uri = value.slice(i + 1, close);
    i = close + 1;
    let rels: string[] | null = null;
    // Parameters: `; name[=value]` until the comma that ends this link-value.
    for (;;) {
      skipSpace();
      if (i >= n || value[i] === ',') break;
      if (value[i] !== ';') {
        skipToComma();
        break;
      }
      i++;
      skipSpace();
      const name = readToken('=;,').toLowerCase();
      let paramValue = '';
      if (value[i] === '=') {
        i++;
        skipSpace();
        paramValue = value[i] === '"' ? readQuoted() : readToken(';,');
      }
      // RFC 8288 §3.3: occurrences of rel after the first are ignored.
      if (name === 'rel' && rels === null) {
        rels = paramValue.toLowerCase().split(/[ \t]+/).filter(Boolean);
      }
    }
    links.push({ uri, rels: rels ?? [] });
  }
  return links;
}
