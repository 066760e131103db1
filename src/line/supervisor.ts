import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import { createSource, isTriggered, type CameraStatus, type FrameImage } from '../capture/index.js';
import type { Recipe, Thresholds } from '../config/schema.js';
import { deepFreeze } from '../config/load.js';
import { StationError, type ErrorCode, type SerializedError } from '../errors/index.js';
import { uninspectedResult, waitedTimings } from './results.js';
import { LatencyWindow, monotonicMs, newCounters, type LineCounters } from './stats.js';
import type { FromWorker, InspectionResult, ModelSummary, PartIdentity, ToWorker, WorkerInit } from './protocol.js';

/** `starting` → `running` ⇄ `restarting`; `failed` when the restart budget is spent; `stopped`. */
export type LineState = 'starting' | 'running' | 'restarting' | 'failed' | 'stopped';

export interface LineEvents {
  result: [InspectionResult];
  'source-error': [string, SerializedError];
  'source-ended': [string];
  /** A camera's state or counters changed. */
  'source-status': [string, CameraStatus];
  /** Every source has ended and every part is decided. */
  idle: [];
  /** The line's supervision state changed (the PLC's Ready follows `running`). */
  state: [LineState, string | null];
}

export interface SupervisionOptions {
  /** No sign of life from the worker for this long: it is stuck and gets restarted. */
  watchdogMs: number;
  /** At most this many restarts within `restartWindowMs`; one more and the line is `failed`. */
  maxRestarts: number;
  restartWindowMs: number;
}

const DEFAULT_SUPERVISION: SupervisionOptions = { watchdogMs: 5000, maxRestarts: 5, restartWindowMs: 600_000 };

interface Owed {
  source: string;
  seq: number;
  timestamp: number;
  mono: number;
  recipe: string;
  recipeVersion: number;
  partId?: string;
  lot?: string;
}

/**
 * Runs on the main thread. The main thread's handle on the line worker (worker/main.ts): counters, latency, results as events, frames
 * pushed over HTTP — and its supervisor. The worker owns capture and inference; this class owns
 * the promise that every part gets an answer:
 *
 *   worker ──accepted(part)──▶ owed ──result(part)──▶ answered
 *      │ no heartbeat for watchdogMs, or the thread died
 *      ▼
 *   abandon ─▶ every owed part: uninspected STN_ERR_LINE_WORKER (recorded, sent to the PLC)
 *           ─▶ new worker with the current thresholds (within the restart budget, else `failed`)
 *
 * PLC triggers are owed from the moment they are sent, one part per triggered source.
 */
export class Line extends EventEmitter<LineEvents> {
  readonly counters: LineCounters = newCounters();
  readonly latency = new LatencyWindow();
  models: ModelSummary[] = [];
  state: LineState = 'starting';
  /** Why the line last left `running` (a code and message), for health. */
  lastFault: string | null = null;
  restarts = 0;
  /** The line worker's V8 heap, as it last reported it. */
  workerHeapBytes: number | null = null;
  private worker: Worker | null = null;
  private readonly pending = new Map<number, { resolve: (r: InspectionResult) => void; reject: (e: StationError) => void }>();
  private readonly swaps = new Map<number, { resolve: (m: ModelSummary | null) => void; reject: (e: StationError) => void }>();
  private readonly owed = new Map<string, Owed>();
  private readonly recent: number[] = [];
  /** Sources whose frames the PLC triggers (views of the same part). */
  readonly triggeredSources: string[];
  private readonly supervision: SupervisionOptions;
  private readonly restartTimes: number[] = [];
  private readonly thresholds: NonNullable<WorkerInit['thresholds']> = {};
  private selectedRecipe: string | undefined;
  private runningMode = true;
  private nextRequest = 1;
  private stopped: Promise<void> | null = null;
  private lastSeen = 0;
  private watchdog: NodeJS.Timeout | null = null;
  /** The start on the monotonic clock: uptime, whatever the wall clock did since. */
  readonly startedMono = monotonicMs();
  /** Every source has ended and every part is decided. */
  drained = false;
  /** The last reported state of each camera source. */
  readonly cameras = new Map<string, CameraStatus>();
  private begun = false;
  /** Abandoned workers (see abandon()), each until its thread has exited. */
  private readonly zombies = new Set<Promise<void>>();

  constructor(
    private init: WorkerInit,
    supervision: Partial<SupervisionOptions> = {},
  ) {
    super();
    this.supervision = { ...DEFAULT_SUPERVISION, ...supervision };
    const cfg = init.config;
    this.triggeredSources = cfg.sources.filter((s) => isTriggered(createSource(s.name, s.uri, { baseDir: cfg.baseDir }))).map((s) => s.name);
  }

  /**
   * Starts the worker; resolves once every model is loaded and warmed up. Capture starts with
   * `begin()`, once the caller listens for results.
   */
  async start(): Promise<ModelSummary[]> {
    const models = await this.spawn();
    this.watchdog = setInterval(() => this.checkAlive(), Math.max(50, Math.min(1000, this.supervision.watchdogMs / 4)));
    this.watchdog.unref();
    return models;
  }

  /** Starts capture and inspection (after `start()`, with the result handlers attached). */
  begin(): void {
    this.begun = true;
    this.worker?.postMessage({ type: 'begin' } satisfies ToWorker);
  }

  private spawn(): Promise<ModelSummary[]> {
    const init: WorkerInit = { ...this.init, thresholds: this.thresholds, selectedRecipe: this.selectedRecipe, running: this.runningMode };
    const worker = spawnWorker('worker/main', init);
    this.worker = worker;
    this.lastSeen = monotonicMs();
    return new Promise<ModelSummary[]>((resolve, reject) => {
      worker.on('message', (msg: FromWorker) => {
        if (this.worker !== worker) return; // a worker being replaced no longer speaks for the line
        this.lastSeen = monotonicMs();
        switch (msg.type) {
          case 'heartbeat':
            if (msg.heapUsedBytes !== undefined) this.workerHeapBytes = msg.heapUsedBytes;
            return;
          case 'ready':
            this.models = msg.models;
            this.setState('running', null);
            // A restarted worker goes straight on: the handlers are already listening.
            if (this.begun) worker.postMessage({ type: 'begin' } satisfies ToWorker);
            resolve(msg.models);
            return;
          case 'fatal':
            reject(new StationError(msg.error.code, msg.error.message));
            this.worker = null;
            void worker.terminate();
            return;
          case 'accepted':
            this.owed.set(keyOf(msg.source, msg.seq, msg.timestamp), msg);
            return;
          case 'result':
            this.onResult(msg.result);
            return;
          case 'push-rejected':
            this.pending.get(msg.requestId)?.reject(new StationError(msg.error.code, msg.error.message));
            this.pending.delete(msg.requestId);
            return;
          case 'source-error':
            this.emit('source-error', msg.source, msg.error);
            return;
          case 'source-ended':
            this.emit('source-ended', msg.source);
            return;
          case 'source-status':
            this.cameras.set(msg.source, msg.status);
            this.emit('source-status', msg.source, msg.status);
            return;
          case 'drained':
            this.drained = true;
            this.emit('idle');
            return;
          case 'stopped':
            return;
          case 'swapped': {
            const w = this.swaps.get(msg.requestId);
            this.swaps.delete(msg.requestId);
            if (msg.error) w?.reject(new StationError(msg.error.code, msg.error.message));
            else w?.resolve(msg.model ?? null);
            return;
          }
        }
      });
      worker.on('error', (err) => {
        if (this.worker !== worker) return;
        const e = new StationError('STN_ERR_LINE_WORKER', err.message, { cause: err });
        if (this.state === 'starting') {
          this.worker = null;
          reject(e);
          this.failPending('STN_ERR_LINE_WORKER');
          return;
        }
        this.recover(`worker crashed: ${err.message}`);
      });
      worker.on('exit', (code) => {
        if (this.worker !== worker) return;
        this.worker = null;
        if (this.state === 'running' && !this.stopped) {
          this.recover(`worker exited (code ${code})`);
          return;
        }
        this.failPending('STN_ERR_LINE_STOPPED');
      });
    });
  }

  private setState(s: LineState, why: string | null): void {
    if (why) this.lastFault = why;
    if (this.state === s) return;
    this.state = s;
    this.emit('state', s, why);
  }

  private checkAlive(): void {
    if (this.state !== 'running' || this.stopped || !this.worker) return;
    // Monotonic: a wall clock stepped forward is no silence, and one stepped back hides none.
    const silent = Math.round(monotonicMs() - this.lastSeen);
    if (silent > this.supervision.watchdogMs) this.recover(`no heartbeat from the line worker for ${silent} ms`);
  }

  /**
   * The worker is stuck or gone: answer for every part it owed (fail-safe), then start a new
   * one with the line's current thresholds — unless the restart budget is spent.
   */
  private recover(why: string): void {
    if (this.state === 'restarting' || this.state === 'failed' || this.stopped) return;
    const old = this.worker;
    this.worker = null;
    if (old) this.abandon(old);
    this.setState('restarting', why);
    this.answerOwed('STN_ERR_LINE_WORKER');
    this.failPending('STN_ERR_LINE_WORKER');
    const now = monotonicMs();
    while (this.restartTimes.length && now - this.restartTimes[0] > this.supervision.restartWindowMs) this.restartTimes.shift();
    if (this.restartTimes.length >= this.supervision.maxRestarts) {
      this.setState('failed', `${why}; restart budget spent (${this.supervision.maxRestarts} in ${Math.round(this.supervision.restartWindowMs / 1000)} s)`);
      return;
    }
    this.restartTimes.push(now);
    this.restarts++;
    this.drained = false;
    this.spawn().catch((err: StationError) => this.setState('failed', `restart failed: ${err.code}: ${err.message}`));
  }

  /**
   * Gives up on a worker without terminating it: a thread stuck inside a native model run cannot
   * be interrupted (terminating it there aborts the whole process). Its capture processes are
   * killed now, so the replacement can open the cameras; the thread is asked to stop, which it
   * does once the run returns, and is terminated only then.
   *
   *   stuck worker ──(ignored from now)──▶ 'stop' queued ──(run returns)──▶ stopped ──▶ terminate
   */
  private abandon(w: Worker): void {
    const gone = this.askToStop(w);
    this.zombies.add(gone);
    void gone.then(() => this.zombies.delete(gone));
    for (const c of this.cameras.values()) {
      if (c.pid) {
        try {
          process.kill(c.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
  }

  /** Every part the line owes an answer for gets one now: uninspected with `code`. */
  private answerOwed(code: ErrorCode): void {
    const now = Date.now();
    const mono = monotonicMs();
    for (const o of this.owed.values()) this.onResult(uninspectedResult(o, code, waitedTimings(o.mono, mono), now));
    this.owed.clear();
  }

  /** Parts decided per second over the last 10 s. */
  get partsPerS(): number {
    this.pruneRecent(monotonicMs());
    return this.recent.length / 10;
  }

  private pruneRecent(now: number): void {
    while (this.recent.length && this.recent[0] < now - 10_000) this.recent.shift();
  }

  private onResult(r: InspectionResult): void {
    this.owed.delete(keyOf(r.source, r.seq, r.timestamp));
    const now = monotonicMs();
    this.recent.push(now);
    this.pruneRecent(now);
    const c = this.counters;
    c.parts++;
    c[r.verdict]++;
    if (r.verdict === 'uninspected') c.byCode[r.errorCode ?? 'unknown'] = (c.byCode[r.errorCode ?? 'unknown'] ?? 0) + 1;
    this.latency.add(r.timings.total);
    if (r.requestId !== undefined) {
      this.pending.get(r.requestId)?.resolve(r);
      this.pending.delete(r.requestId);
    }
    this.emit('result', r);
  }

  private failPending(code: 'STN_ERR_LINE_WORKER' | 'STN_ERR_LINE_STOPPED'): void {
    for (const p of [...this.pending.values(), ...this.swaps.values()]) p.reject(new StationError(code));
    this.pending.clear();
    this.swaps.clear();
  }

  /**
   * Hot swap of one recipe's model or preprocessing: the worker loads and warms up the new one
   * beside the old, then switches between frames. Rejects (the old one stays) when it cannot.
   * A later worker restart starts with the new recipe too.
   */
  swapRecipe(name: string, recipe: Recipe, version: number): Promise<ModelSummary | null> {
    if (!this.worker || this.state !== 'running') return Promise.reject(new StationError('STN_ERR_LINE_WORKER', `the line is ${this.state}`));
    const requestId = this.nextRequest++;
    return new Promise<ModelSummary | null>((resolve, reject) => {
      this.swaps.set(requestId, { resolve, reject });
      this.worker!.postMessage({ type: 'swap-recipe', requestId, name, recipe, version } satisfies ToWorker);
    }).then((m) => {
      this.init = { ...this.init, config: deepFreeze({ ...this.init.config, recipes: { ...this.init.config.recipes, [name]: recipe } }) };
      this.thresholds[name] = { thresholds: recipe.thresholds, version };
      if (m) this.models = [...this.models.filter((x) => x.file !== m.file), m];
      return m;
    });
  }

  /** Resolves once every source has ended and every part is decided (at once if that happened already). */
  whenIdle(): Promise<void> {
    if (this.drained) return Promise.resolve();
    return new Promise((resolve) => this.once('idle', () => resolve()));
  }

  /** Sends a pushed frame (HTTP) through the line; resolves with its result. */
  inspect(image: FrameImage, source?: string): Promise<InspectionResult> {
    if (!this.worker || this.state !== 'running')
      return Promise.reject(new StationError(this.state === 'stopped' ? 'STN_ERR_LINE_STOPPED' : 'STN_ERR_LINE_WORKER'));
    const requestId = this.nextRequest++;
    const msg: ToWorker = { type: 'push', requestId, source: source ?? '', image, timestamp: Date.now() };
    return new Promise((resolve, reject) => {
      this.pending.set(requestId, { resolve, reject });
      this.worker!.postMessage(msg);
    });
  }

  /**
   * The PLC's photo-eye saw part `seq`: each triggered source owes a result for it from now on.
   * While the worker is down the part is answered at once: uninspected, a fail-safe reject.
   */
  trigger(seq: number, at: number, mono = monotonicMs() - Math.max(0, Date.now() - at), part?: PartIdentity): void {
    const owed = this.triggeredSources.map((source) => ({
      source,
      seq,
      timestamp: at,
      mono,
      recipe: this.recipeOf(source),
      recipeVersion: this.versionOf(this.recipeOf(source)),
      partId: part?.partId,
      lot: part?.lot,
    }));
    if (!this.worker || this.state !== 'running' || this.stopped) {
      // This part only: the parts the worker already has are still being decided (a graceful
      // stop finishes them), and a second answer would give the PLC two verdicts for one part.
      const code = this.stopped ? 'STN_ERR_LINE_STOPPED' : 'STN_ERR_LINE_WORKER';
      const now = Date.now();
      for (const o of owed) this.onResult(uninspectedResult(o, code, waitedTimings(o.mono), now));
      return;
    }
    for (const o of owed) this.owed.set(keyOf(o.source, o.seq, o.timestamp), o);
    this.worker.postMessage({ type: 'trigger', seq, at, mono, part } satisfies ToWorker);
  }

  private recipeOf(source: string): string {
    return this.selectedRecipe ?? this.init.config.sources.find((s) => s.name === source)?.recipe ?? '';
  }

  private versionOf(recipe: string): number {
    return this.thresholds[recipe]?.version ?? this.init.recipeVersions[recipe] ?? 1;
  }

  /** Switches every source to another recipe from its next frame on. */
  selectRecipe(recipe: string): void {
    this.selectedRecipe = recipe;
    this.worker?.postMessage({ type: 'select-recipe', recipe } satisfies ToWorker);
  }

  /** Starts or stops inspecting (automatic mode); stopped, every part is uninspected. */
  setRunning(running: boolean): void {
    this.runningMode = running;
    this.worker?.postMessage({ type: 'run', running } satisfies ToWorker);
  }

  /** Applies new thresholds between frames; the next part is decided with them. */
  setThresholds(recipe: string, thresholds: Thresholds, version: number): void {
    this.thresholds[recipe] = { thresholds, version };
    this.worker?.postMessage({ type: 'thresholds', recipe, thresholds, version } satisfies ToWorker);
  }

  /** Stops capture and waits until the parts in flight are decided and the worker has exited. */
  stop(): Promise<void> {
    if (this.stopped) return this.stopped;
    if (this.watchdog) clearInterval(this.watchdog);
    const w = this.worker;
    const finish = async () => {
      // Anything still owed (a worker that had to be terminated) is answered, never forgotten.
      this.answerOwed('STN_ERR_LINE_STOPPED');
      this.setState('stopped', null);
      await this.zombiesGone();
    };
    if (!w) return (this.stopped = finish());
    // Last resort only: terminating a thread inside a native model run aborts the process.
    const timer = setTimeout(() => void w.terminate(), 30_000);
    this.stopped = this.askToStop(w).then(() => {
      clearTimeout(timer);
      return finish();
    });
    return this.stopped;
  }

  /**
   * Asks a worker to stop (capture ends, parts in flight are decided) and terminates it once it
   * says it has; resolves when its thread has exited.
   */
  private askToStop(w: Worker): Promise<void> {
    const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
    w.on('message', (m: FromWorker) => {
      if (m.type === 'stopped') void w.terminate();
    });
    w.postMessage({ type: 'stop' } satisfies ToWorker);
    return exited;
  }

  /** Waits (bounded) for abandoned workers to finish their stuck run and exit. */
  private async zombiesGone(timeoutMs = 60_000): Promise<void> {
    if (!this.zombies.size) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
    await Promise.race([Promise.all(this.zombies), timeout]);
    clearTimeout(timer);
  }

  /** Parts accepted by the line and not yet answered. */
  get inFlight(): number {
    return this.owed.size;
  }

  summary() {
    return {
      parts: this.counters.parts,
      verdicts: { pass: this.counters.pass, fail: this.counters.fail, uninspected: this.counters.uninspected },
      latencyMs: { p50: round2(this.latency.percentile(50)), p99: round2(this.latency.percentile(99)) },
    };
  }
}

const keyOf = (source: string, seq: number, timestamp: number) => `${source}\u0000${seq}\u0000${timestamp}`;
const round2 = (x: number) => Math.round(x * 100) / 100;

/**
 * Starts a worker from the compiled module, or from the TypeScript source when the station runs
 * from source (tests, development). Node 20 does not pass `--import tsx` on to workers, so a
 * one-line bootstrap registers tsx inside the worker before importing the entry.
 */
function spawnWorker(name: string, workerData: unknown): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, import.meta.url), { workerData });
  const entry = new URL(`./${name}.ts`, import.meta.url).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  const code = `import { register } from ${JSON.stringify(tsx)}; register(); await import(${JSON.stringify(entry)});`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(code)}`), { workerData });
}
