import { validationFailed, type SimResponse } from './sim-errors.ts';

/**
 * Cursor pagination as Okta does it: an opaque `after` and absolute Link URLs.
 * The cursor names the last item returned (not an offset), so revoking grants
 * while walking the pages never skips any — Okta's cursors behave this way for
 * id-ordered lists; for grants it is UNCONFIRMED.
 */

export interface LimitRule {
  def: number;
  max: number;
  /** Clamp values above max instead of answering 400 (the users APIs document no max). */
  clamp?: boolean;
}

export function parseLimit(raw: string | null, rule: LimitRule): number | SimResponse {
  if (raw === null) return rule.def;
  const n = /^-?\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(n)) return validationFailed('limit', 'must be an integer');
  if (n < 1 || (n > rule.max && !rule.clamp)) return validationFailed('limit', `must be between 1 and ${rule.max}`);
  return Math.min(n, rule.max);
}

export function encodeCursor(position: number): string {
  return Buffer.from(`p${position}`).toString('base64url');
}

/** Position after which to continue, -1 for the first page, or null when the cursor is not ours. */
export function decodeCursor(raw: string | null): number | null {
  if (raw === null || raw === '') return -1;
  const text = Buffer.from(raw, 'base64url').toString('utf8');
  if (!/^p\d{1,15}$/.test(text)) return null;
  return Number(text.slice(1));
}

export function badCursor(): SimResponse {
  return validationFailed('after', 'is not a valid cursor');
}

/**
 * `self` echoes the request; `next` only when another page exists. Two header lines
 * by default (as Okta may send them); `joined` folds them into one comma list.
 */
export function linkHeader(
  base: string,
  path: string,
  query: URLSearchParams,
  next: number | null,
  style: 'separate' | 'joined',
): string | string[] {
  const self = `<${base}${path}${query.size ? `?${query}` : ''}>; rel="self"`;
  if (next === null) return style === 'joined' ? self : [self];
  const q = new URLSearchParams(query);
  q.set('after', encodeCursor(next));
  const nextLink = `<${base}${path}?${q}>; rel="next"`;
  return style === 'joined' ? `${self}, ${nextLink}` : [self, nextLink];
}
