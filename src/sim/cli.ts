import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { UsageError } from '../errors.ts';
import { parseSimFlags, type SimFlags } from './cli-options.ts';
import type { Simulator } from './index.ts';

/**
 * `grantsweep sim`: serve a simulated org until SIGINT/SIGTERM. Stdout carries exactly
 * one JSON line (url, tokens, user count) so scripts can read it; nothing else is
 * written there.
 */

export function registerSimCommand(program: Command): void {
  program
    .command('sim')
    .description('serve a simulated Okta org on 127.0.0.1 until interrupted; prints {"url","token","readOnlyToken","users"} as one JSON line')
    .option('--port <n>', 'port to listen on (0 = any free port)', '0')
    .option('--token <t>', 'the SSWS API token to accept (default: random)')
    .option('--users <n>', 'users in the org', '1000')
    .option('--seed <n>', 'seed: the same seed gives the same ids')
    .option('--grants-per-user <n>', 'mean grants per user, or a range like 2-6')
    .option('--rate-limit <bucket=limit,...>', 'per-window limits, e.g. user-grants=600,users-list=100')
    .option('--no-rate-limit', 'no per-window limits')
    .option('--window-sec <n>', 'rate-limit window length in seconds (default 60)')
    .option('--concurrency-limit <n>', 'requests in flight before the concurrency 429 (default 75, 0 = none)')
    .option('--per-token-share <f>', 'share of a bucket one token or OAuth app may use, e.g. 0.5')
    .option('--noisy-neighbour <share>', 'share of every bucket spent by another integration, e.g. 0.3')
    .option('--error-rate <f>', 'share of requests answered 500/503')
    .option('--reset-rate <f>', 'share of requests whose connection is dropped after the work is done')
    .option('--latency-ms <n>', 'added to every answer')
    .option('--slow-rate <f>', 'share of answers delayed by --slow-ms')
    .option('--slow-ms <n>', 'delay of slow answers')
    .option('--oauth-client-id <id>', 'service app allowed at /oauth2/v1/token (private_key_jwt)')
    .option('--oauth-public-key-file <file>', "that app's public key (JWK JSON or PEM)")
    .option('--oauth-dpop', 'that app requires DPoP (Okta\'s default for new API Services apps): DPoP-bound tokens')
    .option('--write-csv <file>', 'write a CSV userId,login,email of ACTIVE users holding grants, then keep serving')
    .option('--count <n>', 'rows in --write-csv (default 10)')
    .action((flags: SimFlags) => serve(flags));
}

async function serve(flags: SimFlags): Promise<void> {
  const plan = parseSimFlags(flags);
  let sim: Simulator;
  try {
    // Imported here: every command's program registers `sim`, and only this one needs the simulator (and jose).
    const { startSimulator } = await import('./index.ts');
    sim = await startSimulator(plan.options);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES') throw new UsageError(`--port ${plan.options.port}: cannot listen (${code})`);
    throw e;
  }
  if (plan.csv) {
    const rows = sim.org.sampleUsers({ count: plan.csv.count, status: 'ACTIVE', minGrants: 1 }).map((u) => `${u.id},${u.login},${u.email}`);
    try {
      writeFileSync(plan.csv.file, `userId,login,email\n${rows.join('\n')}\n`);
    } catch (e) {
      await sim.close();
      throw new UsageError(`--write-csv: cannot write ${plan.csv.file} (${(e as NodeJS.ErrnoException).code ?? e})`);
    }
  }
  const ready = { url: sim.url, token: sim.token, readOnlyToken: sim.readOnlyToken, users: sim.org.counts().users };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await sim.close();
}
