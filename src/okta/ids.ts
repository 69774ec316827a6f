/**
 * Ids that end up inside a URL path. Everything that comes from a CSV, a flag or an
 * Okta response passes through here before it is spliced into `/api/v1/...`, so that
 * no value can climb out of its path segment (`../apps`, `a/b`, `x?y`) and turn a
 * DELETE into a request on some other resource.
 */
import { UsageError } from '../errors.ts';

export type IdKind = 'userId' | 'login' | 'clientId' | 'scopeId' | 'grantId' | 'groupId' | 'appId';

/** Logins are emails and may be long; Okta ids are 20 characters, so 100 is generous. */
const MAX_LENGTH: Record<IdKind, number> = {
  userId: 100,
  login: 200,
  clientId: 100,
  scopeId: 100,
  grantId: 100,
  groupId: 100,
  appId: 100,
};

// Whitespace (incl. U+2028/U+2029 and NBSP), control and invisible format characters
// (zero-width, bidi overrides): none of them belongs in an id, and they hide in logs.
const INVISIBLE = /[\s\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
// `%` is refused rather than encoded so that a value can never be "pre-encoded" and
// decoded twice by a proxy on the way (`%2F` → `/`).
const FORBIDDEN = ['/', '\\', '?', '#', '%'] as const;
// A lone surrogate cannot be percent-encoded (encodeURIComponent throws URIError).
const LONE_SURROGATE = /\p{Cs}/u;

export class InvalidIdError extends Error {
  /** The offending value, truncated and with invisible characters escaped (safe for messages). */
  readonly value: string;
  constructor(
    readonly kind: IdKind,
    raw: unknown,
    readonly reason: string,
  ) {
    const shown = typeof raw === 'string' ? displayValue(raw) : null;
    super(shown === null ? `${kind} (${describeType(raw)}): ${reason}` : `${kind} "${shown}": ${reason}`);
    this.name = 'InvalidIdError';
    this.value = shown ?? `(${describeType(raw)})`;
  }
}

function describeType(raw: unknown): string {
  return raw === null ? 'null' : Array.isArray(raw) ? 'array' : typeof raw;
}

/** At most 40 code points; anything invisible or quote-breaking becomes `\uXXXX`. */
export function displayValue(raw: string): string {
  const points = Array.from(raw);
  const head = points.slice(0, 40).map((ch) =>
    ch === '"' || ch === '\\' || (ch !== ' ' && INVISIBLE.test(ch)) || LONE_SURROGATE.test(ch)
      ? Array.from({ length: ch.length }, (_, i) => `\\u${ch.charCodeAt(i).toString(16).padStart(4, '0')}`).join('')
      : ch,
  );
  return head.join('') + (points.length > 40 ? '…' : '');
}

/** Returns `value` unchanged (never trimmed) when it is safe as one path segment. */
export function validatePathId(kind: IdKind, value: unknown): string {
  if (typeof value !== 'string') throw new InvalidIdError(kind, value, 'must be a string');
  if (value.length === 0) throw new InvalidIdError(kind, value, 'must not be empty');
  const max = MAX_LENGTH[kind];
  if (value.length > max) throw new InvalidIdError(kind, value, `must be at most ${max} characters`);
  if (INVISIBLE.test(value)) {
    throw new InvalidIdError(kind, value, 'must not contain whitespace or control characters');
  }
  if (LONE_SURROGATE.test(value)) throw new InvalidIdError(kind, value, 'must be well-formed unicode');
  for (const ch of FORBIDDEN) {
    if (value.includes(ch)) throw new InvalidIdError(kind, value, `must not contain "${ch}"`);
  }
  if (value === '.' || value === '..') throw new InvalidIdError(kind, value, 'must not be "." or ".."');
  // `me` is the token owner's own account: never what a bulk run over other users means.
  if (value.toLowerCase() === 'me') {
    throw new InvalidIdError(kind, value, 'must not be "me" (it names the token\'s own user)');
  }
  return value;
}

/** `validatePathId` for a command-line flag: an invalid value is a usage error (exit 2) naming the flag. */
export function flagId(kind: IdKind, flag: string, value: string): string {
  try {
    return validatePathId(kind, value);
  } catch (err) {
    if (err instanceof InvalidIdError) throw new UsageError(`${flag}: ${err.message}`);
    throw err;
  }
}

/** Validated and percent-encoded: exactly one path segment. */
export function pathSegment(kind: IdKind, value: unknown): string {
  return encodeURIComponent(validatePathId(kind, value));
}
