/*
 * A user name or password inside a URL (REDIS_URL, HTTP(S)_PROXY) is percent-encoded; one that
 * cannot be decoded is refused with the settings, by its part's name, never shown.
 */

/** What such a part breaks, said without it. */
export const PERCENT_RULE = 'is not valid percent-encoding (a "%" must be followed by two hex digits; write %25 for a "%" of its own)';

/** `text` percent-decoded, or null when it cannot be. */
export function percentDecoded(text: string): string | null {
  try {
    return decodeURIComponent(text);
  } catch {
    return null;
  }
}
