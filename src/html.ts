/**
 * Markup built from values, safely: the `html` tag escapes every interpolation unless it is
 * markup that `html` built, or `raw()` markup of a page's own (its style, script, CSP). The
 * run report and the dashboard build their pages with it; a value from Redis or a CSV never
 * reaches them unescaped.
 */

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

/** Text safe in a text node and in a quoted attribute; null and undefined are empty. */
export function esc(value: unknown): string {
  if (value === null || value === undefined) return '';
  return String(value).replace(/[&<>"'`]/g, (c) => ESCAPES[c]!);
}

/** Markup that is already safe: built by `html` from escaped parts, or `raw()`. */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

/** A page's own markup (never a value). */
export const raw = (s: string) => new Html(s);

export type Part = Html | string | number | boolean | null | undefined | readonly Part[];

function render(part: Part): string {
  if (part instanceof Html) return part.value;
  if (Array.isArray(part)) return part.map(render).join('');
  if (part === null || part === undefined || part === false) return '';
  return esc(part);
}

/** Escapes each interpolation unless it is `Html`; arrays are joined; null, undefined and false render nothing. */
export function html(strings: TemplateStringsArray, ...parts: Part[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < parts.length; i++) out += render(parts[i]!) + strings[i + 1]!;
  return new Html(out);
}
