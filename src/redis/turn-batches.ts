/**
 * Collects what callers ask of Redis during one turn of the event loop and sends it as
 * one call per key when the turn ends (setImmediate: after the I/O callbacks of the
 * turn, before the next poll). Responses that arrive together then cost one script call
 * instead of one each: the budget's slots and returns, the run store's results.
 * `flush` gets the key and the items in the order they were added, and answers each item
 * in that order.
 */
export class TurnBatches<Item, Answer> {
  private readonly open = new Map<string, { items: Item[]; waiters: { resolve: (a: Answer) => void; reject: (e: unknown) => void }[] }>();

  constructor(private readonly flush: (key: string, items: Item[]) => Promise<Answer[]>) {}

  add(key: string, item: Item): Promise<Answer> {
    let batch = this.open.get(key);
    if (!batch) {
      this.open.set(key, (batch = { items: [], waiters: [] }));
      setImmediate(() => void this.send(key));
    }
    batch.items.push(item);
    const waiters = batch.waiters;
    return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
  }

  private async send(key: string): Promise<void> {
    const batch = this.open.get(key)!;
    this.open.delete(key);
    try {
      const answers = await this.flush(key, batch.items);
      batch.waiters.forEach((w, i) => w.resolve(answers[i]!));
    } catch (err) {
      for (const w of batch.waiters) w.reject(err);
    }
  }
}
