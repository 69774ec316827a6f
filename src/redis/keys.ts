/**
 * Every Redis key grantsweep writes is built here, and nowhere else; so are the field names
 * that a Lua script and the TypeScript both read (credentialFields). BullMQ's own keys are
 * under queuePrefix.
 *
 * Keys carry a hash tag so the same code runs on a Redis Cluster: all keys of one
 * run share the `{r:<runId>}` slot (the run store's scripts touch several of them
 * at once), all keys of one org's budget share `{o:<orgKey>}` (the budget's
 * scripts do). No script ever touches keys of two different tags.
 */
const P = 'gs';

export const runKeys = (runId: string) => {
  const tag = `${P}:{r:${runId}}`;
  return {
    /** HASH: the run's metadata (see run-meta.ts). */
    meta: `${tag}:meta`,
    /** HASH targetKey → compact target record with its result (see record.ts). */
    targets: `${tag}:t`,
    /** LIST of targetKeys in input order: the report's order and the feeder's source. */
    order: `${tag}:order`,
    /** LIST of targetKeys put back by `retry`, fed before the rest. */
    requeue: `${tag}:requeue`,
    /** HASH status → count, plus `total`. */
    counts: `${tag}:counts`,
    /**
     * HASH `r:<minute>` / `l:<minute>` → requests / 429s in that minute (epoch minutes);
     * `b:<minute>` → the run's budget that minute (rate-share × learned limit of its busiest bucket).
     */
    perMinute: `${tag}:pm`,
    /**
     * HASH targetKey → 1: a DELETE of the target left in a try not settled yet. The lost-answer
     * mark of a worker killed before Okta's answer (or before its record): the next worker takes
     * what it no longer finds for revoked by this run (run-store.ts markSent).
     */
    sent: `${tag}:sent`,
    /** STRING lock held by the one feeder that tops up the queue for this run. */
    feedLock: `${tag}:feedlock`,
    /** STRING lock held while `retry`, `cancel` or a worker's halt changes the run's state and its mark among the org's stopped runs. */
    controlLock: `${tag}:ctl`,
  };
};

export const orgKeys = (orgKey: string) => {
  const tag = `${P}:{o:${orgKey}}`;
  return {
    /** HASH per rate-limit bucket: learned limit, GCRA theoretical arrival time, pause. */
    bucket: (bucket: string) => `${tag}:b:${bucket}`,
    /** ZSET leaseId → expiry: requests in flight across all processes. */
    inflight: `${tag}:inflight`,
    /** HASH: org-wide pause (concurrency 429). */
    org: `${tag}:org`,
    /** HASH runId → reason: runs that were cancelled or halted; no new request for them. */
    stopped: `${tag}:stopped`,
    /** SET of runIds that may still have targets to feed into the queue. */
    active: `${tag}:active`,
    /** ZSET runId → scheduled time (ms): a schedule's latest runs, for its `{{since}}` and its overlap check. */
    scheduleRuns: (name: string) => `${tag}:sched:${name}`,
    /** HASH count, lastAt, while: a schedule's times skipped because its previous run was still going. */
    scheduleSkips: (name: string) => `${tag}:sched-skips:${name}`,
    /** STRING: held while a schedule's run is checked against its previous one and registered. */
    scheduleLock: (name: string) => `${tag}:sched-lock:${name}`,
  };
};

/**
 * A credential's fields in a bucket hash (orgKeys().bucket), which acquire-4.lua and
 * release-3.lua read by the same names: the share an admin gave a service app (its principal
 * rate limit, `pshare`) and the cap a 429 taught (`pcap`), each with the time it holds until.
 */
export const credentialFields = (credential: string) => ({
  share: `pshare:${credential}`,
  shareUntil: `pshareUntil:${credential}`,
  cap: `pcap:${credential}`,
  capAt: `pcapAt:${credential}`,
  capUntil: `pcapUntil:${credential}`,
  /** In the org hash: until when a refused read of the principal rate limit is not asked again. */
  shareRefusedUntil: `principalShareRefused:${credential}`,
});

/** ZSET runId → createdAt (ms): every run, for `grantsweep runs`. A single key: no cross-slot use. */
export const runsIndexKey = `${P}:runs`;

/** BullMQ's own prefix; the braces keep each queue's keys in one slot. */
export const queuePrefix = `{${P}q}`;
