import { createWriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import { EXIT, UsageError, type ExitCode } from '../../errors.ts';
import { writeHtmlReport } from '../../runs/html-report.ts';
import { writeCsvReport, writeJsonReport } from '../../runs/report.ts';
import { openContext } from '../context.ts';
import type { CliIO } from '../io.ts';
import { checkRunId } from '../run-options.ts';

/** `grantsweep report <runId>`: every target's result, as JSON (default) or CSV; or a page (HTML) for people. */
export async function reportCommand(io: CliIO, runId: string, flags: { format?: string; out?: string }): Promise<ExitCode> {
  checkRunId(runId, 'runId');
  const format = flags.format ?? 'json';
  if (format !== 'json' && format !== 'csv' && format !== 'html') throw new UsageError(`--format: expected json, csv or html, got ${JSON.stringify(format)}`);
  const ctx = await openContext(io, {});
  try {
    await ctx.store.requireMeta(runId);
    const write = format === 'csv' ? writeCsvReport : format === 'html' ? writeHtmlReport : writeJsonReport;
    if (flags.out) {
      const file = createWriteStream(flags.out, { mode: 0o600 });
      await write(ctx.store, runId, file);
      file.end();
      await finished(file);
    } else {
      await write(ctx.store, runId, io.stdout);
    }
    return EXIT.ok;
  } finally {
    await ctx.resources.releaseAll();
  }
}
