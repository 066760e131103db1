import { setImmediate as nextTurn } from 'node:timers/promises';
import { open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { cautiousNowMs } from '../capture/index.js';
import type { ImageStore } from './images.js';
import type { MonthDrop } from './partitions.js';
import type { Repository } from './repository.js';

export interface RetentionOptions {
  /** Only this station's images: a shared database and image store hold other stations' too. */
  stationId: string;
  /** Images of parts older than this are deleted (days). */
  maxAgeDays: number;
  /** ... except parts someone reviewed, kept this long (days). */
  keepReviewedDays: number;
  /**
   * Whole records (findings, compact outputs, reviews and their images) older than this (days)
   * are deleted; the hourly aggregates stay, so statistics still cover them. Unset: for ever.
   */
  recordsDays?: number;
  /** Total image bytes allowed; the oldest go first beyond it. */
  maxBytes?: number;
  /** Free space to keep on the image disk; the oldest images go first below it. */
  minFreeBytes: number;
  intervalMs: number;
  /**
   * Where a purge notes the files it is about to delete (default: beside the images,
   * `.retention-pending-<station>.json`), so a process killed mid-purge finishes it at start.
   */
  pendingFile?: string;
  /** Told of each month of records dropped, and once per month of each month held back (PostgreSQL). */
  onMonth?: (m: { month: string } & MonthDrop) => void;
}

export interface RetentionCounters {
  sweeps: number;
  /** Inspections whose images were deleted (the inspection rows stay). */
  inspectionsPurged: number;
  /** Inspection records deleted past `recordsDays`. */
  recordsDeleted: number;
  /** PostgreSQL: months of records dropped whole past every station's `recordsDays`. */
  monthsDropped: number;
  bytesFreed: number;
  errors: number;
}

export interface DiskStatus {
  freeBytes: number;
  totalBytes: number;
  imageBytes: number;
}

/**
 * Image retention: by age, by a byte budget and by free space, oldest first, unreviewed parts
 * before reviewed ones. Only images go: the inspection rows (verdict, findings, outputs) are
 * the traceability record and are never deleted here. A full disk triggers a sweep at once.
 *
 *   every intervalMs, or on ENOSPC:
 *     1. age:    unreviewed older than maxAgeDays, reviewed older than keepReviewedDays
 *     2. budget: while imageBytes > maxBytes or free < minFreeBytes:
 *                oldest unreviewed parts' images, then (still short) oldest reviewed ones
 */
export class Retention {
  readonly counters: RetentionCounters = { sweeps: 0, inspectionsPurged: 0, recordsDeleted: 0, monthsDropped: 0, bytesFreed: 0, errors: 0 };
  disk: DiskStatus | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  /** Months held back that were reported already, with why (reported again when the reason changes). */
  private readonly held = new Map<string, string>();

  constructor(
    private readonly repo: Repository,
    private readonly images: ImageStore,
    private readonly o: RetentionOptions,
    private readonly onError?: (err: unknown) => void,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.sweep(), this.o.intervalMs);
    this.timer.unref();
    void this.sweep();
  }

  private get pendingFile(): string {
    return this.o.pendingFile ?? path.join(this.images.location, `.retention-pending-${this.o.stationId.replace(/[^A-Za-z0-9_.-]/g, '_')}.json`);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** Runs a sweep (coalesced: a request during a sweep runs one more afterwards). */
  sweep(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.sweepOnce();
        } while (this.again);
      } catch (err) {
        this.counters.errors++;
        this.onError?.(err);
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  async diskStatus(): Promise<DiskStatus> {
    const fs = await this.images.space();
    this.disk = {
      freeBytes: fs?.freeBytes ?? 0,
      totalBytes: fs?.totalBytes ?? 0,
      imageBytes: await this.repo.imageBytes(this.o.stationId),
    };
    return this.disk;
  }

  private async sweepOnce(): Promise<void> {
    this.counters.sweeps++;
    await this.finishPending();
    // A wall clock stepped forward deletes nothing early (the monotonic time since start bounds it).
    const now = cautiousNowMs();
    await this.repo.months?.ahead(now);
    await this.purgeAll({ reviewed: false, before: new Date(now - this.o.maxAgeDays * 86400_000) });
    await this.purgeAll({ reviewed: true, before: new Date(now - this.o.keepReviewedDays * 86400_000) });
    if (this.o.recordsDays !== undefined) {
      // Images first (durably, as above), then the rows that no longer name any file.
      const before = new Date(now - this.o.recordsDays * 86400_000);
      await this.purgeAll({ reviewed: false, before });
      await this.purgeAll({ reviewed: true, before });
      await this.deleteRecords(before, now);
    }
    for (const reviewed of [false, true]) {
      for (;;) {
        const d = await this.diskStatus();
        const over = (this.o.maxBytes !== undefined && d.imageBytes > this.o.maxBytes) || (d.totalBytes > 0 && d.freeBytes < this.o.minFreeBytes);
        if (!over) return;
        if ((await this.purge({ reviewed }, 50)) === 0) break;
      }
    }
    await this.diskStatus();
  }

  /**
   * Records captured before `before` go. SQLite: in batches of 500. PostgreSQL: a month at a time,
   * once the whole month is past `before` — dropped at once when it is past every station's
   * `recordsDays` too, otherwise this station's records of it in batches.
   */
  private async deleteRecords(before: Date, nowMs: number): Promise<void> {
    // At most 40 batches (20 000 records) per sweep, so that a long backlog never holds back the
    // free-space pass below or a sweep a full disk asks for; the next sweep goes on.
    let batches = 40;
    const batched = async (upTo: Date) => {
      for (; batches > 0; batches--) {
        const n = await this.repo.deleteRecordsBefore(this.o.stationId, upTo, 500);
        this.counters.recordsDeleted += n;
        if (n === 0) return;
        await nextTurn(); // the PLC's writes between batches (SQLite deletes on this thread)
      }
    };
    const months = this.repo.months;
    if (!months) return batched(before);
    for (const m of await months.list()) {
      if (m.to > before || batches === 0) return;
      const r = await months.drop(m, nowMs, `retention:${this.o.stationId}`);
      if ('dropped' in r) {
        this.counters.recordsDeleted += r.dropped;
        this.counters.monthsDropped++;
        this.held.delete(m.month);
        this.o.onMonth?.({ month: m.month, ...r });
        continue;
      }
      const why = JSON.stringify(r);
      if (!('busy' in r) && this.held.get(m.month) !== why) {
        this.held.set(m.month, why);
        this.o.onMonth?.({ month: m.month, ...r });
      }
      await batched(m.to);
    }
  }

  private async purgeAll(f: { reviewed: boolean; before: Date }): Promise<void> {
    while ((await this.purge(f, 200)) > 0);
  }

  /** A purge a killed process left half done: its rows are gone (or go now); so do its files. */
  private async finishPending(): Promise<void> {
    const text = await readFile(this.pendingFile, 'utf8').catch(() => null);
    if (text === null) return;
    let paths: string[] = [];
    try {
      paths = JSON.parse(text) as string[];
    } catch {
      /* torn before its rename: nothing was deleted yet */
    }
    if (Array.isArray(paths) && paths.length) {
      await this.repo.deleteImageRowsAt(this.o.stationId, paths);
      await this.images.remove(paths);
    }
    await rm(this.pendingFile, { force: true });
  }

  /** Deletes the images of up to `limit` of the oldest matching parts; returns how many parts. */
  private async purge(f: { reviewed: boolean; before?: Date }, limit: number): Promise<number> {
    const sets = await this.repo.oldestImageSets(this.o.stationId, limit, f);
    if (sets.length === 0) return 0;
    // Rows first, then files, with the list of files noted (and flushed) before either: killed at
    // any point, no row names a missing file, and the next sweep deletes the files left behind.
    //   note paths ─▶ delete image rows ─▶ delete files ─▶ forget the note
    const paths = sets.flatMap((s) => s.images.map((i) => i.path));
    const noted = await writeDurably(this.pendingFile, JSON.stringify(paths)).then(
      () => true,
      // A full disk has no room for the note either: files first then, to make the room (killed
      // in between, a row may name a missing file, which the API answers as "no longer stored").
      () => false,
    );
    if (noted) {
      await this.repo.deleteImagesOf(sets.map((s) => s.inspectionId));
      await this.images.remove(paths);
      await rm(this.pendingFile, { force: true });
    } else {
      await rm(`${this.pendingFile}.tmp`, { force: true });
      await this.images.remove(paths);
      await this.repo.deleteImagesOf(sets.map((s) => s.inspectionId));
    }
    for (const s of sets) for (const img of s.images) this.counters.bytesFreed += img.bytes;
    this.counters.inspectionsPurged += sets.length;
    return sets.length;
  }
}

/** Writes a small file so that it is either absent or whole: a temporary file, flushed, renamed. */
async function writeDurably(file: string, text: string): Promise<void> {
  const fh = await open(`${file}.tmp`, 'w');
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(`${file}.tmp`, file);
}
