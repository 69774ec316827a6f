import { describe, expect, it } from 'vitest';
import { SimOrg, type OrgShape } from '../../src/sim/org.ts';

const shape: OrgShape = { seed: 11, users: 5000, groups: 20, apps: 10, clients: 8, grantsPerUser: 3 };

describe('seeded simulated org', () => {
  it('gives the same ids, logins and grants for the same seed, and different ones for another seed', () => {
    const a = new SimOrg(shape);
    const b = new SimOrg(shape);
    const c = new SimOrg({ ...shape, seed: 12 });
    for (const i of [0, 1, 4999]) {
      expect(b.user(i)).toEqual(a.user(i));
      expect(b.allGrants(i).map((g) => b.grantId(g))).toEqual(a.allGrants(i).map((g) => a.grantId(g)));
    }
    expect(c.user(0).id).not.toBe(a.user(0).id);
    expect(b.totalGrants).toBe(a.totalGrants);
  });

  it('draws statuses near the default mix (85% ACTIVE, 5% SUSPENDED, 5% DEPROVISIONED)', () => {
    const org = new SimOrg(shape);
    const counts: Record<string, number> = {};
    for (let i = 0; i < org.userCount; i++) counts[org.statusOf(i)] = (counts[org.statusOf(i)] ?? 0) + 1;
    expect((counts.ACTIVE ?? 0) / org.userCount).toBeGreaterThan(0.82);
    expect((counts.ACTIVE ?? 0) / org.userCount).toBeLessThan(0.88);
    expect((counts.SUSPENDED ?? 0) / org.userCount).toBeGreaterThan(0.03);
    expect((counts.DEPROVISIONED ?? 0) / org.userCount).toBeGreaterThan(0.03);
  });

  it("lets an admin change a user's status now (lastUpdated with it), refuses DEPROVISIONED, and reset() restores the drawn org", () => {
    const org = new SimOrg(shape);
    let i = 0;
    while (org.statusOf(i) !== 'ACTIVE') i++;
    const drawn = org.user(i);
    org.setStatus(i, 'SUSPENDED', Date.UTC(2026, 10, 28));
    expect(org.statusOf(i)).toBe('SUSPENDED');
    expect(org.user(i)).toEqual({ ...drawn, status: 'SUSPENDED', lastUpdated: Date.UTC(2026, 10, 28) });
    expect(() => org.setStatus(i, 'DEPROVISIONED', Date.now())).toThrow(/not modelled/);
    org.reset();
    expect(org.user(i)).toEqual(drawn);
  });

  it('gives DEPROVISIONED users no grants and others grants with distinct client/scope pairs', () => {
    const org = new SimOrg({ ...shape, grantsPerUser: [5, 9] });
    for (let i = 0; i < 500; i++) {
      const grants = org.allGrants(i);
      if (org.statusOf(i) === 'DEPROVISIONED') expect(grants).toEqual([]);
      else {
        expect(grants.length).toBeGreaterThanOrEqual(5);
        expect(grants.length).toBeLessThanOrEqual(9);
        expect(new Set(grants.map((g) => `${g.client}/${g.scope}`)).size).toBe(grants.length);
      }
    }
  });

  it('averages the requested mean number of grants per user', () => {
    const org = new SimOrg({ ...shape, statusMix: { ACTIVE: 1 }, grantsPerUser: 3 });
    expect(org.totalGrants / org.userCount).toBeGreaterThan(2.9);
    expect(org.totalGrants / org.userCount).toBeLessThan(3.1);
  });

  it('resolves users by id and by login (any case), and nothing else', () => {
    const org = new SimOrg(shape);
    const u = org.user(1234);
    expect(org.userIndexById(u.id)).toBe(1234);
    expect(org.userIndexByLogin(u.login.toUpperCase())).toBe(1234);
    expect(org.userIndexByLogin(u.login.replace('@', 'x@'))).toBe(-1);
    expect(org.userIndexByLogin('someone99999@example.com')).toBe(-1);
    expect(org.userIndexById(new SimOrg({ ...shape, users: 10_000 }).user(9999).id)).toBe(-1);
  });

  it('revokes grants and restores them on reset', () => {
    const org = new SimOrg(shape);
    const i = [...Array(50).keys()].find((k) => org.allGrants(k).length >= 2) as number;
    const [first, second] = org.allGrants(i);
    expect(org.revoke([first!.key, first!.key])).toBe(1);
    expect(org.findGrant(i, org.grantId(first!))).toBeUndefined();
    expect(org.findGrant(i, org.grantId(second!))?.key).toBe(second!.key);
    expect(org.findGrant(i + 1, org.grantId(second!))).toBeUndefined();
    expect(org.activeGrantTotal()).toBe(org.totalGrants - 1);
    org.reset();
    expect(org.activeGrants(i).length).toBe(org.allGrants(i).length);
  });

  it('holds a million users with about three grants each without materialising them', () => {
    const before = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
    const org = new SimOrg({ ...shape, users: 1_000_000 });
    const after = process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
    expect(org.userCount).toBe(1_000_000);
    expect(org.totalGrants).toBeGreaterThan(2_500_000);
    expect(after - before).toBeLessThan(64 * 1024 * 1024);
    expect(org.userIndexById(org.user(999_999).id)).toBe(999_999);
  });
});
