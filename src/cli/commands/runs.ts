import { EXIT, UsageError, type ExitCode } from '../../errors.ts';
import { pruneRuns } from '../../runs/prune.ts';
import { runSummary } from '../../runs/report.ts';
import { shownState } from '../../runs/run-meta.ts';
import { orgKeyOf } from '../../queue/org.ts';
import { openContext, type CliContext } from '../context.ts';
import { err, out, type CliIO } from '../io.ts';

/**
 * The org a listing or a prune is for: the configured one (OKTA_ORG_URL), as for every other
 * command; every org of the Redis with `--all-orgs`, or when none is configured.
 */
function orgScope(ctx: CliContext, allOrgs: boolean | undefined): string | null {
  return allOrgs || !ctx.config.orgUrl ? null : orgKeyOf(ctx.config.orgUrl);
}

const hostOf = (orgUrl: string) => (URL.canParse(orgUrl) ? new URL(orgUrl).host : orgUrl);

/** `grantsweep runs`: the org's newest 100 runs, newest first. */
export async function runsCommand(io: CliIO, flags: { json?: boolean; allOrgs?: boolean }): Promise<ExitCode> {
  const ctx = await openContext(io, {}, { orgIfSet: !flags.allOrgs });
  try {
    const scope = orgScope(ctx, flags.allOrgs);
    const metas = await ctx.store.listRuns(100, scope);
    const rows = await Promise.all(metas.map(async (m) => runSummary(m, await ctx.store.getCounts(m.runId))));
    if (flags.json) {
      await out(io, `${JSON.stringify(rows)}\n`);
    } else if (rows.length === 0) {
      await out(io, scope ? `no runs yet in ${ctx.config.orgUrl} (--all-orgs: every org's)\n` : 'no runs yet\n');
    } else {
      for (const r of rows) {
        const done = r.counts.total - r.counts.pending;
        // Across orgs, each row says its org: runs of prod and preview can share a Redis.
        const org = scope ? '' : `\t${hostOf(r.orgUrl)}`;
        await out(io, `${r.runId}\t${shownState(r)}\t${done}/${r.counts.total}\tfailed ${r.counts.failed}\t${r.createdAt}\t${r.source.kind}${r.dryRun ? '\tdry-run' : ''}${org}\n`);
      }
    }
    return EXIT.ok;
  } finally {
    await ctx.resources.releaseAll();
  }
}

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/** `30d`, `12h`, `90m`, `2w`, `45s` → ms. */
function parseAge(text: string): number {
  const m = /^(\d{1,6})([smhdw])$/.exec(text.trim());
  if (!m) throw new UsageError(`--older-than "${text}": expected a number and a unit, such as 30d, 12h, 90m, 2w or 45s`);
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

/** `grantsweep runs prune --older-than 30d`: deletes the runs that became final before then. */
export async function runsPruneCommand(io: CliIO, flags: { olderThan?: string; dryRun?: boolean; yes?: boolean; json?: boolean; allOrgs?: boolean }): Promise<ExitCode> {
  if (flags.olderThan === undefined) throw new UsageError('runs prune: --older-than is required (such as --older-than 30d)');
  const age = parseAge(flags.olderThan);
  const ctx = await openContext(io, {}, { orgIfSet: !flags.allOrgs });
  try {
    const cutoff = Date.now() - age;
    const scope = orgScope(ctx, flags.allOrgs);
    const where = scope ? ` in ${ctx.config.orgUrl}` : ' in every org';
    if (!flags.dryRun && !flags.yes && io.stdinIsTTY && io.stderr.isTTY) {
      const q = `Delete the runs${where} that finished before ${new Date(cutoff).toISOString()}, with their results (export reports first if you keep them)? [y/N] `;
      if (!(await io.confirm(q))) throw new UsageError('not confirmed: nothing was deleted');
    }
    const r = await pruneRuns(ctx.store, { cutoff, dryRun: !!flags.dryRun, orgKey: scope });
    // Imported here: BullMQ is for the prune's failed jobs only, not for every `runs` listing.
    const failedJobs = flags.dryRun ? 0 : await (await import('../../queue/prune-jobs.ts')).removeFailedJobsOf(ctx.redis, r.pruned, scope);
    const targets = r.pruned.reduce((a, p) => a + p.targets, 0);
    if (flags.json) {
      const pruned = r.pruned.map(({ orgKey: _o, ...p }) => ({ ...p, finishedAt: new Date(p.finishedAt).toISOString() }));
      const org = scope ? ctx.config.orgUrl : null;
      await out(io, `${JSON.stringify({ dryRun: !!flags.dryRun, cutoff: new Date(cutoff).toISOString(), org, pruned, kept: r.kept, otherOrgs: r.otherOrgs, failedJobs })}\n`);
    } else {
      for (const p of r.pruned) await out(io, `${p.runId}\t${p.state}\t${new Date(p.finishedAt).toISOString()}\t${p.targets} targets\n`);
      const verb = flags.dryRun ? 'would delete' : 'deleted';
      const keptNote = r.kept > 0 ? `; kept ${r.kept} older run${r.kept === 1 ? '' : 's'} not final or finished since` : '';
      const othersNote = r.otherOrgs > 0 ? `; left ${r.otherOrgs} run${r.otherOrgs === 1 ? '' : 's'} of other orgs (--all-orgs: those too)` : '';
      const jobsNote = failedJobs > 0 ? `, and ${failedJobs} failed job${failedJobs === 1 ? '' : 's'} of theirs in the queue` : '';
      err(io, `${verb} ${r.pruned.length} run${r.pruned.length === 1 ? '' : 's'}${where} (${targets} targets) that finished before ${new Date(cutoff).toISOString()}${jobsNote}${keptNote}${othersNote}\n`);
    }
    return EXIT.ok;
  } finally {
    await ctx.resources.releaseAll();
  }
}
