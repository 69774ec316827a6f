import { EXIT, type ExitCode } from '../../errors.ts';
import { runSummary } from '../../runs/report.ts';
import { shownState } from '../../runs/run-meta.ts';
import { openContext } from '../context.ts';
import { out, type CliIO } from '../io.ts';

/** `grantsweep runs`: every run, newest first. */
export async function runsCommand(io: CliIO, flags: { json?: boolean }): Promise<ExitCode> {
  const ctx = await openContext(io, {});
  try {
    const metas = await ctx.store.listRuns();
    const rows = await Promise.all(metas.map(async (m) => runSummary(m, await ctx.store.getCounts(m.runId))));
    if (flags.json) {
      await out(io, `${JSON.stringify(rows)}\n`);
    } else if (rows.length === 0) {
      await out(io, 'no runs yet\n');
    } else {
      for (const r of rows) {
        const done = r.counts.total - r.counts.pending;
        await out(io, `${r.runId}\t${shownState(r)}\t${done}/${r.counts.total}\tfailed ${r.counts.failed}\t${r.createdAt}\t${r.source.kind}${r.dryRun ? '\tdry-run' : ''}\n`);
      }
    }
    return EXIT.ok;
  } finally {
    await ctx.resources.releaseAll();
  }
}
