import { describe, expect, it } from 'vitest';
import { FairSlots } from '../../src/queue/fair-slots.ts';

/** A task that records when it starts and ends when the test says. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

describe('FairSlots', () => {
  it('never runs more than its size, and gives a run that arrives late every other slot', async () => {
    const slots = new FairSlots(2);
    const started: string[] = [];
    let running = 0;
    let most = 0;
    const gates = new Map<string, ReturnType<typeof gate>>();
    const task = (name: string) => () => {
      started.push(name);
      running++;
      most = Math.max(most, running);
      const g = gate();
      gates.set(name, g);
      return g.opened.then(() => void running--);
    };
    const done: Promise<void>[] = [];
    for (let i = 1; i <= 6; i++) done.push(slots.run('big', task(`big${i}`)));
    for (let i = 1; i <= 3; i++) done.push(slots.run('small', task(`small${i}`)));
    // Finish whatever started first, one at a time, until everything ran.
    for (let i = 0; i < 9; i++) {
      await new Promise((r) => setImmediate(r));
      const name = started.find((n) => gates.has(n));
      gates.get(name!)!.open();
      gates.delete(name!);
    }
    await Promise.all(done);
    expect(most).toBe(2);
    // The small run, queued behind six, takes turns with the big one as soon as a slot frees.
    expect(started).toEqual(['big1', 'big2', 'small1', 'big3', 'small2', 'big4', 'small3', 'big5', 'big6']);
  });

  it('passes on what the task returns or throws, and frees its slot either way', async () => {
    const slots = new FairSlots(1);
    await expect(slots.run('a', async () => 7)).resolves.toBe(7);
    await expect(slots.run('a', async () => { throw new Error('no'); })).rejects.toThrow('no');
    await expect(slots.run('b', () => { throw new Error('sync'); })).rejects.toThrow('sync');
    await expect(slots.run('a', async () => 'after')).resolves.toBe('after');
    expect(() => new FairSlots(0)).toThrow(RangeError);
  });
});
