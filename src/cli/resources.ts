/**
 * Resources a command opens, released in reverse order once it ends, whatever
 * happens; a failing release is reported and the others still run.
 */
export class Resources {
  private readonly releasers: { name: string; release: () => unknown }[] = [];

  add<T>(name: string, value: T, release: (v: T) => unknown): T {
    this.releasers.push({ name, release: () => release(value) });
    return value;
  }

  async releaseAll(onError: (name: string, err: unknown) => void = () => {}): Promise<void> {
    while (this.releasers.length > 0) {
      const r = this.releasers.pop()!;
      try {
        await r.release();
      } catch (err) {
        onError(r.name, err);
      }
    }
  }
}
