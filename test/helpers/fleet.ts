import { expect } from 'vitest';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { orgKeyOf, queueNameOf } from '../../src/queue/org.ts';
import { queuePrefix } from '../../src/redis/keys.ts';
import { runKeys } from '../../src/redis/keys.ts';
import { FINAL_RUN_STATES } from '../../src/runs/run-meta.ts';
import { RunStore } from '../../src/runs/run-store.ts';
import type { Simulator } from '../../src/sim/index.ts';
import { runCli, spawnCli } from './cli.ts';

/**
 * Helpers for the reliability scenarios: worker fleets as real processes, waiting on a
 * run by reading Redis (counts, never clocks), and the invariants every run must keep.
 */

export type Spawned = ReturnType<typeof spawnCli>;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A deterministic PRNG (mulberry32), so a failing scenario can be replayed from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Polls until `cond` holds; throws (with `what`) after `timeoutMs` — a hang guard, not a performance claim. */
export async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 60_000, everyMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Waits for the run to reach a final state and returns it. */
export async function waitFinal(redis: Redis, runId: string, timeoutMs = 60_000): Promise<string> {
  const store = new RunStore(redis);
  let state = '';
  await until(`run ${runId} to end`, async () => {
    state = (await store.getMeta(runId))?.state ?? '';
    return FINAL_RUN_STATES.includes(state as never);
  }, timeoutMs, 50);
  return state;
}

export interface ReportRow {
  userId: string | null;
  login: string | null;
  clientId: string | null;
  scopeId: string | null;
  grantId: string | null;
  status: string;
  attempts: number;
  httpStatus: number | null;
  errorCode: string | null;
  errorSummary: string | null;
  line: number | null;
}
export interface Report {
  runId: string;
  state: string;
  stateReason: string | null;
  counts: Record<'total' | 'pending' | 'revoked' | 'would_revoke' | 'nothing_to_revoke' | 'user_not_found' | 'invalid' | 'failed', number>;
  requests: { total: number; rateLimited: number };
  results: ReportRow[];
}

export async function reportOf(runId: string, env: NodeJS.ProcessEnv): Promise<Report> {
  const r = await runCli(['report', runId], env);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Report;
}

/**
 * The promise "every target ends with exactly one final result, and the counters equal
 * the results", checked from three sides: the report, the raw Redis hashes, the simulator.
 */
export async function checkExactlyOnce(
  redis: Redis,
  runId: string,
  env: NodeJS.ProcessEnv,
  expected: { targets: number; users?: string[]; sim?: Simulator },
): Promise<Report> {
  const rep = await reportOf(runId, env);
  const k = runKeys(runId);
  // One record per target in the hash, one entry per target in the order list.
  expect(await redis.hlen(k.targets)).toBe(expected.targets);
  expect(await redis.llen(k.order)).toBe(expected.targets);
  expect(rep.results).toHaveLength(expected.targets);
  const ids = rep.results.map((r) => JSON.stringify([r.userId, r.login, r.clientId, r.scopeId, r.grantId]));
  expect(new Set(ids).size).toBe(expected.targets);
  // Counters equal the results, status by status.
  const tally: Record<string, number> = {};
  for (const r of rep.results) tally[r.status] = (tally[r.status] ?? 0) + 1;
  for (const s of ['pending', 'revoked', 'would_revoke', 'nothing_to_revoke', 'user_not_found', 'invalid', 'failed']) {
    expect(rep.counts[s as keyof Report['counts']] ?? 0, `counter ${s}`).toBe(tally[s] ?? 0);
  }
  expect(rep.counts.total).toBe(expected.targets);
  expect(rep.counts.pending).toBe(0);
  if (expected.sim && expected.users) {
    const left = expected.users.filter((u) => (expected.sim!.org.grantsOf(u) ?? []).length > 0);
    expect(left, 'users still holding grants').toEqual([]);
  }
  return rep;
}

/** Spawns `n` `grantsweep worker` processes. */
export function spawnWorkers(n: number, env: NodeJS.ProcessEnv, args: string[] = []): Spawned[] {
  return Array.from({ length: n }, () => spawnCli(['worker', ...args], env));
}

/** SIGTERM to every worker still alive, and SIGKILL after `graceMs` to any that hangs. */
export async function stopAll(workers: Spawned[], graceMs = 15_000): Promise<{ code: number; stdout: string; stderr: string }[]> {
  for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGTERM');
  const timer = setTimeout(() => {
    for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
  }, graceMs);
  try {
    return await Promise.all(workers.map((w) => w.done));
  } finally {
    clearTimeout(timer);
  }
}

/** Requests the simulator received whose path names one of `userIds`. */
export function requestsFor(sim: Simulator, userIds: Set<string>) {
  return sim.log.requests().filter((e) => {
    const m = /^\/api\/v1\/users\/([^/]+)/.exec(e.path);
    return m !== null && userIds.has(decodeURIComponent(m[1]!));
  });
}

/** Waits until `n` BullMQ workers are connected to the org's queue (the processes are ready). */
export async function waitWorkers(redis: Redis, orgUrl: string, n: number, timeoutMs = 30_000): Promise<void> {
  const connection = redis.duplicate();
  const queue = new Queue(queueNameOf(orgKeyOf(orgUrl)), { connection, prefix: queuePrefix });
  try {
    await until(`${n} workers on the queue`, async () => (await queue.getWorkersCount()) >= n, timeoutMs, 50);
  } finally {
    await queue.close();
    connection.disconnect();
  }
}
