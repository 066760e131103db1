import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Thresholds } from '../config/schema.js';
import { StationError, type ErrorCode } from '../errors/index.js';
import type { Repository } from '../store/repository.js';
import { runWhatIf, type WhatIfQuery, type WhatIfResult } from './run.js';

export type WhatIfJobState = 'running' | 'done' | 'failed' | 'cancelled';

/** What `GET /api/whatif/jobs/:id` shows: progress while it runs, the result once done. */
export interface WhatIfJobView {
  id: string;
  state: WhatIfJobState;
  recipe: string;
  from: string | null;
  to: string | null;
  /** Who started it (a user name). */
  startedBy: string;
  startedAt: string;
  /** Parts in the window (from the hourly aggregates, counted at the start). */
  total: number;
  /** Parts re-decided so far. */
  done: number;
  /** done / total, 0..1 (1 once done). */
  share: number;
  elapsedMs: number;
  /** Remaining time at the rate so far, while running (null before the first chunk). */
  etaMs: number | null;
  result?: WhatIfResult;
  error?: { code: ErrorCode; message: string };
}

interface Job {
  view: WhatIfJobView;
  t0: number;
  endedAt: number | null;
  abort: AbortController;
  settled: Promise<void>;
}

export interface WhatIfJobOptions {
  /** Jobs running at once (each takes up to one core while it reads and re-decides: the line needs the other). */
  maxRunning: number;
  /** How long an ended job stays to be read (ms). */
  keepMs: number;
  /** Ended jobs kept at most (the oldest go first): each holds its result. */
  keepEnded: number;
  /** Where an unexpected failure is logged (its details never reach the API). */
  log?: { error(details: object, message: string): void };
}

/**
 * What-if over windows too large to answer in one request (a month is 26 million parts, minutes of
 * work): a job runs in the background through the same chunked scan and tally as
 * `POST /api/whatif`, reporting its progress against the window's part count from the hourly
 * aggregates, and can be cancelled between chunks. Memory is the tally's (the counts and the
 * newest flipped parts), not the window's. Jobs live in this process: a restart forgets them.
 *
 *   start ──▶ running ──(scan ends)──▶ done (result)
 *                │ └──(error)─────────▶ failed (code, message)
 *                └──(cancel)──────────▶ cancelled
 *   ended jobs are kept for `keepMs`, then forgotten
 */
export class WhatIfJobs {
  private readonly jobs = new Map<string, Job>();

  constructor(
    private readonly repo: Pick<Repository, 'countForWhatIf' | 'scanForWhatIf' | 'withImage'>,
    private readonly o: WhatIfJobOptions = { maxRunning: 1, keepMs: 3_600_000, keepEnded: 50 },
  ) {}

  /** Starts still counting their window: they hold a slot of `maxRunning` too. */
  private starting = 0;

  async start(q: WhatIfQuery & { thresholds: Thresholds; keepFlips?: number }, startedBy: string): Promise<WhatIfJobView> {
    this.prune();
    // The slot is taken before the first await: requests arriving together cannot all pass.
    const running = [...this.jobs.values()].filter((j) => j.view.state === 'running').length + this.starting;
    if (running >= this.o.maxRunning)
      throw new StationError('STN_ERR_WHATIF_BUSY', `${running} what-if job(s) running (at most ${this.o.maxRunning}): wait for it or cancel it`);
    this.starting++;
    let total: number;
    try {
      total = await this.repo.countForWhatIf(q);
    } finally {
      this.starting--;
    }
    const abort = new AbortController();
    const view: WhatIfJobView = {
      id: randomUUID(),
      state: 'running',
      recipe: q.recipe,
      from: q.from?.toISOString() ?? null,
      to: q.to?.toISOString() ?? null,
      startedBy,
      startedAt: new Date().toISOString(),
      total,
      done: 0,
      share: 0,
      elapsedMs: 0,
      etaMs: null,
    };
    const job: Job = { view, t0: performance.now(), endedAt: null, abort, settled: Promise.resolve() };
    job.settled = runWhatIf(this.repo as Repository, q, { signal: abort.signal, onProgress: (done) => (view.done = done) }).then(
      (result) => this.end(job, 'done', { result }),
      (err: unknown) => {
        // A database or driver error's text stays in the log; the job says only that it failed.
        if (!(err instanceof StationError)) this.o.log?.error({ err, job: view.id }, 'what-if job failed');
        const e = err instanceof StationError ? err : new StationError('STN_ERR_INTERNAL');
        this.end(job, e.code === 'STN_ERR_WHATIF_CANCELLED' ? 'cancelled' : 'failed', { error: { code: e.code, message: e.message } });
      },
    );
    this.jobs.set(view.id, job);
    return this.view(job);
  }

  get(id: string): WhatIfJobView {
    this.prune();
    const job = this.jobs.get(id);
    if (!job) throw new StationError('STN_ERR_WHATIF_JOB');
    return this.view(job);
  }

  /** Stops a running job between chunks; an ended one stays as it ended. */
  async cancel(id: string): Promise<WhatIfJobView> {
    this.prune();
    const job = this.jobs.get(id);
    if (!job) throw new StationError('STN_ERR_WHATIF_JOB');
    job.abort.abort();
    await job.settled;
    return this.view(job);
  }

  /** Cancels every running job and waits for them (the station is stopping). */
  async stop(): Promise<void> {
    for (const j of this.jobs.values()) j.abort.abort();
    await Promise.all([...this.jobs.values()].map((j) => j.settled));
  }

  private end(job: Job, state: WhatIfJobState, extra: Pick<WhatIfJobView, 'result' | 'error'>): void {
    job.endedAt = performance.now();
    Object.assign(job.view, { state, ...extra });
    if (state === 'done') job.view.done = job.view.result?.inspections ?? job.view.done;
  }

  private view(job: Job): WhatIfJobView {
    const v = job.view;
    const now = job.endedAt ?? performance.now();
    v.elapsedMs = Math.round(now - job.t0);
    v.share = v.state === 'done' ? 1 : v.total > 0 ? Math.min(1, v.done / v.total) : 0;
    v.etaMs = v.state === 'running' && v.done > 0 ? Math.round((v.elapsedMs * Math.max(0, v.total - v.done)) / v.done) : null;
    return { ...v };
  }

  private prune(): void {
    const now = performance.now();
    const ended = [...this.jobs].filter(([, j]) => j.endedAt !== null);
    // Oldest first (a Map keeps insertion order): past their time, or beyond the number kept.
    for (const [i, [id, j]] of ended.entries()) if (now - (j.endedAt ?? now) > this.o.keepMs || i < ended.length - this.o.keepEnded) this.jobs.delete(id);
  }
}
