/**
 * Line counters and a latency window. Percentiles come from the last `window` parts (a ring,
 * allocated once), which is what an operator watching the line wants to see.
 */
export { monotonicMs } from '../capture/frame.js';

export class LatencyWindow {
  private readonly ring: Float64Array;
  private n = 0;
  constructor(readonly window = 65536) {
    this.ring = new Float64Array(window);
  }
  add(ms: number): void {
    this.ring[this.n++ % this.window] = ms;
  }
  get count(): number {
    return this.n;
  }
  percentile(p: number): number {
    const k = Math.min(this.n, this.window);
    if (k === 0) return 0;
    const sorted = this.ring.slice(0, k).sort();
    return sorted[Math.min(k - 1, Math.max(0, Math.ceil((p / 100) * k) - 1))];
  }
}

export interface LineCounters {
  parts: number;
  pass: number;
  fail: number;
  uninspected: number;
  /** Uninspected parts by error code. */
  byCode: Record<string, number>;
}

export function newCounters(): LineCounters {
  return { parts: 0, pass: 0, fail: 0, uninspected: 0, byCode: {} };
}

/** The station's own work on a part (preprocess, code, inference, decode, decision), without queueing. */
export function processingMs(t: { preprocess: number; inference: number; decode: number; decision: number; code?: number }): number {
  return t.preprocess + (t.code ?? 0) + t.inference + t.decode + t.decision;
}
