/** What a run id may be: it names Redis keys, report files and URLs, so no separators, spaces or quotes. */
export const RUN_ID = /^[A-Za-z0-9_.-]{1,64}$/;

/** The rule in words, after "expected". */
export const RUN_ID_RULE = '1 to 64 of A-Z a-z 0-9 _ . -';

/** A time as run ids carry it: UTC to the second, `20261127T020000Z`. */
export const utcSecond = (at: number): string => new Date(at).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');

/** A generated run id: `<prefix>-<UTC time to the second>-<6 random>`. */
export function newRunId(prefix = 'run'): string {
  return `${prefix}-${utcSecond(Date.now())}-${Math.random().toString(36).slice(2, 8)}`;
}
