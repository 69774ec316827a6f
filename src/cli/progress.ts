import cliProgress from 'cli-progress';
import { FINAL_RUN_STATES, type RunMeta } from '../runs/run-meta.ts';
import { pacedBucket } from '../runs/paced-bucket.ts';
import type { RunCounts } from '../runs/run-store.ts';
import { err, type CliIO } from './io.ts';
import { countsLine } from './watch-run.ts';

/** bar: cli-progress on a terminal · plain: a line every few seconds · json: one NDJSON object per tick. */
export type ProgressMode = 'bar' | 'plain' | 'json';

/** One tick of progress, as `status --watch --json` prints it (one object a line on stderr). */
export interface ProgressView {
  runId: string;
  state: RunMeta['state'];
  at: string;
  done: number;
  total: number;
  percent: number;
  counts: Omit<RunCounts, 'requests' | 'rateLimited' | 'buckets'>;
  requests: number;
  rateLimited: number;
  failed: number;
  /**
   * The run's requests a minute over the last minute in its budget's bucket (see pacedBucket; null
   * until a few seconds were seen, or a whole minute under window pacing, whose burst at each
   * window's start would read as several times the budget): a login's lookup, in another bucket,
   * is not set against that budget.
   */
  requestsPerMinute: number | null;
  /** The run's budget a minute in that bucket (rate-share × learned limit), as the workers last recorded it. */
  budgetPerMinute: number | null;
  /** Seconds until every target is final at the recent pace; null when unknown. */
  etaSeconds: number | null;
}

const WINDOW_MS = 60_000;
const MIN_SPAN_MS = 3_000;

/** Rates over a sliding window of the last minute of ticks. */
export class RateWindow {
  private samples: { t: number; done: number; requests: number }[] = [];
  private bucket = '';

  /** `bucket`: whose requests `requests` counts; when it changes, the pace starts afresh. */
  add(t: number, done: number, requests: number, bucket = ''): void {
    if (bucket !== this.bucket) this.samples = [];
    this.bucket = bucket;
    this.samples.push({ t, done, requests });
    while (this.samples.length > 2 && t - this.samples[1]!.t >= WINDOW_MS) this.samples.shift();
  }

  /** Per minute and per second over the window, or null while it spans less than `minSpanMs`. */
  rates(minSpanMs = MIN_SPAN_MS): { requestsPerMinute: number; targetsPerSecond: number } | null {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last.t - first.t < minSpanMs) return null;
    const span = last.t - first.t;
    return {
      requestsPerMinute: ((last.requests - first.requests) / span) * 60_000,
      targetsPerSecond: ((last.done - first.done) / span) * 1_000,
    };
  }
}

export function progressView(meta: RunMeta, counts: RunCounts, window: RateWindow, budget: number | null, now = Date.now()): ProgressView {
  const { requests, rateLimited, buckets: _buckets, ...byStatus } = counts;
  const done = counts.total - counts.pending;
  // Window pacing spends a window's share as the window opens: only a whole minute says its pace.
  const r = window.rates(meta.pacing === 'window' ? WINDOW_MS : MIN_SPAN_MS);
  const remaining = counts.pending;
  const final = FINAL_RUN_STATES.includes(meta.state);
  return {
    runId: meta.runId,
    state: meta.state,
    at: new Date(now).toISOString(),
    done,
    total: counts.total,
    percent: counts.total > 0 ? Math.floor((done / counts.total) * 1000) / 10 : 100,
    counts: byStatus,
    requests,
    rateLimited,
    failed: counts.failed,
    requestsPerMinute: r ? Math.round(r.requestsPerMinute) : final ? averagePerMinute(meta, pacedBucket(counts).requests, now) : null,
    budgetPerMinute: budget,
    etaSeconds: final || remaining === 0 ? 0 : r && r.targetsPerSecond > 0 ? Math.ceil(remaining / r.targetsPerSecond) : null,
  };
}

/** A finished run seen too briefly for a pace: its average over its whole life. */
function averagePerMinute(meta: RunMeta, requests: number, now: number): number | null {
  const ms = (meta.finishedAt ?? now) - meta.createdAt;
  return ms >= 1_000 ? Math.round((requests / ms) * 60_000) : null;
}

export function formatDuration(s: number | null): string {
  if (s === null) return '?';
  if (s < 60) return `${s}s`;
  if (s < 3_600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3_600)}h${String(Math.floor((s % 3_600) / 60)).padStart(2, '0')}m`;
}

const num = (n: number | null) => (n === null ? '?' : String(n));

/** The plain line (no terminal): counts, pace against the budget, ETA. */
export function plainLine(v: ProgressView, counts: RunCounts): string {
  return `${v.runId} ${v.state}: ${countsLine(counts)} · ${num(v.requestsPerMinute)}/${num(v.budgetPerMinute)} req/min · ETA ${formatDuration(v.etaSeconds)}\n`;
}

export interface ProgressOptions {
  mode?: ProgressMode;
  /** Plain mode: a line at most this often (and the last one). */
  plainEveryMs?: number;
  /**
   * 'caller': a tick that sees the run final draws nothing; the caller calls finish()
   * once its worker has flushed its counters (run, retry --wait). Default 'tick'.
   */
  final?: 'tick' | 'caller';
}

export interface Progress {
  readonly mode: ProgressMode;
  /** waitForRun's onTick. */
  tick: (meta: RunMeta, counts: RunCounts) => Promise<void>;
  /** Draws the final state and ends the bar. */
  finish: (meta: RunMeta, counts: RunCounts) => Promise<void>;
  /** Ends the bar (idempotent); call before the summary goes to stdout. */
  stop: () => void;
}

/** Picks the mode: json when asked, a bar when stderr is a terminal, plain lines otherwise. */
export function progressMode(io: CliIO, json = false): ProgressMode {
  return json ? 'json' : io.stderr.isTTY ? 'bar' : 'plain';
}

/** Progress of a run on stderr, in the given mode. */
export function createProgress(io: CliIO, runId: string, opts: ProgressOptions = {}): Progress {
  const mode = opts.mode ?? progressMode(io);
  const window = new RateWindow();
  let lastPlain = 0;
  let bar: cliProgress.SingleBar | null = null;

  const stop = () => {
    bar?.stop();
    bar = null;
  };

  const tick = (meta: RunMeta, counts: RunCounts) => {
    if (opts.final === 'caller' && FINAL_RUN_STATES.includes(meta.state)) return Promise.resolve();
    return draw(meta, counts, false);
  };

  const finish = async (meta: RunMeta, counts: RunCounts) => {
    await draw(meta, counts, true);
    stop();
  };

  const draw = async (meta: RunMeta, counts: RunCounts, last: boolean) => {
    const now = Date.now();
    const paced = pacedBucket(counts);
    window.add(now, counts.total - counts.pending, paced.requests, paced.name);
    const final = last || FINAL_RUN_STATES.includes(meta.state);
    const v = progressView(meta, counts, window, paced.budget, now);
    if (mode === 'json') {
      err(io, `${JSON.stringify(v)}\n`);
    } else if (mode === 'plain') {
      if (final || now - lastPlain >= (opts.plainEveryMs ?? 2_000)) {
        lastPlain = now;
        err(io, plainLine(v, counts));
      }
    } else {
      const payload = {
        rpm: num(v.requestsPerMinute),
        budget: num(v.budgetPerMinute),
        left: formatDuration(v.etaSeconds),
        r429: v.rateLimited,
        failed: v.failed,
      };
      if (!bar) {
        // The run id once above the bar; the bar itself fits an 80-column terminal (no wrapping while redrawn).
        err(io, `${runId}: ${v.total} targets\n`);
        const columns = (io.stderr as { columns?: number }).columns ?? 80;
        bar = new cliProgress.SingleBar(
          {
            stream: io.stderr,
            format: `[{bar}] {percentage}% {value}/{total} | {rpm}/{budget} req/min | ETA {left} | 429s {r429} | failed {failed}`,
            barsize: Math.max(10, Math.min(40, columns - 70)),
            hideCursor: false,
            gracefulExit: false,
            clearOnComplete: false,
            etaBuffer: 1,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(v.total, v.done, payload);
      } else {
        if (bar.getTotal() !== v.total) bar.setTotal(v.total);
        bar.update(v.done, payload);
      }
      if (final) stop();
    }
  };

  return { mode, tick, finish, stop };
}
