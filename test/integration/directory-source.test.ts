import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { OktaClient } from '../../src/okta/client.ts';
import type { AppUser, OktaUser } from '../../src/okta/types.ts';
import { readDirectoryTargets } from '../../src/sources/directory-source.ts';
import type { SourceItem } from '../../src/sources/target.ts';

const CLIENT = new URL('../../src/okta/client.ts', import.meta.url);
const TOKEN = 'itest-token';

const user = (id: string): OktaUser => ({ id, status: 'ACTIVE', profile: { login: `${id}@example.com` } });

/**
 * A tiny Okta: three listings of two pages each, cursors in `after`, Link headers as Okta
 * sends them (self and next; the group listing sends them as two separate headers).
 */
const LISTINGS: Record<string, unknown[][]> = {
  '/api/v1/users': [[user('00u1'), user('00u2')], [user('00u3')]],
  '/api/v1/groups/00gSales/users': [[user('00u4')], [user('00u5'), user('00u6')]],
  '/api/v1/apps/0oaApp/users': [
    [{ id: '00u7', credentials: { userName: 'seven@example.com' } } satisfies AppUser],
    [{ id: '00u8', credentials: {} } satisfies AppUser],
  ],
};

describe.skipIf(!existsSync(CLIENT))('readDirectoryTargets against an HTTP Okta', () => {
  let server: Server;
  let origin: string;
  let client: OktaClient;
  let requests: URL[] = [];

  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const url = new URL(req.url ?? '/', origin);
      requests.push(url);
      const pages = LISTINGS[url.pathname];
      if (req.headers.authorization !== `SSWS ${TOKEN}`) return send(res, 401, { errorCode: 'E0000011', errorSummary: 'Invalid token provided' });
      if (pages === undefined) return send(res, 404, { errorCode: 'E0000007', errorSummary: 'Not found: Resource not found' });
      const page = Number(url.searchParams.get('after') ?? '0');
      const self = `<${url.href}>; rel="self"`;
      const next = new URL(url.href);
      next.searchParams.set('after', String(page + 1));
      const links = page + 1 < pages.length ? [self, `<${next.href}>; rel="next"`] : [self];
      res.setHeader('link', url.pathname.startsWith('/api/v1/groups') ? links : links.join(', '));
      send(res, 200, pages[page] ?? []);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { OktaClient } = await import('../../src/okta/client.ts');
    const { ApiTokenAuth } = await import('../../src/okta/auth.ts');
    client = new OktaClient({ orgUrl: origin, auth: new ApiTokenAuth(TOKEN) });
  });

  afterAll(async () => {
    await client?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  beforeEach(() => {
    requests = [];
  });

  async function userIds(gen: AsyncGenerator<SourceItem>): Promise<(string | null)[][]> {
    const out: (string | null)[][] = [];
    for await (const item of gen) if (item.kind === 'target') out.push([item.target.userId, item.target.login]);
    return out;
  }

  it('follows next links through every page of a search', async () => {
    const got = await userIds(readDirectoryTargets(client, { kind: 'search', value: 'status eq "ACTIVE"' }, { runId: 'r1' }));
    expect(got).toEqual([
      ['00u1', '00u1@example.com'],
      ['00u2', '00u2@example.com'],
      ['00u3', '00u3@example.com'],
    ]);
    expect(requests.map((u) => u.searchParams.get('search'))).toEqual(['status eq "ACTIVE"', 'status eq "ACTIVE"']);
    expect(requests[0]!.searchParams.get('limit')).toBe('200');
  });

  it('reads a group whose Link arrives as two headers', async () => {
    const got = await userIds(readDirectoryTargets(client, { kind: 'group', value: '00gSales' }));
    expect(got.map(([id]) => id)).toEqual(['00u4', '00u5', '00u6']);
  });

  it('reads app users by user id, with the app userName as login when there is one', async () => {
    const got = await userIds(readDirectoryTargets(client, { kind: 'app', value: '0oaApp' }));
    expect(got).toEqual([
      ['00u7', 'seven@example.com'],
      ['00u8', null],
    ]);
  });

  it('asks for the next page only when the consumer wants more', async () => {
    const gen = readDirectoryTargets(client, { kind: 'search', value: 'x' });
    await gen.next();
    await gen.next();
    expect(requests).toHaveLength(1);
    await gen.next();
    expect(requests).toHaveLength(2);
    await gen.return(undefined);
  });

  it('lets an Okta error end the listing', async () => {
    const err = await userIds(readDirectoryTargets(client, { kind: 'group', value: '00gMissing' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(requests.map((u) => u.pathname)).toEqual(['/api/v1/groups/00gMissing/users']);
  });
});

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'x-rate-limit-limit': '600', 'x-rate-limit-remaining': '599', 'x-rate-limit-reset': String(Math.floor(Date.now() / 1000) + 60) });
  res.end(JSON.stringify(body));
}
