/** What a run id may be: it names Redis keys, report files and URLs, so no separators, spaces or quotes. */
export const RUN_ID = /^[A-Za-z0-9_.-]{1,64}$/;

/** The rule in words, after "expected". */
export const RUN_ID_RULE = '1 to 64 of A-Z a-z 0-9 _ . -';

/** A generated run id: `<prefix>-<UTC time to the second>-<6 random>`. */
export function newRunId(prefix = 'run'): string {
  const t = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${prefix}-${t}-${Math.random().toString(36).slice(2, 8)}`;
}
