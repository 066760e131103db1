import pRetry from 'p-retry';
import type { InspectionResult } from '../line/protocol.js';
import type { ImageStore, StoredImage } from './images.js';
import type { Repository } from './repository.js';

export interface RecorderCounters {
  /** Inspections written to the database. */
  recorded: number;
  /** Inspections whose images were written. */
  withImages: number;
  /** Images skipped because the queue was backed up or the disk refused them; the row is kept. */
  imagesShed: number;
  imageErrors: number;
  /** Rows that could not be written after retries (loud: this is lost traceability). */
  writeErrors: number;
  /** Rows refused because the queue was at its hard limit. */
  dropped: number;
}

export interface RecorderOptions {
  stationId: string;
  /** Queue length beyond which new records are kept without images. */
  queueSize: number;
  /** Fraction of good parts whose images are kept, per recipe. */
  keepGood: (recipe: string) => number;
  /** Model ids by sha256 and recipe version ids by `${recipe}@${version}`. */
  modelIds: Map<string, number>;
  recipeVersionIds: Map<string, number>;
  onRecorded?: (id: number, r: InspectionResult) => void;
  onError?: (err: unknown, r: InspectionResult) => void;
}

/**
 * Writes inspections off the hot path. The line hands results over and never waits: the queue
 * is bounded (rows shed their images first when the writer falls behind, and are refused only at
 * a hard limit, counted), and each row is retried with backoff before it is counted as an error.
 *
 *   line ──enqueue()──▶ [ r1 r2 r3 … ]  ──▶ images to disk ──▶ row + defects + image rows (1 tx)
 *                       │ len ≥ queueSize: keep row, drop images
 *                       │ len ≥ 8 × queueSize: refuse, counted
 */
export class Recorder {
  readonly counters: RecorderCounters = { recorded: 0, withImages: 0, imagesShed: 0, imageErrors: 0, writeErrors: 0, dropped: 0 };
  private readonly queue: { r: InspectionResult; images: boolean }[] = [];
  private readonly goodSeen = new Map<string, number>();
  private running: Promise<void> | null = null;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly repo: Repository, private readonly images: ImageStore, private readonly o: RecorderOptions) {}

  get depth(): number {
    return this.queue.length;
  }

  /** Hands a result over; returns immediately. */
  enqueue(r: InspectionResult): void {
    if (this.queue.length >= this.o.queueSize * 8) {
      this.counters.dropped++;
      return;
    }
    let keep = this.wantsImages(r);
    if (keep && this.queue.length >= this.o.queueSize) {
      keep = false;
      this.counters.imagesShed++;
    }
    // Frames without images need not stay in memory while queued.
    this.queue.push({ r: keep ? r : { ...r, image: undefined }, images: keep });
    this.running ??= this.drain();
  }

  /** Every failed or uninspected part keeps its images; good parts at the recipe's sampling rate. */
  private wantsImages(r: InspectionResult): boolean {
    if (!r.image) return false;
    if (r.verdict !== 'pass') return true;
    const rate = this.o.keepGood(r.recipe);
    if (rate <= 0) return false;
    const n = (this.goodSeen.get(r.recipe) ?? 0) + 1;
    this.goodSeen.set(r.recipe, n);
    // Deterministic sampling: keep part n when floor(n·rate) steps up.
    return Math.floor(n * rate) > Math.floor((n - 1) * rate);
  }

  private async drain(): Promise<void> {
    for (let item = this.queue.shift(); item; item = this.queue.shift()) await this.write(item.r, item.images);
    this.running = null;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  private async write(r: InspectionResult, withImages: boolean): Promise<void> {
    let stored: StoredImage[] = [];
    if (withImages) {
      try {
        stored = await this.images.write(this.o.stationId, r);
        this.counters.withImages++;
      } catch (err) {
        this.counters.imageErrors++;
        this.o.onError?.(err, r);
      }
    }
    try {
      const id = await pRetry(
        () => this.repo.insertInspection(this.o.stationId, r, {
          modelId: r.modelSha256 ? this.o.modelIds.get(r.modelSha256) ?? null : null,
          recipeVersionId: this.o.recipeVersionIds.get(`${r.recipe}@${r.recipeVersion}`) ?? null,
        }, stored),
        { retries: 4, minTimeout: 50, maxTimeout: 1000 },
      );
      this.counters.recorded++;
      this.o.onRecorded?.(id, r);
    } catch (err) {
      this.counters.writeErrors++;
      this.o.onError?.(err, r);
    }
  }

  /** Resolves when everything queued so far is written (or has failed, counted). */
  flush(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}

