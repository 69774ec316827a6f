import { EXIT, UsageError, type ExitCode } from '../../errors.ts';
import { secretFlagRefused } from '../../../config/load.ts';
import { bindRule, startDashboard, TOKEN_ENV } from '../../dashboard/index.ts';
import { parsePort } from '../../listen.ts';
import { openContext } from '../context.ts';
import { onSignals } from '../stopping.ts';
import { err, type CliIO } from '../io.ts';

export interface DashboardFlags {
  port?: string;
  host?: string;
  token?: string;
  requireToken?: boolean;
}

/** `grantsweep dashboard`: serve bull-board and the runs page until SIGTERM/SIGINT. */
export async function dashboardCommand(io: CliIO, flags: DashboardFlags): Promise<ExitCode> {
  const port = parsePort('--port', flags.port ?? '3000');
  const host = flags.host ?? '127.0.0.1';
  if (flags.token !== undefined) {
    throw new UsageError(`--token: ${secretFlagRefused(TOKEN_ENV)}`);
  }
  const token = (io.env[TOKEN_ENV] ?? '').trim() || null;
  // Refuse before anything is opened.
  const rule = bindRule({ host, token, requireToken: flags.requireToken });
  if (rule.problem) throw new UsageError(rule.problem);

  // The token is not a config setting: it must not reach loadConfig, which refuses a `token` flag.
  // OKTA_ORG_URL, when set, is checked as for any command (a bad one is named, exit 2): its runs are shown first.
  const ctx = await openContext(io, {}, { orgIfSet: true });
  let offSignals = () => {};
  try {
    const dash = await startDashboard({
      redis: ctx.redis,
      redisUrl: ctx.redisUrl,
      store: ctx.store,
      host,
      port,
      token,
      requireToken: flags.requireToken,
      orgUrls: ctx.config.orgUrl ? [ctx.config.orgUrl] : [],
      log: ctx.log,
    });
    ctx.resources.add('dashboard', dash, (d) => d.close());
    err(io, `dashboard at ${dash.url}/ (queues at ${dash.url}/queues)${rule.tokenRequired ? '; token required: open it once as /?token=…' : ''}\n`);
    // The first signal closes the server; a second, while it closes, exits at once: a
    // dashboard holds nothing that could be lost (it was killed by the signal before).
    await new Promise<void>((resolve) => {
      offSignals = onSignals(resolve, () => process.exit(EXIT.ok));
    });
    return EXIT.ok;
  } finally {
    await ctx.resources.releaseAll();
    offSignals();
  }
}
