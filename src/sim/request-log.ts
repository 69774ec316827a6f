import type { BucketName } from '../okta/types.ts';

/**
 * What the simulator saw, for tests and benchmarks to assert on: counts by bucket,
 * endpoint template, status and principal, the 429s of each kind, the highest
 * concurrency, and per-window counts for each bucket.
 */

export type Outcome = number | 'reset' | 'client-closed';
export type RejectKind = 'bucket' | 'token' | 'concurrency';

/** Why a request got the answer it got, when that was the simulator's doing. */
export interface RecordNote {
  reject?: RejectKind;
  fault?: 'none' | 'error500' | 'error503' | 'reset' | 'slow';
}

export interface WindowEntry {
  /** Window start, epoch ms. */
  start: number;
  /** Requests the bucket accepted in this window. */
  count: number;
  /** 429s answered in this window (bucket or per-token). */
  rejected: number;
  /** Requests the noisy neighbour had spent when the window was last looked at. */
  neighbour: number;
}

export interface LogSnapshot {
  since: number;
  total: number;
  byBucket: Partial<Record<BucketName, number>>;
  byEndpoint: Record<string, number>;
  byStatus: Record<string, number>;
  byPrincipal: Record<string, { requests: number; rejected: number }>;
  total429: number;
  rejected: Record<RejectKind, number>;
  faults: { error500: number; error503: number; reset: number; slow: number };
  maxConcurrency: number;
  windows: Partial<Record<BucketName, WindowEntry[]>>;
}

const MAX_WINDOWS = 1000;
const bump = (rec: Record<string, number>, key: string) => {
  rec[key] = (rec[key] ?? 0) + 1;
};

export class RequestLog {
  private data!: LogSnapshot;

  constructor(private readonly now: () => number) {
    this.reset();
  }

  reset(): void {
    this.data = {
      since: this.now(),
      total: 0,
      byBucket: {},
      byEndpoint: {},
      byStatus: {},
      byPrincipal: {},
      total429: 0,
      rejected: { bucket: 0, token: 0, concurrency: 0 },
      faults: { error500: 0, error503: 0, reset: 0, slow: 0 },
      maxConcurrency: 0,
      windows: {},
    };
  }

  record(bucket: BucketName, endpoint: string, outcome: Outcome, principal: string, note: RecordNote = {}): void {
    const d = this.data;
    d.total++;
    d.byBucket[bucket] = (d.byBucket[bucket] ?? 0) + 1;
    bump(d.byEndpoint, endpoint);
    bump(d.byStatus, String(outcome));
    const p = (d.byPrincipal[principal] ??= { requests: 0, rejected: 0 });
    p.requests++;
    if (outcome === 429) {
      d.total429++;
      p.rejected++;
    }
    if (note.reject) d.rejected[note.reject]++;
    if (note.fault && note.fault !== 'none') d.faults[note.fault]++;
  }

  concurrency(inFlight: number): void {
    if (inFlight > this.data.maxConcurrency) this.data.maxConcurrency = inFlight;
  }

  /** The entry for the bucket's window starting at `start`, opened on first use. */
  window(bucket: BucketName, start: number): WindowEntry {
    const list = (this.data.windows[bucket] ??= []);
    const last = list[list.length - 1];
    if (last && last.start === start) return last;
    const entry = { start, count: 0, rejected: 0, neighbour: 0 };
    list.push(entry);
    if (list.length > MAX_WINDOWS) list.shift();
    return entry;
  }

  snapshot(): LogSnapshot {
    return structuredClone(this.data);
  }
}
