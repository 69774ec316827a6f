import { execFileSync } from 'node:child_process';
import { Socket } from 'node:net';
import { constants, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Simulator } from '../../src/sim/index.ts';
import { runCli } from '../helpers/cli.ts';
import { uniqueRunId } from '../helpers/redis.ts';
import { envFor, startTestSim, writeCsv } from '../helpers/sim.ts';

let sim: Simulator;
let env: NodeJS.ProcessEnv;
let runId: string;
let sample: ReturnType<Simulator['org']['sampleUsers']>;

beforeAll(async () => {
  sim = await startTestSim({ users: 100 });
  env = envFor(sim);
  sample = sim.org.sampleUsers({ count: 3, status: 'ACTIVE', minGrants: 2 });
  runId = uniqueRunId('report');
  const csv = writeCsv([
    'userId,login,scopeId,department',
    `${sample[0]!.id},,*,"Sales, EMEA"`,
    `,${sample[1]!.login},*,IT`,
    `00uUNKNOWN0000000000,,*,HR`,
    `${sample[2]!.id},,${sample[2]!.grants[0]!.scopeId},IT`,
  ]);
  const r = await runCli(['run', '--csv', csv, '--snapshot', '--reason', 'ticket SEC-1, "quoted"', '--yes', '--run-id', runId], env);
  expect(r.code).toBe(0);
});
afterAll(async () => {
  await sim.close();
});

const RESULT_KEYS = ['userId', 'login', 'clientId', 'scopeId', 'grantId', 'status', 'grantsRevoked', 'grants', 'attempts', 'httpStatus', 'errorCode', 'errorSummary', 'errorId', 'line', 'finishedAt'];

describe('report', () => {
  it('prints the documented JSON shape, field by field', async () => {
    const r = await runCli(['report', runId, '--format', 'json'], env);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep).toMatchObject({
      runId,
      state: 'completed',
      dryRun: false,
      reason: 'ticket SEC-1, "quoted"',
      source: { kind: 'csv' },
      target: { clientId: null, scopeId: null },
      counts: { total: 4, pending: 0, revoked: 3, would_revoke: 0, nothing_to_revoke: 0, user_not_found: 1, invalid: 0, failed: 0 },
    });
    expect(Date.parse(rep.createdAt)).toBeLessThanOrEqual(Date.parse(rep.finishedAt));
    expect(rep.requests.total).toBeGreaterThanOrEqual(8);
    expect(rep.requests.rateLimited).toBe(0);
    expect(rep.results).toHaveLength(4);
    for (const x of rep.results) expect(Object.keys(x)).toEqual(RESULT_KEYS);
    const [a, b, c, d] = rep.results;
    expect(a).toMatchObject({ userId: sample[0]!.id, login: null, status: 'revoked', grantsRevoked: sample[0]!.grants.length, attempts: 1, httpStatus: 204, errorCode: null, line: 2 });
    expect(a.grants.map((g: { id: string }) => g.id).sort()).toEqual(sample[0]!.grants.map((g) => g.id).sort());
    expect(b).toMatchObject({ userId: sample[1]!.id, login: sample[1]!.login, status: 'revoked', line: 3 });
    expect(c).toMatchObject({ userId: '00uUNKNOWN0000000000', status: 'user_not_found', httpStatus: 404, errorCode: 'E0000007', line: 4 });
    expect(c.errorSummary).toMatch(/Not found/);
    expect(c.errorId).toEqual(expect.any(String));
    expect(d).toMatchObject({ scopeId: sample[2]!.grants[0]!.scopeId, status: 'revoked', line: 5 });
    expect(d.grantsRevoked).toBe(sample[2]!.grants.filter((g) => g.scopeId === sample[2]!.grants[0]!.scopeId).length);
    for (const x of rep.results) expect(new Date(x.finishedAt).toISOString()).toBe(x.finishedAt);
  });

  it('--status lists only the targets with those results, in JSON and CSV; the summary still counts them all', async () => {
    const json = JSON.parse((await runCli(['report', runId, '--status', 'user_not_found,failed'], env)).stdout);
    expect(json.counts).toMatchObject({ total: 4, revoked: 3, user_not_found: 1 });
    expect(json.resultsWithStatus).toEqual(['user_not_found', 'failed']);
    expect(json.results.map((x: { userId: string; status: string }) => [x.userId, x.status])).toEqual([['00uUNKNOWN0000000000', 'user_not_found']]);
    const csv = await runCli(['report', runId, '--format', 'csv', '--status', 'revoked'], env);
    expect(csv.code).toBe(0);
    const rows = parse(csv.stdout, { columns: true }) as Record<string, string>[];
    expect(rows.map((r) => r.line)).toEqual(['2', '3', '5']);
    expect(rows.every((r) => r.status === 'revoked')).toBe(true);
    // Nothing matches: the header alone.
    expect((await runCli(['report', runId, '--format', 'csv', '--status', 'failed'], env)).stdout.split('\n').filter(Boolean)).toHaveLength(1);
    for (const [args, message] of [
      [['--status', 'revokd'], /--status: "revokd" is not a result of a target; one or more of pending, revoked/],
      [['--status', ','], /--status: name at least one result/],
      [['--format', 'html', '--status', 'failed'], /--status chooses the rows of a json or csv report/],
    ] as const) {
      const r = await runCli(['report', runId, ...args], env);
      expect(r.stderr).toMatch(message);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
    }
  });

  it('prints the documented CSV, one row per target, matching the JSON', async () => {
    const json = JSON.parse((await runCli(['report', runId], env)).stdout);
    const r = await runCli(['report', runId, '--format', 'csv'], env);
    expect(r.code).toBe(0);
    const [header] = r.stdout.split('\n');
    // A --snapshot run: its grants as the last column.
    expect(header).toBe('userId,login,clientId,scopeId,grantId,status,grantsRevoked,attempts,httpStatus,errorCode,errorSummary,errorId,line,finishedAt,grants');
    const rows = parse(r.stdout, { columns: true }) as Record<string, string>[];
    expect(rows).toHaveLength(4);
    rows.forEach((row, i) => {
      const j = json.results[i];
      const { grants, ...rest } = row;
      for (const k of Object.keys(rest)) expect(row[k]).toBe(j[k] === null ? '' : String(j[k]));
      expect(grants).toBe(j.grants.map((g: { clientId: string; scopeId: string }) => `${g.clientId}:${g.scopeId}`).join(' '));
    });
  });

  it('writes to --out and refuses an unknown format', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'gs-out-')), 'r.csv');
    const toFile = await runCli(['report', runId, '--format', 'csv', '--out', out], env);
    expect(toFile.code).toBe(0);
    expect(toFile.stdout).toBe('');
    expect(readFileSync(out, 'utf8')).toBe((await runCli(['report', runId, '--format', 'csv'], env)).stdout);
    // A file that cannot be written is said, naming it, with exit 2: never a stream's unhandled error.
    const dir = mkdtempSync(join(tmpdir(), 'gs-out-bad-'));
    for (const [path, why] of [[join(dir, 'missing', 'r.json'), 'its folder does not exist'], [dir, 'it is a directory'], ['/dev/full', 'no space left on the device']] as const) {
      for (const format of ['json', 'html']) {
        const r = await runCli(['report', runId, '--format', format, '--out', path], env);
        expect(r.code, r.stderr).toBe(2);
        expect(r.stderr).toContain(`--out ${path}: cannot be written (${why})`);
        expect(r.stderr).not.toMatch(/unexpected error/);
      }
    }
    // A named pipe nobody reads would hold the open for ever: refused before it is opened.
    const fifo = join(dir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    const piped = await runCli(['report', runId, '--out', fifo], env);
    expect(piped.code, piped.stderr).toBe(2);
    expect(piped.stderr).toContain(`--out ${fifo}: cannot be written (a named pipe nobody reads)`);
    // One with a reader (as >(gzip > r.gz) gives) is written as a file is. The reader's end is
    // open before the report starts (non-blocking, so no writer is needed yet).
    const reader = new Socket({ fd: openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK), readable: true, writable: false });
    let read = '';
    reader.on('data', (d: Buffer) => (read += d.toString()));
    const readerDone = new Promise((r) => reader.on('end', r));
    const toPipe = await runCli(['report', runId, '--format', 'csv', '--out', fifo], env);
    await readerDone;
    reader.destroy();
    expect(toPipe.code, toPipe.stderr).toBe(0);
    expect(read).toBe(readFileSync(out, 'utf8'));
    // An empty --out (a variable left unset in a script) is refused, not taken for stdout.
    const empty = await runCli(['report', runId, '--out', ''], env);
    expect(empty.code).toBe(2);
    expect(empty.stdout).toBe('');
    expect(empty.stderr).toMatch(/--out: expected a file name, got an empty one/);
    const bad = await runCli(['report', runId, '--format', 'xml'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--format: expected json, csv or html/);
    const missing = await runCli(['report', 'no-such-run'], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no such run/);
  });
});

describe('a refused CSV', () => {
  it('enqueues nothing and makes no request when one row is bad', async () => {
    sim.log.reset();
    const id = uniqueRunId('refused');
    const csv = writeCsv(['userId', sample[0]!.id, '../admin', sample[1]!.id]);
    const r = await runCli(['run', '--csv', csv, '--yes', '--run-id', id], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/:3: .*userId/);
    expect(sim.log.snapshot().total).toBe(0);
    const status = await runCli(['status', id], env);
    expect(status.code).toBe(2);
    expect(status.stderr).toMatch(/no such run/);
  });
});
