import type { BucketName } from '../okta/types.ts';
import type { FaultKind } from './faults.ts';

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
  fault?: FaultKind;
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
  faults: { error500: number; error503: number; reset: number; slow: number; limit429: number };
  maxConcurrency: number;
  windows: Partial<Record<BucketName, WindowEntry[]>>;
}

/** One request as it arrived (kept only when the simulator was started with `recordRequests`). */
export interface RequestEntry {
  /** Arrival time, epoch ms (the simulator's clock). */
  at: number;
  method: string;
  /** The path as sent, still percent-encoded. */
  path: string;
  /** The raw query string as sent, without "?". */
  query: string;
  outcome: Outcome;
  /** The principal's label (never the credential). */
  principal: string;
}

/** Where a request came in, for the per-request record. */
export interface RequestDetail {
  at: number;
  method: string;
  path: string;
  query: string;
}

const MAX_WINDOWS = 1000;
const bump = (rec: Record<string, number>, key: string) => {
  rec[key] = (rec[key] ?? 0) + 1;
};

export class RequestLog {
  private data!: LogSnapshot;
  private entries: RequestEntry[] = [];

  /** `keep`: how many of the latest requests to keep one by one (0: none, only the counts). */
  constructor(
    private readonly now: () => number,
    private readonly keep = 0,
  ) {
    this.reset();
  }

  /** The latest requests in arrival order of their answers (at most `keep`). */
  requests(): RequestEntry[] {
    return this.entries.slice(-this.keep);
  }

  reset(): void {
    this.entries = [];
    this.data = {
      since: this.now(),
      total: 0,
      byBucket: {},
      byEndpoint: {},
      byStatus: {},
      byPrincipal: {},
      total429: 0,
      rejected: { bucket: 0, token: 0, concurrency: 0 },
      faults: { error500: 0, error503: 0, reset: 0, slow: 0, limit429: 0 },
      maxConcurrency: 0,
      windows: {},
    };
  }

  record(bucket: BucketName, endpoint: string, outcome: Outcome, principal: string, note: RecordNote = {}, detail?: RequestDetail): void {
    if (this.keep > 0 && detail) {
      this.entries.push({ ...detail, outcome, principal });
      if (this.entries.length >= 2 * this.keep) this.entries = this.entries.slice(-this.keep);
    }
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
