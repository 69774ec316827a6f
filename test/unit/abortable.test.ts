import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { abortable, LoadingInterrupted } from '../../src/sources/abortable.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

async function* numbered(n: number): AsyncGenerator<{ i: number }> {
  for (let i = 0; i < n; i++) yield { i };
}

describe('abortable', () => {
  it('gives every item in order, and ends with its source', async () => {
    const seen: number[] = [];
    for await (const item of abortable(numbered(5), new AbortController().signal)) seen.push(item.i);
    expect(seen).toEqual([0, 1, 2, 3, 4]);
    const plain: number[] = [];
    for await (const item of abortable(numbered(3))) plain.push(item.i);
    expect(plain).toEqual([0, 1, 2]);
  });

  it('stops at once while the source waits for its next item, with the reason', async () => {
    let closed = false;
    async function* slow(): AsyncGenerator<number> {
      try {
        yield 1;
        await new Promise((r) => setTimeout(r, 60_000).unref());
        yield 2;
      } finally {
        closed = true;
      }
    }
    const ac = new AbortController();
    const got: number[] = [];
    const loading = (async () => {
      for await (const n of abortable(slow(), ac.signal)) {
        got.push(n);
        setImmediate(() => ac.abort('Ctrl-C'));
      }
    })();
    await expect(loading).rejects.toThrow(LoadingInterrupted);
    await expect(loading).rejects.toThrow('Ctrl-C');
    expect(got).toEqual([1]);
    // The source's pending wait is abandoned, not awaited: its generator closes once it resumes.
    expect(closed).toBe(false);
  });

  it('an already aborted signal gives nothing', async () => {
    const ac = new AbortController();
    ac.abort('SIGTERM');
    const got: number[] = [];
    await expect((async () => { for await (const x of abortable(numbered(3), ac.signal)) got.push(x.i); })()).rejects.toThrow('SIGTERM');
    expect(got).toEqual([]);
  });

  it('keeps no item it has given: a million-row CSV streams in flat memory', async () => {
    // A Promise.race against one abort promise that never settles adds a reaction to it
    // for each item, which holds the item until the loading ends: 800 MB over a million rows.
    const refs: WeakRef<object>[] = [];
    const it = abortable(numbered(20_000), new AbortController().signal)[Symbol.asyncIterator]();
    for (let i = 0; i < 10_000; i++) {
      const { value } = await it.next();
      if (i < 1_000) refs.push(new WeakRef(value as object));
    }
    // The loading is still going (the iterator is alive) when the first items are looked for.
    await new Promise((r) => setImmediate(r));
    gc();
    const alive = refs.filter((r) => r.deref() !== undefined).length;
    expect(alive).toBeLessThan(10);
    await it.return?.(undefined);
  });
});
