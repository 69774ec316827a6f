import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT, UsageError, type ExitCode } from '../../errors.ts';
import { startSimulator } from '../../sim/index.ts';
import { readConfig } from '../context.ts';
import { err, out, type CliIO } from '../io.ts';
import { runCommand } from './run.ts';
import { reportCommand } from './report.ts';

/**
 * `grantsweep demo`: the main job end to end on this machine: a simulated org, a CSV
 * of leavers (some by id, some by login), an offboarding run with snapshots on the
 * embedded Redis, the report, a dry run of the same targets that finds nothing left, and
 * the simulator's word that their grants are gone.
 */
export async function demoCommand(io: CliIO, flags: { users?: string; count?: string }): Promise<ExitCode> {
  const users = Number(flags.users ?? 500);
  const count = Number(flags.count ?? 50);
  if (!Number.isInteger(users) || users < 1 || !Number.isInteger(count) || count < 1 || count > users) {
    throw new UsageError(`--users and --count: expected whole numbers with 1 <= count <= users, got ${flags.users} and ${flags.count}`);
  }
  const home = readConfig(io, {}, {}).home;
  mkdirSync(home, { recursive: true });
  // Okta's published limits are 600/min for these endpoints; the demo's org is more generous so it ends in seconds.
  const sim = await startSimulator({ users, port: 0, rateLimits: { 'user-grants': 12_000, 'user-get': 12_000 } });
  try {
    err(io, `simulated Okta org at ${sim.url} with ${users} users\n`);
    const sample = sim.org.sampleUsers({ count, status: 'ACTIVE', minGrants: 1 });
    const csv = join(home, 'demo-leavers.csv');
    const rows = sample.map((u, i) => (i % 5 === 4 ? `,${u.login},HR-${1000 + i}` : `${u.id},,HR-${1000 + i}`));
    writeFileSync(csv, `userId,login,employeeNumber\n${rows.join('\n')}\n`);
    const before = sample.reduce((n, u) => n + u.grants.length, 0);
    err(io, `wrote ${csv}: ${sample.length} leavers holding ${before} grants\n`);

    const runIo: CliIO = { ...io, env: { LOG_LEVEL: 'warn', ...io.env, OKTA_ORG_URL: sim.url, OKTA_API_TOKEN: sim.token, OKTA_CLIENT_ID: undefined, OKTA_PRIVATE_KEY: undefined, OKTA_PRIVATE_KEY_FILE: undefined } };
    const runId = `demo-${Date.now()}`;
    const code = await runCommand(runIo, { csv, snapshot: true, reason: 'demo offboarding', yes: true, runId });
    await out(io, `\nreport (grantsweep report ${runId}):\n`);
    await reportCommand(runIo, runId, { format: 'json' });
    // grantsweep's own check afterwards: a dry run of the run's targets finds nothing left.
    await out(io, `\ncheck (grantsweep run --from-run ${runId} --dry-run):\n`);
    const checked = await runCommand(runIo, { fromRun: runId, dryRun: true, runId: `${runId}-check` });

    const left = sample.reduce((n, u) => n + (sim.org.grantsOf(u.id)?.length ?? 0), 0);
    err(io, `the simulator confirms: ${left} grants left for the ${sample.length} leavers (they held ${before})\n`);
    return left === 0 && checked === EXIT.ok ? code : EXIT.failures;
  } finally {
    await sim.close();
  }
}
