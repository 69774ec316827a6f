import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';

const ROOT = new URL('../../', import.meta.url).pathname;

/** A tiny program with only `sim` registered, and an error boundary like the CLI's. */
const SCRIPT = `
import { Command, CommanderError } from 'commander';
import { registerSimCommand } from './src/sim/cli.ts';
const program = new Command('grantsweep').exitOverride();
registerSimCommand(program);
program.parseAsync(process.argv.slice(1), { from: 'user' }).catch((e) => {
  if (!(e instanceof CommanderError)) process.stderr.write('grantsweep: ' + e.message + '\\n');
  process.exitCode = e instanceof CommanderError ? 2 : (e.exitCode ?? 1);
});
`;

const children: ChildProcessWithoutNullStreams[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

function sim(args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', SCRIPT, 'sim', ...args], { cwd: ROOT });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const firstLine = new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`exited ${code} before printing: ${stderr}`)));
  });
  // Tests of bad options never wait for the line.
  firstLine.catch(() => undefined);
  return { child, exited, firstLine, out: () => stdout, err: () => stderr };
}

async function get(url: string, token: string) {
  const res = await request(url, { headers: { authorization: `SSWS ${token}` } });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, body: JSON.parse(text) };
}

describe('grantsweep sim', () => {
  it('prints one JSON line, serves grants with a Link header, and stops on SIGTERM', async () => {
    const run = sim(['--users', '200', '--seed', '4', '--grants-per-user', '5']);
    const ready = JSON.parse(await run.firstLine) as Record<string, unknown>;
    expect(Object.keys(ready)).toEqual(['url', 'token', 'readOnlyToken', 'users']);
    expect(ready.users).toBe(200);
    expect(String(ready.url)).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const sample = (await (await request(`${ready.url}/__sim/users?count=1&minGrants=3`)).body.json()) as { id: string }[];
    const page = await get(`${ready.url}/api/v1/users/${sample[0]!.id}/grants?limit=2`, String(ready.token));
    expect(page.status).toBe(200);
    expect(page.body).toHaveLength(2);
    const link = ([] as string[]).concat(page.headers.link ?? []).join(', ');
    expect(link).toContain('rel="self"');
    expect(link).toMatch(/<http:\/\/127\.0\.0\.1:\d+\/api\/v1\/users\/00u\w+\/grants\?limit=2&after=[\w-]+>; rel="next"/);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(run.out().trim().split('\n')).toHaveLength(1);
  });

  it('honours --token, --no-rate-limit and --write-csv with --count', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gs-sim-cli-'));
    const csv = join(dir, 'leavers.csv');
    const run = sim(['--users', '300', '--token', '00myOwnToken', '--no-rate-limit', '--write-csv', csv, '--count', '6']);
    const ready = JSON.parse(await run.firstLine) as { url: string; token: string };
    expect(ready.token).toBe('00myOwnToken');
    const lines = readFileSync(csv, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('userId,login,email');
    expect(lines).toHaveLength(7);
    const [id, login, email] = lines[1]!.split(',');
    expect(login).toBe(email);
    const user = await get(`${ready.url}/api/v1/users/${id}`, ready.token);
    expect(user.body).toMatchObject({ status: 'ACTIVE', profile: { login } });
    expect(Number(user.headers['x-rate-limit-limit'])).toBeGreaterThanOrEqual(100_000);
    const grants = await get(`${ready.url}/api/v1/users/${id}/grants`, ready.token);
    expect(grants.body.length).toBeGreaterThan(0);
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(0);
  });

  it.each([
    [['--users', 'lots'], '--users'],
    [['--rate-limit', 'grants=10'], '--rate-limit'],
    [['--error-rate', '3'], '--error-rate'],
  ])('exits 2 with one clear stderr line for %j', async (args, flag) => {
    const run = sim(args);
    expect(await run.exited).toBe(2);
    const lines = run.err().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]!.startsWith(`grantsweep: ${flag}`)).toBe(true);
    expect(run.out()).toBe('');
  });
});
