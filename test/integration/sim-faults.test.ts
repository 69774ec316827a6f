import { Agent, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator, type SimOptions, type Simulator } from '../../src/sim/index.ts';

const sims: Simulator[] = [];
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

async function start(opts: SimOptions): Promise<Simulator> {
  const s = await startSimulator({ users: 60, seed: 6, rateLimits: 'none', grantsPerUser: [4, 4], ...opts });
  sims.push(s);
  return s;
}

/** Sends requests one at a time (so the seeded fault sequence is deterministic) and records what came back. */
async function sequence(s: Simulator, n: number, dispatcher?: Agent): Promise<(number | string)[]> {
  const users = s.org.sampleUsers({ count: n, minGrants: 1 });
  const out: (number | string)[] = [];
  for (let i = 0; i < n; i++) {
    try {
      const res = await request(`${s.url}/api/v1/users/${users[i % users.length]!.id}/grants?limit=2`, {
        headers: { authorization: `SSWS ${s.token}` },
        dispatcher,
      });
      const body = await res.body.text();
      out.push(res.statusCode >= 500 ? `${res.statusCode}:${JSON.parse(body).errorCode}` : res.statusCode);
    } catch (e) {
      out.push(`error:${(e as Error).name}`);
    }
  }
  return out;
}

describe('simulated fault injection', () => {
  it('answers a seeded share of requests 500/503 with ModelError bodies, the same ones for the same seed', async () => {
    const a = await start({ faults: { errorRate: 0.25, seed: 99 } });
    const b = await start({ faults: { errorRate: 0.25, seed: 99 } });
    const c = await start({ faults: { errorRate: 0.25, seed: 100 } });
    const seqA = await sequence(a, 80);
    expect(await sequence(b, 80)).toEqual(seqA);
    expect(await sequence(c, 80)).not.toEqual(seqA);
    const five00 = seqA.filter((x) => x === '500:E0000009').length;
    const five03 = seqA.filter((x) => x === '503:E0000009').length;
    expect(five00 + five03).toBeGreaterThan(5);
    expect(five00 + five03).toBeLessThan(40);
    expect(seqA.filter((x) => x === 200).length).toBe(80 - five00 - five03);
    const log = a.log.snapshot();
    expect(log.faults).toMatchObject({ error500: five00, error503: five03, reset: 0, slow: 0 });
    expect(log.byStatus).toMatchObject({ '200': 80 - five00 - five03 });
  });

  it('restarts the fault sequence when faults are reconfigured', async () => {
    const s = await start({ faults: { errorRate: 0.3, seed: 5 } });
    const first = await sequence(s, 30);
    s.configure({ faults: { seed: 5 } });
    expect(await sequence(s, 30)).toEqual(first);
  });

  it('drops the connection without an answer after the revoke took effect (resetRate)', async () => {
    const s = await start({ faults: { resetRate: 0.4, seed: 3 } });
    const users = s.org.sampleUsers({ count: 15, status: 'ACTIVE', minGrants: 4 });
    let dropped = 0;
    for (const u of users) {
      try {
        const res = await request(`${s.url}/api/v1/users/${u.id}/grants/${u.grants[0]!.id}`, {
          method: 'DELETE',
          headers: { authorization: `SSWS ${s.token}` },
        });
        await res.body.dump();
        expect(res.statusCode).toBe(204);
      } catch {
        dropped++;
      }
      // Answered or not, the grant is gone.
      expect(s.org.grantsOf(u.id)?.map((g) => g.id)).not.toContain(u.grants[0]!.id);
    }
    expect(dropped).toBeGreaterThan(0);
    const log = s.log.snapshot();
    expect(log.faults.reset).toBe(dropped);
    expect(log.byStatus.reset).toBe(dropped);
    expect(log.byStatus['204']).toBe(15 - dropped);
  });

  it('answers slow requests after the client gave up, and logs them as slow and client-closed', async () => {
    const s = await start({ faults: { slowRate: 1, slowMs: 1500, seed: 1 } });
    const impatient = new Agent({ headersTimeout: 100 });
    try {
      const u = s.org.sampleUsers({ count: 1, status: 'ACTIVE', minGrants: 4 })[0]!;
      await expect(
        request(`${s.url}/api/v1/users/${u.id}/grants/${u.grants[1]!.id}`, {
          method: 'DELETE',
          headers: { authorization: `SSWS ${s.token}` },
          dispatcher: impatient,
        }),
      ).rejects.toThrow();
      expect(s.org.grantsOf(u.id)?.map((g) => g.id)).not.toContain(u.grants[1]!.id);
      await expect.poll(() => s.log.snapshot().byStatus['client-closed'], { timeout: 5000 }).toBe(1);
      expect(s.log.snapshot().faults.slow).toBe(1);
    } finally {
      await impatient.close();
    }
  });
});
