import { UsageError } from '../errors.ts';
import { flagId, InvalidIdError, validatePathId } from '../okta/ids.ts';
import type { AppUser, OktaUser } from '../okta/types.ts';
import type { RequestContext } from '../okta/client.ts';
import type { SourceDescription, SourceItem } from './target.ts';

/** What a directory source needs from the Okta client (OktaClient satisfies it; tests pass fakes). */
export interface DirectoryClient {
  listUsers(query: { search?: string; filter?: string; limit?: number }, ctx?: RequestContext): AsyncIterable<OktaUser>;
  listGroupUsers(groupId: string, query: { limit?: number }, ctx?: RequestContext): AsyncIterable<OktaUser>;
  listAppUsers(appId: string, query: { limit?: number }, ctx?: RequestContext): AsyncIterable<AppUser>;
}

export interface DirectorySourceOptions {
  runId?: string;
  /** Each page's response: the run counts its listing's requests with its revocations'. */
  onResponse?: RequestContext['onResponse'];
  onNoAnswer?: RequestContext['onNoAnswer'];
  /** Page size asked of Okta. 200 is the documented maximum for users and Okta's advice for groups. */
  pageSize?: number;
}

/**
 * Yields one `{userId, login}` target per user the directory lists, as the client's
 * iterator produces them: the next page is fetched only when the consumer asks for more,
 * so enqueuing sets the pace. User ids from Okta pass the same path-segment check as CSV
 * ids; a user whose id fails it becomes an invalid row whose `line` is its position in the
 * listing. The login is only carried for the report, so one that fails the check (an app
 * userName like `CORP\bob`) is dropped rather than costing the user its revocation.
 * The same user may appear twice (listings are eventually consistent across pages);
 * targetKey() deduplicates downstream.
 */
export async function* readDirectoryTargets(
  client: DirectoryClient,
  source: SourceDescription,
  opts: DirectorySourceOptions = {},
): AsyncGenerator<SourceItem> {
  const ctx = opts.runId === undefined ? undefined : { runId: opts.runId, onResponse: opts.onResponse, onNoAnswer: opts.onNoAnswer };
  const limit = opts.pageSize ?? 200;
  let position = 0;
  for await (const entry of listing(client, source, limit, ctx)) {
    position++;
    try {
      const userId = validatePathId('userId', entry.id);
      const login = entry.login !== null && isPathId(entry.login) ? entry.login : null;
      yield { kind: 'target', target: { userId, login, clientId: null, scopeId: null, grantId: null, line: null } };
    } catch (err) {
      if (!(err instanceof InvalidIdError)) throw err;
      const problem = `${source.kind} ${JSON.stringify(source.value)}, user #${position}: ${err.message}`;
      yield { kind: 'invalid', row: { line: position, problem } };
    }
  }
}

/** Okta scopes the service app needs to read this source (the run adds okta.users.read/manage for grants). */
export function requiredScopes(source: SourceDescription): string[] {
  switch (source.kind) {
    case 'search':
    case 'filter':
      return ['okta.users.read'];
    case 'group':
      return ['okta.users.read', 'okta.groups.read'];
    case 'app':
      return ['okta.apps.read'];
    case 'csv':
    case 'run':
      return [];
  }
}

type Entry = { id: unknown; login: string | null };

async function* listing(
  client: DirectoryClient,
  source: SourceDescription,
  limit: number,
  ctx: RequestContext | undefined,
): AsyncGenerator<Entry> {
  switch (source.kind) {
    case 'search':
    case 'filter': {
      const expression = source.value.trim();
      // An empty expression would list every non-deprovisioned user: never by accident.
      if (expression === '') throw new UsageError(`--${source.kind}: expected an Okta ${source.kind} expression, got an empty string`);
      for await (const u of client.listUsers({ [source.kind]: expression, limit }, ctx)) yield userEntry(u);
      return;
    }
    case 'group': {
      const groupId = flagId('groupId', '--group', source.value);
      for await (const u of client.listGroupUsers(groupId, { limit }, ctx)) yield userEntry(u);
      return;
    }
    case 'app': {
      const appId = flagId('appId', '--app', source.value);
      for await (const u of client.listAppUsers(appId, { limit }, ctx)) yield appUserEntry(u);
      return;
    }
    case 'csv':
    case 'run':
      throw new Error(`readDirectoryTargets() was given a ${source.kind} source`);
  }
}

function isPathId(login: string): boolean {
  try {
    validatePathId('login', login);
    return true;
  } catch {
    return false; // only ever an InvalidIdError: validatePathId throws nothing else
  }
}

function userEntry(u: OktaUser): Entry {
  return { id: u.id, login: nonEmpty(u.profile?.login) };
}

/**
 * An AppUser's `id` is the Okta user id. Its `credentials.userName` is the name the app
 * knows the user by, which need not be the Okta login, so the embedded user's login wins
 * when the listing was expanded; the userName is only a fallback for the report.
 */
function appUserEntry(u: AppUser): Entry {
  return { id: u.id, login: nonEmpty(u._embedded?.user?.profile?.login) ?? nonEmpty(u.credentials?.userName) };
}

function nonEmpty(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}
