import type { Command } from 'commander';
import { DEFAULTS } from '../../config/defaults.ts';
import { UsageError } from '../errors.ts';
import { flagId } from '../okta/ids.ts';
import { parseResults } from '../sources/run-source.ts';
import type { SourceDescription } from '../sources/target.ts';
import { newRunId, RUN_ID, RUN_ID_RULE } from '../runs/run-id.ts';

/** The flags `run`, `enqueue` and `schedule add` share: what to revoke, from where, how. */
export interface RunFlags {
  csv?: string;
  search?: string;
  filter?: string;
  group?: string;
  app?: string;
  fromRun?: string;
  withResult?: string;
  client?: string;
  scope?: string;
  dryRun?: boolean;
  snapshot?: boolean;
  tokens?: boolean;
  reason?: string;
  runId?: string;
  concurrency?: string;
  rateShare?: string;
  pacing?: string;
  skipInvalid?: boolean;
  yes?: boolean;
}

export function addRunOptions(cmd: Command): Command {
  return cmd
    .option('--csv <file>', 'targets from a CSV file: userId or login, optional clientId, scopeId, grantId')
    .option('--search <expr>', 'users from GET /api/v1/users?search=EXPR')
    .option('--filter <expr>', 'users from GET /api/v1/users?filter=EXPR')
    .option('--group <groupId>', 'members of an Okta group')
    .option('--app <appId>', 'users assigned to an app')
    .option('--from-run <runId>', "an earlier run's targets, as it acted on them: by default those it revoked or (a dry run) would revoke")
    .option('--with-result <list>', 'with --from-run: the results whose targets are taken, comma-separated (default would_revoke,revoked)')
    .option('--client <clientId>', "only that client's grants")
    .option('--scope <scopeId>', 'only grants for that scope')
    .option('--dry-run', 'list what would be revoked, revoke nothing')
    .option('--snapshot', "list each target's grants before revoking and keep them as evidence")
    .option('--tokens', "also revoke the user's refresh tokens for the client (--client), or for every client (no --client)")
    .option('--reason <text>', 'kept with the run, shown in reports')
    .option('--run-id <id>', 'the run id ([A-Za-z0-9_.-]{1,64}); default generated')
    .option('--concurrency <n>', `Okta requests in flight from this process (default ${DEFAULTS.concurrency})`)
    .option('--rate-share <f>', `fraction of each Okta rate-limit bucket this run may use, 0 < F <= 1 (default ${DEFAULTS.rateShare})`)
    .option('--pacing <mode>', "even (default): spread the run's share over each rate-limit window; window: spend it as soon as the window opens")
    .option('--skip-invalid', 'enqueue the valid rows of a file with invalid rows, and report the invalid ones')
    .option('--yes', 'do not ask for confirmation before a real revocation');
}

const SOURCE_FLAGS = { csv: '--csv', search: '--search', filter: '--filter', group: '--group', app: '--app', fromRun: '--from-run' } as const;

/** Exactly one source; ids checked before anything is opened. */
export function parseSource(f: RunFlags): SourceDescription {
  const given = (Object.keys(SOURCE_FLAGS) as (keyof typeof SOURCE_FLAGS)[]).filter((k) => f[k] !== undefined);
  if (given.length !== 1) {
    throw new UsageError(
      given.length === 0
        ? 'a source is required: one of --csv FILE, --search EXPR, --filter EXPR, --group GROUP_ID, --app APP_ID, --from-run RUN_ID'
        : `only one source at a time: got ${given.map((g) => SOURCE_FLAGS[g]).join(' and ')}`,
    );
  }
  const key = given[0]!;
  if (f.withResult !== undefined && key !== 'fromRun') throw new UsageError('--with-result goes with --from-run: it chooses which of the earlier run\'s targets are taken');
  if (key === 'fromRun') {
    // The earlier run's targets carry the client and scope they were acted on with.
    const extra = (['client', 'scope'] as const).filter((k) => f[k] !== undefined);
    if (extra.length > 0) throw new UsageError(`--from-run takes each target with its own client and scope, as the earlier run acted on it: --${extra.join(' and --')} cannot change them`);
    return { kind: 'run', value: checkRunId(f.fromRun!, '--from-run'), results: parseResults(f.withResult) };
  }
  const kind = key;
  const value = f[kind]!;
  if (kind === 'group') return { kind, value: flagId('groupId', '--group', value) };
  if (kind === 'app') return { kind, value: flagId('appId', '--app', value) };
  if (value.trim() === '') throw new UsageError(`--${kind}: must not be empty`);
  // Checked here, before a run is stored: a line break or NUL is never part of an Okta expression.
  if (kind !== 'csv' && /\p{Cc}/u.test(value)) throw new UsageError(`--${kind}: must not contain control characters or line breaks`);
  return { kind, value };
}

export function parseTarget(f: RunFlags): { clientId: string | null; scopeId: string | null } {
  // Refresh tokens belong to a user and a client, not to a scope: Okta has no call to revoke a scope's.
  if (f.tokens && f.scope !== undefined) throw new UsageError('--tokens goes with --client or with all grants, not with --scope: refresh tokens are revoked per client');
  return {
    clientId: f.client === undefined ? null : flagId('clientId', '--client', f.client),
    scopeId: f.scope === undefined ? null : flagId('scopeId', '--scope', f.scope),
  };
}

export { newRunId };

export function checkRunId(id: string, flag = '--run-id'): string {
  if (!RUN_ID.test(id)) throw new UsageError(`${flag}: expected ${RUN_ID_RULE}, got ${JSON.stringify(id.slice(0, 80))}`);
  return id;
}
