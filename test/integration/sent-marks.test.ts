import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runKeys } from '../../src/redis/keys.ts';
import { newRecord, toRedis, type GrantEvidence, type TargetRecord } from '../../src/runs/record.ts';
import { RunStore } from '../../src/runs/run-store.ts';
import { connectTestRedis, uniqueRunId } from '../helpers/redis.ts';

/**
 * What the next worker reads of a target after a kill: its record (saved when an earlier try
 * ended pending) and its sent mark (written as a later try's DELETE left, with what that try
 * listed). The two together must say what this run may have revoked, no more.
 */
const grant = (id: string): GrantEvidence => ({ id, clientId: '0oaC', scopeId: 'okta.users.read', created: '2026-11-01T00:00:00.000Z' });

describe('RunStore: a record and its sent mark', () => {
  let redis: Redis;
  let store: RunStore;
  beforeAll(async () => {
    redis = await connectTestRedis();
    store = new RunStore(redis);
  });
  afterAll(() => redis.quit());

  async function read(rec: TargetRecord, marked: GrantEvidence[] | null | undefined): Promise<TargetRecord> {
    const runId = uniqueRunId('sent');
    await redis.hset(runKeys(runId).targets, 'u:1', toRedis(rec));
    if (marked !== undefined) {
      store.markSent(runId, 'u:1', marked);
      await new Promise((r) => setImmediate(r)); // the turn's marks go in one HSET when it ends
      await new Promise((r) => setTimeout(r, 20));
    }
    const [got] = await store.getRecords(runId, ['u:1']);
    await redis.del(runKeys(runId).targets, runKeys(runId).sent);
    return got!;
  }
  const pending = newRecord({ userId: '00u1', login: null, clientId: null, scopeId: null, grantId: null, line: 2 });

  it('no mark: the record as it was', async () => {
    expect(await read({ ...pending, grants: [grant('a')] }, undefined)).toMatchObject({ revokeSent: false, grants: [grant('a')] });
  });

  it("a try that never acted (a 429) listed [a,b,c]; the marked try listed [a,b] (an admin revoked c between): [a,b]", async () => {
    const got = await read({ ...pending, revokeSent: false, grants: [grant('a'), grant('b'), grant('c')] }, [grant('a'), grant('b')]);
    expect(got.revokeSent).toBe(true);
    expect(got.grants!.map((g) => g.id)).toEqual(['a', 'b']);
  });

  it('a try that may have acted listed [a,b]; the marked try listed [b,d]: both, [a,b,d]', async () => {
    const got = await read({ ...pending, revokeSent: true, grants: [grant('a'), grant('b')] }, [grant('b'), grant('d')]);
    expect(got.grants!.map((g) => g.id)).toEqual(['a', 'b', 'd']);
  });

  it('a mark without a listing (no --snapshot, no --scope): the record keeps its own, marked sent', async () => {
    expect(await read({ ...pending, grants: null }, null)).toMatchObject({ revokeSent: true, grants: null });
  });
});
