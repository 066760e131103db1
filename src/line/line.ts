import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { CameraStatus, FrameImage } from '../capture/index.js';
import type { Thresholds } from '../config/schema.js';
import { StationError, type SerializedError } from '../errors/index.js';
import { LatencyWindow, newCounters, type LineCounters } from './stats.js';
import type { FromWorker, InspectionResult, ModelSummary, ToWorker, WorkerInit } from './protocol.js';

export interface LineEvents {
  result: [InspectionResult];
  'source-error': [string, SerializedError];
  'source-ended': [string];
  /** A camera's state or counters changed. */
  'source-status': [string, CameraStatus];
  /** Every source has ended and every part is decided. */
  idle: [];
}

/**
 * The main thread's handle on the line worker: counters, latency, results as events, and
 * frames pushed over HTTP. The worker owns capture and inference.
 */
export class Line extends EventEmitter<LineEvents> {
  readonly counters: LineCounters = newCounters();
  readonly latency = new LatencyWindow();
  models: ModelSummary[] = [];
  private worker: Worker | null = null;
  private readonly pending = new Map<number, { resolve: (r: InspectionResult) => void; reject: (e: StationError) => void }>();
  private nextRequest = 1;
  private stopped: Promise<void> | null = null;
  readonly startedAt = Date.now();
  /** Every source has ended and every part is decided. */
  drained = false;

  constructor(private readonly init: WorkerInit) {
    super();
  }

  /** Starts the worker; resolves once every model is loaded and warmed up. */
  async start(): Promise<ModelSummary[]> {
    const worker = spawnWorker('worker', this.init);
    this.worker = worker;
    return new Promise<ModelSummary[]>((resolve, reject) => {
      worker.on('message', (msg: FromWorker) => {
        switch (msg.type) {
          case 'ready':
            this.models = msg.models;
            resolve(msg.models);
            return;
          case 'fatal':
            reject(new StationError(msg.error.code, msg.error.message));
            void worker.terminate();
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
        }
      });
      worker.on('error', (err) => {
        reject(new StationError('STN_ERR_LINE_WORKER', err.message, { cause: err }));
        this.failPending('STN_ERR_LINE_WORKER');
      });
      worker.on('exit', () => {
        this.worker = null;
        this.failPending('STN_ERR_LINE_STOPPED');
      });
    });
  }

  private onResult(r: InspectionResult): void {
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
    for (const p of this.pending.values()) p.reject(new StationError(code));
    this.pending.clear();
  }

  /** Resolves once every source has ended and every part is decided (at once if that happened already). */
  whenIdle(): Promise<void> {
    if (this.drained) return Promise.resolve();
    return new Promise((resolve) => this.once('idle', () => resolve()));
  }

  /** Sends a pushed frame (HTTP) through the line; resolves with its result. */
  inspect(image: FrameImage, source?: string): Promise<InspectionResult> {
    if (!this.worker) return Promise.reject(new StationError('STN_ERR_LINE_STOPPED'));
    const requestId = this.nextRequest++;
    const msg: ToWorker = { type: 'push', requestId, source: source ?? '', image, timestamp: Date.now() };
    return new Promise((resolve, reject) => {
      this.pending.set(requestId, { resolve, reject });
      this.worker!.postMessage(msg);
    });
  }

  /** The PLC's photo-eye saw part `seq` (triggered sources acquire its frame). */
  trigger(seq: number, at: number): void {
    this.worker?.postMessage({ type: 'trigger', seq, at } satisfies ToWorker);
  }

  /** Switches every source to another recipe from its next frame on. */
  selectRecipe(recipe: string): void {
    this.worker?.postMessage({ type: 'select-recipe', recipe } satisfies ToWorker);
  }

  /** Starts or stops inspecting (automatic mode); stopped, every part is uninspected. */
  setRunning(running: boolean): void {
    this.worker?.postMessage({ type: 'run', running } satisfies ToWorker);
  }

  /** Applies new thresholds between frames; the next part is decided with them. */
  setThresholds(recipe: string, thresholds: Thresholds, version: number): void {
    this.worker?.postMessage({ type: 'thresholds', recipe, thresholds, version } satisfies ToWorker);
  }

  /** Stops capture and waits until the parts in flight are decided and the worker has exited. */
  stop(): Promise<void> {
    if (this.stopped) return this.stopped;
    const w = this.worker;
    if (!w) return (this.stopped = Promise.resolve());
    this.stopped = new Promise<void>((resolve) => {
      const timer = setTimeout(() => void w.terminate(), 10_000);
      w.on('message', (m: FromWorker) => {
        if (m.type === 'stopped') void w.terminate();
      });
      w.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      w.postMessage({ type: 'stop' } satisfies ToWorker);
    });
    return this.stopped;
  }

  /** The last reported state of each camera source. */
  readonly cameras = new Map<string, CameraStatus>();

  summary() {
    return {
      parts: this.counters.parts,
      verdicts: { pass: this.counters.pass, fail: this.counters.fail, uninspected: this.counters.uninspected },
      latencyMs: { p50: round2(this.latency.percentile(50)), p99: round2(this.latency.percentile(99)) },
    };
  }
}

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
