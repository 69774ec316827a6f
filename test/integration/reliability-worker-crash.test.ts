import { describe, expect, it } from 'vitest';
import { runCli, spawnCli } from '../helpers/cli.ts';
import { checkExactlyOnce, prng, spawnWorkers, stopAll, until, waitFinal, waitWorkers, type Spawned } from '../helpers/fleet.ts';
import { uniqueRunId } from '../helpers/redis.ts';
import { envFor, simAndRedis, writeCsv } from '../helpers/sim.ts';

/**
 * Worker crash: three `grantsweep worker` processes share one run; one of them is
 * SIGKILLed at a random moment (after k DELETEs reached the simulator), five times.
 * The two survivors take over its targets once their lock expires.
 */

const ROUNDS = 5;
const TARGETS = 100;
const SEED = Number(process.env.GS_CRASH_SEED ?? 20261127);
const DELETE_ALL = 'DELETE /api/v1/users/{userId}/grants';

// Each answer takes 25 ms, so a kill always finds requests in flight.
const t = simAndRedis({ users: 900, faults: { latencyMs: 25 } });

describe('reliability: a worker killed mid-run', () => {
  it('five SIGKILLs at different moments: every run completes, each target exactly once, all revoked', async () => {
    const env = envFor(t.sim, {
      GRANTSWEEP_LOCK_DURATION_MS: '2000',
      GRANTSWEEP_REQUEST_TIMEOUT_MS: '3000',
      GRANTSWEEP_MAX_IN_FLIGHT: '30',
    });
    const rnd = prng(SEED);
    const pool = t.sim.org.sampleUsers({ count: ROUNDS * TARGETS, status: 'ACTIVE', minGrants: 1 });
    expect(pool).toHaveLength(ROUNDS * TARGETS);
    let workers: Spawned[] = spawnWorkers(3, env, ['--concurrency', '4']);
    await waitWorkers(t.redis, t.sim.url, 3);
    const figures: Record<string, unknown>[] = [];
    const killed: Spawned[] = [];
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const sample = pool.slice(round * TARGETS, (round + 1) * TARGETS);
        const runId = uniqueRunId(`crash${round}`);
        const deletesBefore = t.sim.log.snapshot().byEndpoint[DELETE_ALL] ?? 0;
        const deletes = () => (t.sim.log.snapshot().byEndpoint[DELETE_ALL] ?? 0) - deletesBefore;
        const enq = await runCli(['enqueue', '--csv', writeCsv(['userId', ...sample.map((u) => u.id)]), '--yes', '--run-id', runId], env);
        expect(enq.code, enq.stderr).toBe(0);

        // A different moment each round: after k of the 100 DELETEs, kill worker `victim`.
        const k = 1 + Math.floor(rnd() * 80);
        const victim = Math.floor(rnd() * workers.length);
        await until(`${k} DELETEs`, () => deletes() >= k, 60_000, 5);
        const atKill = deletes();
        workers[victim]!.child.kill('SIGKILL');
        killed.push(workers[victim]!);
        const exit = await workers[victim]!.done;

        expect(await waitFinal(t.redis, runId, 60_000)).toBe('completed');
        const rep = await checkExactlyOnce(t.redis, runId, env, { targets: TARGETS, users: sample.map((u) => u.id), sim: t.sim });
        expect(rep.counts.revoked).toBe(TARGETS);
        // Every target was revoked at least once; a second DELETE is only ever one the killed worker had in flight.
        expect(deletes()).toBeGreaterThanOrEqual(TARGETS);
        expect(deletes() - TARGETS).toBeLessThanOrEqual(4);
        figures.push({ round, killAfterDeletes: k, deletesSeenAtKill: atKill, victim, exitCode: exit.code, deletes: deletes(), redone: deletes() - TARGETS, maxAttempts: Math.max(...rep.results.map((r) => r.attempts)) });

        // The fleet is three again for the next round.
        workers[victim] = spawnCli(['worker', '--concurrency', '4'], env);
      }
    } catch (err) {
      await stopAll(workers);
      throw err;
    }
    // The survivors and the replacements stop cleanly on SIGTERM (once the last one is up).
    await waitWorkers(t.redis, t.sim.url, 3);
    const codes = await stopAll(workers);
    expect(codes.map((c) => c.code), codes.map((c) => c.stderr).join('\n')).toEqual([0, 0, 0]);
    console.log(`[reliability] worker crash (seed ${SEED}): ${JSON.stringify(figures)}`);
    expect(killed).toHaveLength(ROUNDS);
  }, 240_000);
});
