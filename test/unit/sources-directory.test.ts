import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.ts';
import type { AppUser, OktaUser } from '../../src/okta/types.ts';
import { readDirectoryTargets, requiredScopes, type DirectoryClient } from '../../src/sources/directory-source.ts';
import type { SourceItem } from '../../src/sources/target.ts';

const user = (id: string, login = `${id}@example.com`): OktaUser => ({ id, status: 'ACTIVE', profile: { login } });

/** A client whose listings come in pages and which records every call and every page served. */
function fakeClient(pages: { users?: OktaUser[][]; apps?: AppUser[][] }) {
  const calls: { method: string; args: unknown[] }[] = [];
  let pagesServed = 0;
  async function* paged<T>(p: T[][] = []) {
    for (const page of p) {
      pagesServed++;
      yield* page;
    }
  }
  const client: DirectoryClient = {
    listUsers: (q, ctx) => (calls.push({ method: 'listUsers', args: [q, ctx] }), paged(pages.users)),
    listGroupUsers: (id, q, ctx) => (calls.push({ method: 'listGroupUsers', args: [id, q, ctx] }), paged(pages.users)),
    listAppUsers: (id, q, ctx) => (calls.push({ method: 'listAppUsers', args: [id, q, ctx] }), paged(pages.apps)),
  };
  return { client, calls, pagesServed: () => pagesServed };
}

async function all(gen: AsyncGenerator<SourceItem>): Promise<SourceItem[]> {
  const out: SourceItem[] = [];
  for await (const item of gen) out.push(item);
  return out;
}

const target = (userId: string, login: string | null) => ({
  kind: 'target',
  target: { userId, login, clientId: null, scopeId: null, grantId: null, line: null },
});

describe('readDirectoryTargets', () => {
  it('lists users for a search, passing the expression, a page size and the run id', async () => {
    const fake = fakeClient({ users: [[user('00u1'), user('00u2')], [user('00u3')]] });
    const items = await all(readDirectoryTargets(fake.client, { kind: 'search', value: 'status eq "ACTIVE"' }, { runId: 'r1' }));
    expect(items).toEqual([target('00u1', '00u1@example.com'), target('00u2', '00u2@example.com'), target('00u3', '00u3@example.com')]);
    expect(fake.calls).toEqual([{ method: 'listUsers', args: [{ search: 'status eq "ACTIVE"', limit: 200 }, { runId: 'r1' }] }]);
  });

  it('uses filter for a filter source', async () => {
    const fake = fakeClient({ users: [[user('00u1')]] });
    await all(readDirectoryTargets(fake.client, { kind: 'filter', value: 'status eq "SUSPENDED"' }));
    expect(fake.calls[0]).toEqual({ method: 'listUsers', args: [{ filter: 'status eq "SUSPENDED"', limit: 200 }, undefined] });
  });

  it('pulls the next page only when the consumer asks for more', async () => {
    const fake = fakeClient({ users: [[user('00u1'), user('00u2')], [user('00u3')], [user('00u4')]] });
    const gen = readDirectoryTargets(fake.client, { kind: 'group', value: '00g1' });
    await gen.next();
    await gen.next();
    expect(fake.pagesServed()).toBe(1);
    await gen.next();
    expect(fake.pagesServed()).toBe(2);
    await gen.return(undefined);
    expect(fake.pagesServed()).toBe(2);
  });

  it('lists a group by its validated id', async () => {
    const fake = fakeClient({ users: [[user('00u1')]] });
    await all(readDirectoryTargets(fake.client, { kind: 'group', value: '00gAbc' }));
    expect(fake.calls).toEqual([{ method: 'listGroupUsers', args: ['00gAbc', { limit: 200 }, undefined] }]);
  });

  it.each([
    ['group', '../apps', /^--group: groupId "\.\.\/apps": must not contain "\/"$/],
    ['app', 'a?b', /^--app: appId "a\?b": must not contain "\?"$/],
    ['search', '  ', /^--search: expected an Okta search expression, got an empty string$/],
    ['filter', '', /^--filter: expected an Okta filter expression/],
  ] as const)('refuses a %s source of %j before calling Okta', async (kind, value, message) => {
    const fake = fakeClient({ users: [[user('00u1')]] });
    const err = await all(readDirectoryTargets(fake.client, { kind, value })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(message);
    expect(fake.calls).toEqual([]);
  });

  it('takes app users by user id, preferring the embedded Okta login over the app userName', async () => {
    const fake = fakeClient({
      apps: [
        [
          { id: '00u1', credentials: { userName: 'app-name-1' }, _embedded: { user: user('00u1', 'real1@example.com') } },
          { id: '00u2', credentials: { userName: 'app-name-2' } },
          { id: '00u3' },
          { id: '00u4', credentials: { userName: 'CORP\\bob' } },
        ],
      ],
    });
    const items = await all(readDirectoryTargets(fake.client, { kind: 'app', value: '0oaApp' }));
    expect(items).toEqual([target('00u1', 'real1@example.com'), target('00u2', 'app-name-2'), target('00u3', null), target('00u4', null)]);
    expect(fake.calls[0]).toEqual({ method: 'listAppUsers', args: ['0oaApp', { limit: 200 }, undefined] });
  });

  it('turns a user whose id is not a safe path segment into an invalid row numbered by position', async () => {
    const fake = fakeClient({ users: [[user('00u1'), user('../admin'), user('00u3')]] });
    const items = await all(readDirectoryTargets(fake.client, { kind: 'search', value: 'x' }));
    expect(items[1]).toEqual({ kind: 'invalid', row: { line: 2, problem: 'search "x", user #2: userId "../admin": must not contain "/"' } });
    expect(items.filter((i) => i.kind === 'target')).toHaveLength(2);
  });

  it('lets an error from the client reach the caller', async () => {
    const client: DirectoryClient = {
      listUsers: async function* () {
        yield user('00u1');
        throw new Error('403 from Okta');
      },
      listGroupUsers: () => (async function* () {})(),
      listAppUsers: () => (async function* () {})(),
    };
    const gen = readDirectoryTargets(client, { kind: 'search', value: 'x' });
    expect((await gen.next()).value).toEqual(target('00u1', '00u1@example.com'));
    await expect(gen.next()).rejects.toThrow('403 from Okta');
  });
});

describe('requiredScopes', () => {
  it.each([
    ['search', ['okta.users.read']],
    ['filter', ['okta.users.read']],
    ['group', ['okta.users.read', 'okta.groups.read']],
    ['app', ['okta.apps.read']],
    ['csv', []],
  ] as const)('for a %s source is %j', (kind, scopes) => {
    expect(requiredScopes({ kind, value: 'x' })).toEqual(scopes);
  });
});
