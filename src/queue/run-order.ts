/**
 * The order in which the runs of one org share its queue: fair queuing on BullMQ
 * priorities (lower first, FIFO within one priority).
 *
 * A run's jobs carry a tag that grows by one for every stepFor(share) targets the run has
 * had fed, counted from where the queue's head stood when the run joined. The runs in the
 * queue then take turns of about equal time, instead of the later one waiting
 * behind the whole backlog of the first (a daily leaver run behind a 50,000-target
 * incident); and a run that joins, or comes back after a pause (a `retry`), starts at
 * the head rather than at the tag it had, so it cannot take the queue over while it
 * catches up with the others.
 */

/** Targets a feeder puts in one BullMQ job, at most (feeder.ts). */
export const MAX_TARGETS_PER_JOB = 50;

/** Targets per step of a run's tag at --rate-share 0.5: one batch job's worth. */
export const TAG_STEP = MAX_TARGETS_PER_JOB;

/**
 * Targets per step for a run at `share`: proportional to it, so that each run's turns
 * last about as long as the others' (a run at 0.2 sends a target in the time a run at
 * 0.8 sends four): the runs take turns by time, not by count, and a slow run's jobs do
 * not fill the workers while a faster one waits.
 */
export function stepFor(share: number): number {
  return Math.max(1, Math.round(TAG_STEP * 2 * share));
}
/** BullMQ's highest priority number (its PRIORITY_LIMIT). */
export const MAX_PRIORITY = 2 ** 21;

/**
 * The run's base and the tag of its job whose first target is the `served`-th it has
 * had fed. `base` is null for a run not fed yet; `head` is the priority at the head of
 * the queue (null when no prioritized job waits).
 */
export function placeInQueue(base: number | null, served: number, head: number | null, perStep = TAG_STEP): { base: number; tag: number } {
  const step = Math.floor(served / perStep);
  let b = base ?? (head ?? 1) - step;
  // Behind the head: new, or idle while the others went on. It rejoins at the head.
  if (head !== null && b + step < head) b = head - step;
  return { base: b, tag: Math.min(MAX_PRIORITY, Math.max(1, b + step)) };
}
