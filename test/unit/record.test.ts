import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromRedis, newRecord, STATUSES, toRedis, type TargetRecord } from '../../src/runs/record.ts';

const text = fc.option(fc.string({ maxLength: 40 }), { nil: null });
const count = fc.option(fc.nat(1_000_000), { nil: null });
const record: fc.Arbitrary<TargetRecord> = fc.record({
  userId: text,
  login: text,
  clientId: text,
  scopeId: text,
  grantId: text,
  line: fc.option(fc.integer({ min: 1, max: 10_000_000 }), { nil: null }),
  status: fc.constantFrom(...STATUSES),
  grantsRevoked: count,
  attempts: fc.nat(20),
  httpStatus: fc.option(fc.integer({ min: 100, max: 599 }), { nil: null }),
  errorCode: text,
  errorSummary: text,
  errorId: text,
  finishedAt: fc.option(fc.integer({ min: 0, max: 4_102_444_800_000 }), { nil: null }),
  grants: fc.option(fc.array(fc.record({ id: fc.string(), clientId: fc.string(), scopeId: fc.string(), created: fc.string() }), { maxLength: 3 }), { nil: null }),
  resolvedUserId: text,
  roundAttempts: fc.nat(20),
  tokensRevokedFor: fc.option(fc.array(fc.string({ maxLength: 20 }), { maxLength: 3 }), { nil: null }),
  revokeSent: fc.boolean(),
});

describe('the stored target record', () => {
  it('reads back exactly what was written, whatever the fields hold', () => {
    fc.assert(
      fc.property(record, (r) => {
        expect(fromRedis(toRedis(r))).toEqual(r);
      }),
      { numRuns: 2_000 },
    );
  });

  it('keeps 0 apart from absent where 0 means something (grants revoked, line)', () => {
    const r = { ...newRecord({ userId: '00u1', login: null, clientId: null, scopeId: null, grantId: null, line: null }), status: 'nothing_to_revoke' as const, grantsRevoked: 0 };
    expect(fromRedis(toRedis(r)).grantsRevoked).toBe(0);
    expect(fromRedis(toRedis({ ...r, grantsRevoked: null })).grantsRevoked).toBeNull();
  });

  it('fits a finished result of a 20-character user id in 76 bytes (jemalloc 80-byte class), a pending one in 44', () => {
    const pending = newRecord({ userId: '00u1a2b3c4d5e6f7g8h9', login: null, clientId: null, scopeId: null, grantId: null, line: 1_000_000 });
    expect(toRedis(pending).length).toBeLessThanOrEqual(44);
    const done: TargetRecord = { ...pending, status: 'revoked', attempts: 1, httpStatus: 204, finishedAt: Date.UTC(2026, 10, 27) };
    expect(toRedis(done).length).toBeLessThanOrEqual(76);
  });
});
