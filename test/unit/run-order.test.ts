import { describe, expect, it } from 'vitest';
import { MAX_PRIORITY, placeInQueue, stepFor, TAG_STEP } from '../../src/queue/run-order.ts';

describe("a run's place in the org's queue", () => {
  it('starts a run at the top when no prioritized job waits', () => {
    expect(placeInQueue(null, 0, null)).toEqual({ base: 1, tag: 1 });
  });

  it('puts a run that joins right behind the head, not behind the backlog', () => {
    expect(placeInQueue(null, 0, 40)).toEqual({ base: 40, tag: 40 });
  });

  it('moves a run back one step for every TAG_STEP targets it has had fed', () => {
    const { base } = placeInQueue(null, 0, 7);
    expect(placeInQueue(base, TAG_STEP - 1, 7).tag).toBe(7);
    expect(placeInQueue(base, TAG_STEP, 7).tag).toBe(8);
    expect(placeInQueue(base, 10 * TAG_STEP, 7).tag).toBe(17);
  });

  it('lets two runs take turns, step for step, once the second has joined', () => {
    // A has had 1,000 targets fed from base 1; its queued jobs start at tag 15 when B joins.
    const a = placeInQueue(1, 1_000, 15);
    const b = placeInQueue(null, 0, 15);
    for (let n = 0; n <= 20 * TAG_STEP; n += TAG_STEP) {
      expect(placeInQueue(b.base, n, null).tag - placeInQueue(a.base, 1_000 + n, null).tag).toBe(15 - a.tag);
    }
  });

  it('brings a run that fell behind the head (idle, or retried later) back to the head only', () => {
    // Base 1, 100 targets fed long ago (tag 3); the others' head is at 500 now.
    expect(placeInQueue(1, 100, 500)).toEqual({ base: 498, tag: 500 });
  });

  it('keeps a run ahead of the head where it is', () => {
    expect(placeInQueue(10, 5 * TAG_STEP, 12)).toEqual({ base: 10, tag: 15 });
  });

  it('makes a step as many targets as the run sends in the same time: proportional to its share', () => {
    expect(stepFor(0.5)).toBe(TAG_STEP);
    expect(stepFor(1)).toBe(2 * TAG_STEP);
    expect(stepFor(0.2)).toBe(20);
    expect(stepFor(0.001)).toBe(1);
    // A run at 0.8 beside one at 0.2, both joined at the head: per step, four targets of the first to one of the second.
    const fast = placeInQueue(null, 0, 10, stepFor(0.8));
    const slow = placeInQueue(null, 0, 10, stepFor(0.2));
    expect(placeInQueue(fast.base, 800, null, stepFor(0.8)).tag).toBe(placeInQueue(slow.base, 200, null, stepFor(0.2)).tag);
  });

  it("stays within BullMQ's priorities", () => {
    expect(placeInQueue(null, 0, MAX_PRIORITY).tag).toBe(MAX_PRIORITY);
    expect(placeInQueue(MAX_PRIORITY, 1_000 * TAG_STEP, null).tag).toBe(MAX_PRIORITY);
    expect(placeInQueue(null, 1_000 * TAG_STEP, null).tag).toBeGreaterThanOrEqual(1);
  });
});
