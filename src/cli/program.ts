import { Command, Option } from 'commander';
import { DEFAULTS } from '../../config/defaults.ts';
import pkg from '../../package.json' with { type: 'json' };
import type { ExitCode } from '../errors.ts';
import type { CliIO } from './io.ts';
import { registerSimCommand } from '../sim/cli.ts';
import { addRunOptions, type RunFlags } from './run-options.ts';

/**
 * Commander echoes an unknown `--flag=value` whole, and an unknown command: the value may be a
 * credential typed as a flag, the command a token pasted in the wrong place. A command is shown
 * only when it reads like one (a short word: `stauts`, for its "did you mean").
 */
export const withoutOptionValues = (s: string) =>
  s
    .replace(/(unknown option '-{1,2}[^'=\s]*)=[\s\S]*'/g, "$1=…'")
    .replace(/unknown command '([\s\S]*?)'/g, (whole, name: string) => (/^[a-z][a-z-]{0,19}$/i.test(name) ? whole : 'unknown command (not shown: it may be a secret)'));

/**
 * The command registry: names, descriptions, examples and options. Each action
 * lazily imports its command module, so `grantsweep status` loads no BullMQ worker.
 * An action stores its exit code in `result.code` for the error boundary.
 */
export function buildProgram(io: CliIO, result: { code: ExitCode }): Command {
  const program = new Command('grantsweep')
    .description('Revoke Okta OAuth consent grants in bulk, within the org\'s rate limits, with a result for every target.')
    .version(pkg.version)
    .showHelpAfterError()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s), outputError: (s, write) => write(withoutOptionValues(s)) })
    .exitOverride();

  const set = (p: Promise<ExitCode>) => p.then((code) => void (result.code = code));

  addRunOptions(
    program.command('run').description('enqueue a run and process it here until every target is final')
      .addHelpText('after', `
Examples:
  grantsweep run --csv leavers.csv --snapshot --reason "offboarding 2026-11-27"
  grantsweep run --filter 'status eq "ACTIVE"' --client 0oa1compromised --rate-share 0.8 --yes
  grantsweep run --search 'status eq "DEPROVISIONED"' --dry-run
  grantsweep run --from-run RUN_OF_A_DRY_RUN --yes     # revoke exactly what the dry run listed`),
  ).action((flags: RunFlags) => set(import('./commands/run.ts').then((m) => m.runCommand(io, flags))));

  addRunOptions(
    program.command('enqueue').description('enqueue a run for the workers; prints the run id alone on stdout')
      .addHelpText('after', `
Example:
  RUN=$(grantsweep enqueue --group 00g1leavers --yes) && grantsweep status "$RUN" --json`),
  ).action((flags: RunFlags) => set(import('./commands/enqueue.ts').then((m) => m.enqueueCommand(io, flags))));
  program.commands.find((c) => c.name() === 'enqueue')!.options.find((o) => o.long === '--concurrency')!.hideHelp();

  program.command('worker').description('process queued runs until SIGTERM/SIGINT; finishes in-flight work before it exits')
    .option('--concurrency <n>', `Okta requests in flight from this process (default ${DEFAULTS.concurrency})`)
    .option('--metrics-port <port>', 'serve Prometheus metrics on /metrics and a health check on /healthz at this port')
    .option('--metrics-host <host>', 'address the metrics server binds', '127.0.0.1')
    .action((flags) => set(import('./commands/worker.ts').then((m) => m.workerCommand(io, flags))));

  program.command('check').description('reach Redis and Okta as a run would (proxy, token, DPoP) with two reads, and say what a run would get: the user-grants limit, the share, the workers')
    .option('--json', 'one JSON object')
    .addHelpText('after', `
Example:
  grantsweep check    # before the incident: credentials, reach, budget, workers`)
    .action((flags) => set(import('./commands/check.ts').then((m) => m.checkCommand(io, flags))));

  program.command('status').argument('<runId>').description('state and counts so far')
    .option('--json', 'one JSON object (with --watch: one per tick on stderr as NDJSON, then the summary on stdout)')
    .option('--watch', 'follow the run until it is final: a progress bar on a terminal, a line every few seconds otherwise; exits like run')
    .action((runId: string, flags) => set(import('./commands/status.ts').then((m) => m.statusCommand(io, runId, flags))));

  program.command('report').argument('<runId>').description("every target's result")
    .addOption(new Option('--format <format>', 'json, csv, or html (one self-contained page with a chart)').default('json'))
    .option('--out <file>', 'write to a file instead of stdout')
    .option('--status <list>', 'json and csv: only the targets with these results, comma-separated (failed,user_not_found); the summary still counts them all')
    .addHelpText('after', `
Examples:
  grantsweep report RUN --format csv --out RUN.csv
  grantsweep report RUN --format csv --status failed      # what went wrong, with Okta's error for each
  grantsweep report RUN --format html --out RUN.html`)
    .action((runId: string, flags) => set(import('./commands/report.ts').then((m) => m.reportCommand(io, runId, flags))));

  program.command('retry').argument('<runId>').description("re-enqueue the failed targets; a halted or cancelled run's pending targets too (this resumes it)")
    .option('--wait', 'process them here, like run')
    .option('--concurrency <n>', 'with --wait: Okta requests in flight from this process')
    .option('--json', 'without --wait: one JSON object, the run, how many targets went back, whether it resumed')
    .action((runId: string, flags) => set(import('./commands/retry.ts').then((m) => m.retryCommand(io, runId, flags))));

  program.command('pace').argument('<runId>').description("change a run's rate share or pacing while it runs; every worker takes it up within seconds")
    .option('--rate-share <f>', 'fraction of each Okta rate-limit bucket the run may use from now on, 0 < F <= 1')
    .option('--pacing <mode>', 'even or window, from now on')
    .option('--json', 'one JSON object: the run, its state, its pace before and after')
    .addHelpText('after', `
Examples:
  grantsweep pace RUN --rate-share 0.2    # an incident run leaves more room to the org's other integrations
  grantsweep pace RUN --rate-share 0.8    # the night is quiet: go faster`)
    .action((runId: string, flags) => set(import('./commands/pace.ts').then((m) => m.paceCommand(io, runId, flags))));

  program.command('cancel').argument('<runId>').description('no new Okta request is made for the run after this returns')
    .option('--json', 'one JSON object: the run, its state, whether it had already completed')
    .action((runId: string, flags) => set(import('./commands/cancel.ts').then((m) => m.cancelCommand(io, runId, flags))));

  const runs = program.command('runs').description("list the org's newest 100 runs, newest first; `runs prune` deletes old ones")
    .option('--json', 'a JSON array')
    .option('--all-orgs', "every org's runs in this Redis, not only OKTA_ORG_URL's")
    .action((flags) => set(import('./commands/runs.ts').then((m) => m.runsCommand(io, flags))));
  runs.command('prune').description('delete the runs that became final (completed, halted, cancelled) before --older-than, with their results')
    .option('--older-than <age>', 'how long ago they finished: 30d, 12h, 90m, 2w, 45s')
    .option('--dry-run', 'list what would be deleted; delete nothing')
    .option('--yes', 'do not ask on a terminal')
    .option('--json', 'one JSON object: the runs deleted and the count kept')
    .option('--all-orgs', "every org's runs in this Redis, not only OKTA_ORG_URL's")
    .addHelpText('after', `
Runs that are queued, loading or running are never deleted, whatever their age.
Export what you keep first (grantsweep report RUN --format csv --out RUN.csv).
Examples:
  grantsweep runs prune --older-than 30d --dry-run
  grantsweep runs prune --older-than 90d --yes        # from cron`)
    // `--json` and `--all-orgs` after `prune` are also the parent's options, and commander gives them to the parent.
    .action((flags) => set(import('./commands/runs.ts').then((m) =>
      m.runsPruneCommand(io, { ...flags, json: flags.json || runs.opts().json, allOrgs: flags.allOrgs || runs.opts().allOrgs }))));

  program.command('dashboard').description('serve the runs page (reports, retry, cancel) and bull-board for the org queues, until SIGTERM/SIGINT')
    .option('--port <n>', 'port to listen on (0: any free port)', '3000')
    .option('--host <address>', 'address to bind; anything but loopback requires a token', '127.0.0.1')
    // Refused with a pointer to the variable: a secret in a flag shows in ps and shell history.
    .addOption(new Option('--token <secret>').hideHelp())
    .option('--require-token', 'refuse to start without GRANTSWEEP_DASHBOARD_TOKEN even on loopback')
    .addHelpText('after', `
Examples:
  grantsweep dashboard                                   # http://127.0.0.1:3000/, no token, this machine only
  GRANTSWEEP_DASHBOARD_TOKEN=$(openssl rand -hex 32) grantsweep dashboard --host 0.0.0.0
  # then open http://<host>:3000/?token=<token> once (a cookie keeps it), or send "Authorization: Bearer <token>"`)
    .action((flags) => set(import('./commands/dashboard.ts').then((m) => m.dashboardCommand(io, flags))));

  program.command('demo').description('start a simulated org, write a sample CSV of its users, offboard them, print the report')
    .option('--users <n>', 'users in the simulated org', '500')
    .option('--count <n>', 'leavers in the sample CSV', '50')
    .action((flags) => set(import('./commands/demo.ts').then((m) => m.demoCommand(io, flags))));

  program.command('redis').argument('<action>', 'status | stop').description('the embedded Redis kept in GRANTSWEEP_HOME')
    .action((action: string) => set(import('./commands/redis.ts').then((m) => m.redisCommand(io, action))));

  const schedule = program.command('schedule').description("start runs on a timetable: the org's workers start each one");
  addRunOptions(
    schedule.command('add').argument('<name>', 'the schedule\'s name; its runs are named NAME-YYYYMMDDTHHMMSSZ')
      .description('add (or replace) a schedule: a run of these flags at each time of --cron')
      .option('--cron <expr>', 'cron pattern: minute hour day month weekday (a sixth field first for seconds)')
      .option('--tz <zone>', 'IANA time zone of the pattern (default UTC)')
      .option('--overlap <policy>', "skip (default): a time is skipped while the schedule's previous run is still going; allow: runs may overlap")
      .addOption(new Option('--every <ms>').hideHelp())
      .addHelpText('after', `
CSV sources need an absolute path the workers can read. Credentials are the workers' own.
Examples:
  grantsweep schedule add nightly --cron "0 2 * * *" --tz Europe/Berlin --search 'status eq "DEPROVISIONED"' --yes
  grantsweep schedule add leavers --cron "30 6 * * 1-5" --csv /srv/hr/leavers.csv --snapshot --skip-invalid`),
  ).action((name: string, flags) => set(import('./commands/schedule.ts').then((m) => m.scheduleAddCommand(io, name, flags))));
  // A scheduled run is named by its schedule, workers set their own concurrency, and an earlier
  // run's targets do not change from one time to the next: refused, so not offered.
  const refusedBySchedules = new Set(['--run-id', '--concurrency', '--from-run', '--with-result']);
  for (const o of schedule.commands.find((c) => c.name() === 'add')!.options) if (refusedBySchedules.has(o.long ?? '')) o.hideHelp();
  schedule.command('list').description("the org's schedules with their next time and what the last one did")
    .option('--json', 'a JSON array')
    .action((flags) => set(import('./commands/schedule.ts').then((m) => m.scheduleListCommand(io, flags))));
  schedule.command('remove').argument('<name>').description('no run starts from the schedule after this returns; its past runs stay')
    .action((name: string) => set(import('./commands/schedule.ts').then((m) => m.scheduleRemoveCommand(io, name))));

  registerSimCommand(program);
  return program;
}
