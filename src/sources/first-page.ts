import { UsageError } from '../errors.ts';
import { OktaApiError } from '../okta/errors.ts';
import type { SourceDescription, SourceItem } from './target.ts';

/**
 * Asks a directory query's first page before its run is stored: a query Okta refuses (a
 * malformed search or filter, an unknown group or app) is the command's mistake, said with
 * its flag, and leaves no halted run behind to hold the run id. Any other failure (a 401,
 * a network error, Ctrl-C while the page waits for its slot) comes out of the returned
 * items instead, so the run is stored halted with the reason, as for a later page.
 */
export async function firstPageFirst(items: AsyncIterable<SourceItem>, source: SourceDescription): Promise<AsyncIterable<SourceItem>> {
  const it = items[Symbol.asyncIterator]();
  let first: IteratorResult<SourceItem>;
  try {
    first = await it.next();
  } catch (err) {
    if (err instanceof OktaApiError && (err.kind === 'invalid_request' || err.kind === 'not_found')) {
      const said = [err.status, err.errorCode, err.errorSummary].filter(Boolean).join(' ');
      throw new UsageError(`--${source.kind} ${JSON.stringify(source.value)}: Okta refused the query (${said}); nothing was enqueued`);
    }
    return (async function* () {
      throw err;
    })();
  }
  return (async function* () {
    try {
      if (first.done) return;
      yield first.value;
      for (let next = await it.next(); !next.done; next = await it.next()) yield next.value;
    } finally {
      await it.return?.();
    }
  })();
}
