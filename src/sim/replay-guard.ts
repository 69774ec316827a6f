/**
 * Ids a server accepts once: a client assertion's jti (until it expires) and a DPoP
 * proof's jti (while its iat could still pass, RFC 9449 §11.1). A second use is a replay.
 * Entries past their time are dropped when the map grows large.
 */
export class ReplayGuard {
  private readonly seen = new Map<string, number>();

  /** Records the id, kept until `keepUntilMs`; true when it was seen before and is still kept (a replay). */
  seenBefore(id: string, nowMs: number, keepUntilMs: number): boolean {
    const until = this.seen.get(id);
    if (until !== undefined && until > nowMs) return true;
    if (this.seen.size >= 10_000) for (const [k, t] of this.seen) if (t <= nowMs) this.seen.delete(k);
    this.seen.set(id, keepUntilMs);
    return false;
  }
}
