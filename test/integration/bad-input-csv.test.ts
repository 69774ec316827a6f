import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Simulator } from '../../src/sim/index.ts';
import { runCli } from '../helpers/cli.ts';
import { reportOf } from '../helpers/fleet.ts';
import { uniqueRunId } from '../helpers/redis.ts';
import { envFor, startTestSim } from '../helpers/sim.ts';

/**
 * Bad input through the CLI: every file of the corpus (test/fixtures/csv from the
 * source's unit tests, test/fixtures/bad-input for this suite, and a megabyte line made
 * here) either is refused whole — exit 2, one line naming the line and the problem,
 * not a single request on the simulator — or runs, and then the simulator's request log
 * shows exactly the requests its rows mean, nothing else.
 */

const csv = (name: string) => join(import.meta.dirname, '../fixtures/csv', name);
const bad = (name: string) => join(import.meta.dirname, '../fixtures/bad-input', name);

let sim: Simulator;
let env: NodeJS.ProcessEnv;
beforeAll(async () => {
  sim = await startTestSim({ users: 50, recordRequests: 1_000 });
  env = envFor(sim);
});
afterAll(async () => {
  await sim?.close();
});
beforeEach(() => sim.log.reset());

/** Refused: exit 2, stderr's only `file:line:` line names that line and the problem; no request made. */
async function refused(path: string, line: number | null, problem: RegExp, extra: string[] = []) {
  const r = await runCli(['run', '--csv', path, '--yes', ...extra], env);
  expect(r.code, r.stderr).toBe(2);
  expect(r.stdout).toBe('');
  const named = r.stderr.split('\n').filter((l) => new RegExp(`${escape(path)}:\\d+: `).test(l));
  if (line === null) {
    expect(r.stderr.split('\n').filter(Boolean)[0]).toMatch(new RegExp(`^grantsweep: ${escape(path)}: `));
    expect(r.stderr).toMatch(problem);
  } else {
    expect(named, r.stderr).toHaveLength(1);
    expect(named[0]).toMatch(new RegExp(`${escape(path)}:${line}: `));
    expect(named[0]).toMatch(problem);
    // One readable line: the value is cut short and invisible characters are escaped.
    expect(named[0]!.length).toBeLessThan(300);
  }
  expect(r.stderr).not.toMatch(/unexpected error|\bat .*\.ts:\d+/);
  expect(sim.log.snapshot().total).toBe(0);
  return r;
}

/** Accepted: exit 0, and the simulator saw exactly `requests` (method + raw path), in any order. */
async function accepted(path: string, requests: string[], extra: string[] = []) {
  const runId = uniqueRunId('input');
  const r = await runCli(['run', '--csv', path, '--yes', '--run-id', runId, ...extra], env);
  expect(r.code, r.stdout + r.stderr).toBe(0);
  const seen = sim.log.requests().map((e) => `${e.method} ${e.path}${e.query ? `?${e.query}` : ''}`);
  expect(seen.sort()).toEqual([...requests].sort());
  return { r, rep: await reportOf(runId, env) };
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('bad input: files refused whole (exit 2, no request)', () => {
  it('an empty file', () => refused(csv('empty.csv'), null, /empty file/));
  it('a header only', () => refused(csv('header-only.csv'), null, /no targets: the header row is followed by no rows/));
  it('a header and blank rows only (a spreadsheet\'s ,,)', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'gs-blank-')), 'blank.csv');
    writeFileSync(path, 'userId,clientId\n,\n\n,\n');
    return refused(path, null, /no targets: the 2 rows after the header are all blank \(every cell empty\)/);
  });
  it('no userId or login column', () => refused(csv('no-user-column.csv'), 1, /must name a userId or login column/));
  it('binary garbage', () => refused(csv('binary.bin'), 1, /not UTF-8 text/));
  it('a NUL byte in the middle', () => refused(bad('nul-byte.csv'), 3, /not UTF-8 text \(a NUL byte\)/));
  it('UTF-16 text', () => refused(bad('utf16.csv'), 1, /UTF-16 byte order mark; save the file as UTF-8/));
  it('a quote that never closes', () => refused(bad('unterminated-quote.csv'), 2, /quote/));
  it('a row with more fields than the header', () => refused(bad('field-count.csv'), 3, /expected 2 fields as in the header, got 3/));

  it('a line of a megabyte', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'gs-bad-')), 'megabyte.csv');
    writeFileSync(path, `userId\n00u1fine\n${'A'.repeat(1024 * 1024)}\n00u2fine\n`);
    await refused(path, 3, /row longer than 65536 bytes/);
  });

  it('a megabyte inside an unclosed quoted field', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'gs-bad-')), 'megaquote.csv');
    writeFileSync(path, `userId,note\n00u1fine,"${'line\n'.repeat(200_000)}`);
    await refused(path, 2, /row longer than 65536 bytes \(if the row looks short, a quote that opens here is never closed\)/);
  });
});

describe('bad input: a file that is not the one checked', () => {
  it('a pipe or a device (read twice: checked, then stored) is refused before anything is stored', async () => {
    const runId = uniqueRunId('not-regular');
    const r = await runCli(['run', '--csv', '/dev/null', '--yes', '--run-id', runId], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/\/dev\/null: is not a regular file \(a pipe or a device\)/);
    expect((await runCli(['status', runId], env)).code).toBe(2);
    expect(sim.log.snapshot().total).toBe(0);
  });

  it('a CSV rewritten while its confirmation waits: the run is stored halted, and no user of either file is revoked', async () => {
    const [confirmed, other] = [sim.org.sampleUsers({ count: 1, status: 'ACTIVE', minGrants: 1 }), sim.org.sampleUsers({ count: 2, status: 'ACTIVE', minGrants: 1, offset: 20 })];
    const path = join(mkdtempSync(join(tmpdir(), 'gs-toctou-')), 'leavers.csv');
    writeFileSync(path, `userId\n${confirmed[0]!.id}\n`);
    const runId = uniqueRunId('toctou');
    let asked = '';
    const r = await runCli(['run', '--csv', path, '--run-id', runId], env, {
      tty: true,
      confirm: async (question) => {
        asked = question;
        // Someone (or a sync job) rewrites the file between the check and the answer.
        writeFileSync(path, `userId\n${other.map((u) => u.id).join('\n')}\nbad/row\n`);
        return true;
      },
    });
    expect(asked).toMatch(/Revoke all grants of 1 targets/);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/leavers\.csv: changed after it was checked/);
    expect((await reportOf(runId, env)).state).toBe('halted');
    expect(Object.keys(sim.log.snapshot().byEndpoint).filter((e) => e.startsWith('DELETE'))).toEqual([]);
  });
});

describe('bad input: ids that would leave their path segment are refused with their line', () => {
  const cases: [string, RegExp][] = [
    ['id-dotdot.csv', /userId "\.\.\/00uVictim": must not contain "\/"/],
    ['id-slash.csv', /userId "a\/b": must not contain "\/"/],
    ['id-pct-dotdot.csv', /userId "%2e%2e": must not contain "%"/],
    ['id-space.csv', /userId "00u1 space": must not contain whitespace or control characters/],
    ['id-control.csv', /userId "00u1\\u0007bell": must not contain whitespace or control characters/],
    ['id-me.csv', /userId "me": must not be "me"/],
    ['id-10000.csv', /userId "x{40}…": must be at most 100 characters/],
  ];
  for (const [file, problem] of cases) {
    it(`${file}: exit 2 naming line 3`, async () => {
      const r = await refused(bad(file), 3, problem);
      // One line says it all: where, what, and the way out.
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/nothing was enqueued.*--skip-invalid/);
    });
  }
  it('a login of ".."', () => refused(bad('login-traversal.csv'), 3, /login "\.\.": must not be "\." or "\.\."/));
  it('the whole bad-ids corpus: every bad row listed with its own line', async () => {
    const again = await runCli(['run', '--csv', csv('bad-ids.csv'), '--yes'], env);
    expect(again.code).toBe(2);
    const lines = again.stderr.split('\n').filter((l) => /bad-ids\.csv:\d+:/.test(l));
    expect(lines.map((l) => Number(/bad-ids\.csv:(\d+):/.exec(l)![1]))).toEqual([2, 3, 4, 5, 6, 7]);
    expect(sim.log.snapshot().total).toBe(0);
  });
});

describe('bad input: --skip-invalid runs the valid rows and reports the invalid ones with their line', () => {
  it('bad-ids.csv: only the good row reaches Okta; six rows are `invalid` with line and problem', async () => {
    const runId = uniqueRunId('skip');
    const r = await runCli(['run', '--csv', csv('bad-ids.csv'), '--yes', '--skip-invalid', '--run-id', runId], env);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stderr).toMatch(/6 invalid rows are reported as invalid/);
    expect(sim.log.requests().map((e) => `${e.method} ${e.path}`)).toEqual(['GET /api/v1/users/00u1good/clients']);
    const rep = await reportOf(runId, env);
    const invalid = rep.results.filter((x) => x.status === 'invalid');
    expect(invalid.map((x) => x.line)).toEqual([2, 3, 4, 5, 6, 7]);
    expect(invalid.map((x) => x.errorCode)).toEqual(Array(6).fill('INVALID_ROW'));
    expect(invalid[0]!.errorSummary).toMatch(/must not contain "\/"/);
    expect(invalid[5]!.errorSummary).toMatch(/must not be "me"/);
    // No id of an invalid row is carried into the report as if it were a target.
    expect(invalid.every((x) => x.userId === null && x.clientId === null)).toBe(true);
    expect(rep.counts).toMatchObject({ total: 7, invalid: 6, user_not_found: 1, pending: 0 });
  });

  it('a 10,000-character id with --skip-invalid: the neighbours run, the long one is reported', async () => {
    const runId = uniqueRunId('skip-long');
    const r = await runCli(['run', '--csv', bad('id-10000.csv'), '--yes', '--skip-invalid', '--run-id', runId], env);
    expect(r.code).toBe(0);
    expect(sim.log.requests().map((e) => e.path).sort()).toEqual([
      '/api/v1/users/00u1validRow00000001/grants',
      '/api/v1/users/00u1validRow00000002/grants',
    ]);
    const rep = await reportOf(runId, env);
    expect(rep.results.map((x) => [x.line, x.status])).toEqual([[2, 'user_not_found'], [3, 'invalid'], [4, 'user_not_found']]);
  });
});

describe('bad input: odd but valid files run, and Okta sees exactly what the rows mean', () => {
  it('a BOM: the first column is still userId', async () => {
    const { rep } = await accepted(csv('bom.csv'), ['DELETE /api/v1/users/00u1bom/grants', 'DELETE /api/v1/users/00u2bom/grants']);
    expect(rep.results.map((x) => [x.userId, x.line])).toEqual([['00u1bom', 2], ['00u2bom', 3]]);
  });

  it('CRLF line ends: no \\r reaches an id', async () => {
    const { rep } = await accepted(csv('crlf.csv'), ['GET /api/v1/users/00u1crlf/clients', 'GET /api/v1/users/00u2crlf/clients']);
    // The empty last cell of a CRLF line is null, not "\r".
    expect(rep.results.map((x) => [x.userId, x.login, x.clientId])).toEqual([['00u1crlf', 'one@example.com', '0oa1'], ['00u2crlf', null, '0oa2']]);
  });

  it('quoted fields with commas, quotes and line breaks: lines are where each record starts', async () => {
    const { rep } = await accepted(csv('quoted.csv'), [
      'DELETE /api/v1/users/00u1quoted/grants',
      'DELETE /api/v1/users/00u2quoted/grants',
      'DELETE /api/v1/users/00u3quoted/grants',
    ]);
    expect(rep.results.map((x) => [x.login, x.line])).toEqual([['o"brien,x@example.com', 2], ['plain@example.com', 3], ['last@example.com', 6]]);
  });

  it('blank lines (and a row of bare commas) are skipped, lines still counted', async () => {
    const { rep } = await accepted(csv('blank-lines.csv'), [
      'DELETE /api/v1/users/00u1blank/grants',
      'DELETE /api/v1/users/00u2blank/grants',
      'DELETE /api/v1/users/00u3blank/grants',
    ]);
    expect(rep.results.map((x) => x.line)).toEqual([5, 8, 11]);
  });

  it('duplicate rows are one target: one request each, logins looked up once', async () => {
    // --client 0oa1: the row that leaves clientId empty (line 6) takes it, and is then line 5's target (logins match in any case).
    const { r, rep } = await accepted(csv('duplicates.csv'), [
      'GET /api/v1/users/00u1dup/clients',
      'GET /api/v1/users/Bob%40Example.com',
      'GET /api/v1/users/00u1dup/grants?expand=scope&limit=200',
    ], ['--client', '0oa1']);
    expect(r.stderr).toMatch(/3 duplicate rows were merged/);
    expect(rep.counts.total).toBe(3);
    expect(rep.results.map((x) => x.line)).toEqual([2, 5, 7]);
  });

  it('unknown extra columns are ignored; headers match trimmed and in any case', async () => {
    await accepted(csv('extra-columns.csv'), ['GET /api/v1/users/00u1extra/clients', 'GET /api/v1/users/00u2extra/clients']);
  });
});
