import { UsageError } from '../errors.ts';
import type { SourceDescription } from './target.ts';

/**
 * `{{since}}` in a schedule's `--search` or `--filter`: each run asks only for what changed
 * after the last run of the schedule that completed, instead of the whole directory again
 * (`lastUpdated gt "{{since}}"`). A daily leaver run then costs the day's leavers, not every
 * leaver there ever was.
 */
export const SINCE = '{{since}}';

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;

/** Okta's date format for expressions (docs/okta-api.md §5.1): `2026-11-27T02:00:00.000Z`. */
export const oktaTime = (ms: number): string => new Date(ms).toISOString();

/**
 * Refuses a placeholder that would never be filled: `{{since}}` outside a schedule, an
 * unknown one in a schedule. A one-off run leaves other double braces alone (they may be
 * literal text in a value).
 */
export function checkPlaceholders(source: SourceDescription, scheduled: boolean): void {
  if (source.kind !== 'search' && source.kind !== 'filter') {
    if (scheduled && source.value.includes(SINCE)) throw new UsageError(`${SINCE} goes in --search or --filter, where it stands for a time; --${flagOf(source)} takes none`);
    return;
  }
  const names = [...source.value.matchAll(PLACEHOLDER)].map((m) => m[1]!);
  if (!scheduled) {
    if (names.includes('since')) {
      throw new UsageError(
        `--${source.kind}: ${SINCE} is filled in by a schedule (grantsweep schedule add) with the time of its last completed run; in a one-off run write the time itself, e.g. lastUpdated gt "${oktaTime(Date.now() - 86_400_000)}"`,
      );
    }
    return;
  }
  const unknown = names.find((n) => n !== 'since');
  if (unknown !== undefined) throw new UsageError(`--${source.kind}: unknown placeholder {{${unknown}}}: the one a schedule fills in is ${SINCE}`);
  // A placeholder mistyped (`{{since}`, `{since}`) would be sent as it is, every time, and match nobody.
  const rest = source.value.replace(PLACEHOLDER, '');
  if (rest.includes('{{') || rest.includes('}}') || /\{\s*since\s*\}/i.test(rest)) {
    throw new UsageError(`--${source.kind}: a placeholder is not written as ${SINCE} (two braces on each side): ${JSON.stringify(source.value.slice(0, 200))}`);
  }
}

export const usesSince = (source: SourceDescription): boolean =>
  (source.kind === 'search' || source.kind === 'filter') && [...source.value.matchAll(PLACEHOLDER)].some((m) => m[1] === 'since');

/** The source with `{{since}}` replaced by the time, in Okta's format. */
export function fillSince(source: SourceDescription, sinceMs: number): SourceDescription {
  return { ...source, value: source.value.replace(PLACEHOLDER, (whole, name: string) => (name === 'since' ? oktaTime(sinceMs) : whole)) };
}

const flagOf = (s: SourceDescription) => (s.kind === 'run' ? 'from-run' : s.kind);

/**
 * Whether `asked` is `template` with `{{since}}` filled in: the same query, whatever the time.
 * A schedule replaced with another query does not take its `{{since}}` from the old one's runs.
 */
export function sameScheduledQuery(template: SourceDescription, asked: SourceDescription): boolean {
  if (template.kind !== asked.kind) return false;
  const parts = template.value.split(PLACEHOLDER);
  // split keeps the captured names at odd indexes: the text between them is literal.
  const pattern = parts.map((p, i) => (i % 2 === 1 ? (p === 'since' ? '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z' : escape(`{{${p}}}`)) : escape(p))).join('');
  return new RegExp(`^${pattern}$`).test(asked.value);
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
