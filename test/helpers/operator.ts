import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Simulator } from '../../src/sim/index.ts';
import { redisUrl } from './redis.ts';

/**
 * Helpers for the operator-facing tests (progress, HTML report, metrics, schedules):
 * an environment that points the CLI at a simulator and the suite's Redis, and files.
 */

export interface TempDir {
  path: string;
  file(name: string, text: string): string;
  remove(): void;
}

export function tempDir(prefix = 'gs-op-'): TempDir {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return {
    path,
    file(name, text) {
      const p = join(path, name);
      writeFileSync(p, text);
      return p;
    },
    remove: () => rmSync(path, { recursive: true, force: true }),
  };
}

/** The CLI's environment for a simulated org: its URL and token, the suite's Redis, a home of its own. */
export function simEnv(sim: Simulator, home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    REDIS_URL: redisUrl(),
    OKTA_ORG_URL: sim.url,
    OKTA_API_TOKEN: sim.token,
    GRANTSWEEP_HOME: home,
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

/** A CSV of leavers by user id (and by login for the `logins`). */
export function leaversCsv(ids: string[], logins: string[] = []): string {
  return `userId,login\n${[...ids.map((id) => `${id},`), ...logins.map((l) => `,${l}`)].join('\n')}\n`;
}

export async function until<T>(fn: () => Promise<T | null | undefined | false>, what: string, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
