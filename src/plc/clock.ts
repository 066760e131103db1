/**
 * The PLC's clock as seen from the station (its monotonic clock, in the gate: wall-clock steps on
 * the station then change nothing). Every value the PLC publishes carries its
 * `sourceTimestamp` (the PLC's clock when it changed: the photo-eye, for PartSeq); it arrives
 * later by the network, the server's publishing cycle and the station's own scheduling. The
 * smallest `arrival − source` over a recent window is the clock offset plus the least delay seen,
 * so `source + offset` places a PLC event on the station's clock, a little late at worst:
 *
 *   PLC clock   ──●── source ────────────────────────────
 *                  \_ delay (publish cycle, network) _
 *   station clock ─────────────────────●── arrival ──────
 *   offset ≈ min(arrival − source) over the last `window` samples
 *
 * A PLC clock stepped backwards makes later samples larger by the step: a few of them in a row,
 * far beyond any delay, restart the estimate (until then events are placed earlier than they
 * were: deadlines shorter, fail-safe). Stepped forwards, the new samples are smaller and take
 * over at once.
 */
export class PlcClock {
  private samples: number[] = [];
  private next = 0;
  private min = Number.POSITIVE_INFINITY;
  /** Samples in a row far above the held minimum: the PLC clock was stepped back. */
  private above = 0;

  /**
   * `window` samples are kept; `stepMs`: a sample this far above the minimum is no delay any
   * network makes, and `stepSamples` of them in a row mean the PLC clock stepped back — the
   * estimate starts again from them instead of waiting for the old minimum to leave the window.
   */
  constructor(
    private readonly window = 240,
    private readonly stepMs = 2000,
    private readonly stepSamples = 8,
  ) {}

  /** Forgets every sample (a new link: the PLC may have restarted with another clock). */
  reset(): void {
    this.samples = [];
    this.next = 0;
    this.min = Number.POSITIVE_INFINITY;
    this.above = 0;
  }

  /** A value from the PLC with its source timestamp (ms) arrived at `arrival` (station ms). */
  sample(source: number, arrival: number): void {
    const d = arrival - source;
    if (!Number.isFinite(d)) return;
    if (this.samples.length && d > this.min + this.stepMs) {
      if (++this.above >= this.stepSamples) {
        // Start again from now; the next samples bring the least delay back down.
        this.reset();
        this.push(d);
        return;
      }
    } else this.above = 0;
    this.push(d);
  }

  private push(d: number): void {
    if (this.samples.length < this.window) this.samples.push(d);
    else {
      const out = this.samples[this.next];
      this.samples[this.next] = d;
      this.next = (this.next + 1) % this.window;
      if (out === this.min && d > out) {
        this.min = Math.min(...this.samples);
        return;
      }
    }
    if (d < this.min) this.min = d;
  }

  /** Station clock minus PLC clock (ms), or null before the first sample. */
  get offsetMs(): number | null {
    return this.samples.length ? this.min : null;
  }

  /**
   * When a PLC event with this source timestamp happened, on the station's clock: never later
   * than it was heard. Without a usable source timestamp, when it was heard.
   */
  toStation(source: number | null, arrival: number): number {
    if (source === null || !Number.isFinite(source) || source <= 0 || this.offsetMs === null) return arrival;
    return Math.min(arrival, source + this.offsetMs);
  }
}

/** A DataValue's source timestamp in ms, or null when the server sent none (or the OPC UA minimum date). */
export function sourceMs(t: Date | null | undefined): number | null {
  const ms = t?.getTime();
  // OPC UA's "no time" is 1601-01-01; anything before 1971 is not a clock reading.
  return ms !== undefined && Number.isFinite(ms) && ms > 31_536_000_000 ? ms : null;
}
