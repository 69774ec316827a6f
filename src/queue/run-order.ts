/**
 * The order in which the runs of one org share its queue: fair queuing on BullMQ
 * priorities (lower first, FIFO within one priority).
 *
 * A run's jobs carry a tag that grows by one for every TAG_STEP targets the run has had
 * fed, counted from where the queue's head stood when the run joined. The runs in the
 * queue then take turns, TAG_STEP targets at a time, instead of the later one waiting
 * behind the whole backlog of the first (a daily leaver run behind a 50,000-target
 * incident); and a run that joins, or comes back after a pause (a `retry`), starts at
 * the head rather than at the tag it had, so it cannot take the queue over while it
 * catches up with the others.
 */

/** Targets per step of a run's tag: one batch job's worth. */
export const TAG_STEP = 50;
/** BullMQ's highest priority number (its PRIORITY_LIMIT). */
export const MAX_PRIORITY = 2 ** 21;

/**
 * The run's base and the tag of its job whose first target is the `served`-th it has
 * had fed. `base` is null for a run not fed yet; `head` is the priority at the head of
 * the queue (null when no prioritized job waits).
 */
export function placeInQueue(base: number | null, served: number, head: number | null): { base: number; tag: number } {
  const step = Math.floor(served / TAG_STEP);
  let b = base ?? (head ?? 1) - step;
  // Behind the head: new, or idle while the others went on. It rejoins at the head.
  if (head !== null && b + step < head) b = head - step;
  return { base: b, tag: Math.min(MAX_PRIORITY, Math.max(1, b + step)) };
}
