/**
 * A process's targets in progress, shared between runs: a free slot goes to the waiting run
 * that holds the fewest (the one served longest ago among equals), and within a run to its
 * oldest target, so that its oldest job finishes first. Served in one line instead, the day's
 * five leavers waited behind every target an incident run's jobs had brought into the
 * process: 60–80 s for their first result.
 */
export class FairSlots {
  /** Slots each run holds. */
  readonly #held = new Map<string, number>();
  #active = 0;
  /** Waiting starts per run; the Map's order is the order of turns among equals. */
  readonly #waiting = new Map<string, Array<() => void>>();

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`size must be an integer ≥ 1, got ${size}`);
  }

  /** Runs `fn` in one of the slots, when `key`'s turn comes. */
  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let line = this.#waiting.get(key);
      if (!line) this.#waiting.set(key, (line = []));
      line.push(() => {
        Promise.resolve()
          .then(fn)
          .then(resolve, reject)
          .finally(() => {
            this.#active--;
            const n = this.#held.get(key)! - 1;
            if (n === 0) this.#held.delete(key);
            else this.#held.set(key, n);
            this.#next();
          });
      });
      this.#next();
    });
  }

  #next(): void {
    while (this.#active < this.size && this.#waiting.size > 0) {
      let key = '';
      let least = Infinity;
      for (const k of this.#waiting.keys()) {
        const held = this.#held.get(k) ?? 0;
        if (held < least) [key, least] = [k, held];
      }
      const line = this.#waiting.get(key)!;
      const start = line.shift()!;
      // To the back of the turns, or out of them when nothing of it waits.
      this.#waiting.delete(key);
      if (line.length > 0) this.#waiting.set(key, line);
      this.#active++;
      this.#held.set(key, least + 1);
      start();
    }
  }
}
