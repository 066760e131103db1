import { setImmediate as nextTurn } from 'node:timers/promises';
import { closeSync, fdatasync, ftruncateSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { appendFile, mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import path from 'node:path';
import pMap from 'p-map';
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
  /** Image writes refused for lack of space (ENOSPC; included in imageErrors). */
  diskFull: number;
  /** Rows that could not be written to the database and went to the spool on disk instead. */
  spooled: number;
  /** Spooled rows written to the database later. */
  replayed: number;
  /** Rows that could be written neither to the database nor to the spool: lost traceability, loudly. */
  writeErrors: number;
  /** Rows refused because the queue was at its hard limit and the spool refused them too. */
  dropped: number;
  /**
   * Spool lines that could not be read back (torn by a power cut mid-append, or corrupt): moved
   * to `quarantine-*.quarantine` in the spool folder for a person to look at, never replayed.
   */
  quarantined: number;
  /** Results that could not be appended to the journal (their record may be lost if the process dies before it is written). */
  journalErrors: number;
}

export interface RecorderOptions {
  stationId: string;
  /** Queue length beyond which new records are kept without images. */
  queueSize: number;
  /** Where rows wait, as JSON lines, while the database cannot take them. */
  spoolDir: string;
  /** Parts whose images are encoded at the same time (default 4, libuv's thread count). */
  imageConcurrency?: number;
  /** Fraction of good parts whose images are kept, per recipe. */
  keepGood: (recipe: string) => number;
  /** Model ids by sha256 and recipe version ids by `${recipe}@${version}`. */
  modelIds: Map<string, number>;
  recipeVersionIds: Map<string, number>;
  onRecorded?: (id: number, r: InspectionResult) => void;
  onError?: (err: unknown, r: InspectionResult | null) => void;
  /** An image write found the disk full (retention can make room). */
  onDiskFull?: () => void;
  /** How often the spool is retried while the database is down (ms). */
  replayEveryMs?: number;
}

/** At most this many good parts' frames are held for a delivery to settle (a queue longer than that holds none). */
const SPARE_FRAMES = 64;

/** A result waiting to be written. */
interface QueuedPart {
  r: InspectionResult;
  /** Whether its images are written. */
  images: boolean;
  /** The journal file it was appended to (null: the append failed). */
  journal: string | null;
  /** The result as recorded, once its verdict's delivery to the PLC is settled. */
  final?: Promise<InspectionResult>;
  /** A good part's frame, held until its delivery is settled. */
  spare?: boolean;
}

/** What a spooled row needs to be inserted later, exactly as it would have been. */
export interface SpoolEntry {
  r: Omit<InspectionResult, 'image' | 'masks' | 'anomalyMap'>;
  images: StoredImage[];
  /** From the journal of a process that died: its images, if they were written, are found again by name. */
  journal?: true;
}

/** Journal entries per file before a new one is started (old files go once every entry in them is settled). */
const JOURNAL_ROTATE = 1024;
/** How often the journal is flushed to the disk: on a power loss of the machine at most this much of it is lost. */
const JOURNAL_SYNC_MS = 200;

/**
 * Writes inspections off the hot path. The line hands results over and never waits: the queue
 * is bounded (rows shed their images first when the writer falls behind), each row is retried
 * with backoff, and a row the database will not take goes to a spool on disk, replayed when the
 * database is back. While the database is down, rows go to the spool at once (no retry wait), so
 * the queue keeps moving.
 *
 *   line ──enqueue()──▶ [ r1 r2 r3 … ] ──▶ images to disk ──▶ row + defects + image rows (1 tx)
 *                       │ len ≥ queueSize: keep row, drop images       │ fails (after retries)
 *                       │ len ≥ 8 × queueSize: straight to the spool   ▼
 *                                                        spool/*.jsonl ──(db back)──▶ replayed
 */
export class Recorder {
  readonly counters: RecorderCounters = {
    recorded: 0,
    withImages: 0,
    imagesShed: 0,
    imageErrors: 0,
    diskFull: 0,
    spooled: 0,
    replayed: 0,
    writeErrors: 0,
    dropped: 0,
    quarantined: 0,
    journalErrors: 0,
  };
  /** True from a failed database write until the spool has been replayed. */
  databaseDown = false;
  lastDatabaseError: string | null = null;
  private readonly queue: QueuedPart[] = [];
  /** The journal file being appended to, its descriptor and how many entries it has. */
  private journalFile: string | null = null;
  private journalFd: number | null = null;
  private journalCount = 0;
  /** Journal bytes written since the last flush to the disk (every JOURNAL_SYNC_MS, off the hot path). */
  private journalDirty = false;
  private journalSyncing = false;
  private syncTimer: NodeJS.Timeout | null = null;
  /** Journal files → entries in them not yet in the database or the spool. */
  private readonly journalOpen = new Map<string, number>();
  private readonly goodSeen = new Map<string, number>();
  private running: Promise<void> | null = null;
  private idleWaiters: (() => void)[] = [];
  private spoolFile: string | null = null;
  private spoolPending = 0;
  private replayTimer: NodeJS.Timeout | null = null;
  private replaying: Promise<void> | null = null;
  private closed = false;
  private spoolChain: Promise<void> = Promise.resolve();

  constructor(
    private readonly repo: Repository,
    private readonly images: ImageStore,
    private readonly o: RecorderOptions,
  ) {}

  get depth(): number {
    return this.queue.length;
  }

  /** Rows waiting in the spool for the database. */
  get spoolDepth(): number {
    return this.spoolPending;
  }

  /**
   * Replays anything a previous run left in the spool (a crash while the database was down),
   * then keeps retrying while rows wait there.
   */
  async start(): Promise<void> {
    await mkdir(this.o.spoolDir, { recursive: true });
    // A process that died left its journal: every result in it joins the spool and is replayed;
    // those already in the database are skipped by their unique key.
    for (const f of (await readdir(this.o.spoolDir)).filter((x) => x.endsWith('.wal'))) {
      await rename(path.join(this.o.spoolDir, f), path.join(this.o.spoolDir, f.replace(/^journal-/, 'spool-').replace(/\.wal$/, '-journal.jsonl')));
    }
    const left = (await readdir(this.o.spoolDir)).filter((f) => f.endsWith('.jsonl') || f.endsWith('.replaying'));
    for (const f of left) {
      const lines = (await readFile(path.join(this.o.spoolDir, f), 'utf8')).split('\n').filter(Boolean).length;
      // An empty file (a journal with every entry settled when its process died) has nothing to replay.
      if (lines === 0) await rm(path.join(this.o.spoolDir, f), { force: true });
      this.spoolPending += lines;
    }
    if (this.spoolPending > 0) {
      this.databaseDown = true;
      await this.replay();
    }
    this.replayTimer = setInterval(() => {
      if (this.spoolPending > 0 && !this.replaying) void this.replay();
    }, this.o.replayEveryMs ?? 1000);
    this.replayTimer.unref();
    this.syncTimer = setInterval(() => this.syncJournal(), JOURNAL_SYNC_MS);
    this.syncTimer.unref();
  }

  /** While the database is down, or rows wait in the spool (which keeps their order), rows join the spool. */
  private get spooling(): boolean {
    return this.databaseDown || this.spoolPending > 0;
  }

  /**
   * Hands a result over; returns immediately, once the result is in the journal: call it before
   * the PLC hears the verdict, and a process killed at any moment after that loses no record.
   * `final`, when given, is the result as it is to be recorded once the PLC has (or has not)
   * taken the verdict (a verdict it did not get is recorded as uninspected); the row waits for it.
   */
  enqueue(r: InspectionResult, final?: Promise<InspectionResult>): void {
    const journal = this.journal(r);
    if (this.queue.length >= this.o.queueSize * 8) {
      // The writer is far behind: the row still goes somewhere durable, without images.
      void (final ?? Promise.resolve(r)).then((f) => this.spool(f, [], journal));
      return;
    }
    let keep = this.wantsImages(r);
    if (keep && this.queue.length >= this.o.queueSize) {
      keep = false;
      this.counters.imagesShed++;
    }
    // Frames without images need not stay in memory while queued; a good part's frame is held
    // until its delivery is settled (while the queue is short), for a part the PLC did not get.
    const spare = !keep && final !== undefined && r.image !== undefined && this.queue.length < Math.min(this.o.queueSize, SPARE_FRAMES);
    this.queue.push({ r: keep || spare ? r : { ...r, image: undefined }, images: keep, journal, final, spare });
    this.running ??= this.drain();
  }

  /**
   * The batch's results as they are to be recorded: each part waits for its verdict's delivery
   * (at most its deadline and the PLC's answer). A part that turned uninspected keeps its frame
   * when it was held; any other held frame is let go.
   */
  private async settleDeliveries(batch: QueuedPart[]): Promise<void> {
    for (const item of batch) {
      if (!item.final) continue;
      const f = await item.final;
      item.final = undefined;
      if (f === item.r) {
        if (item.spare) item.r = { ...item.r, image: undefined };
      } else {
        const image = item.images || item.spare ? item.r.image : undefined;
        item.r = { ...f, image };
        if (item.spare && !item.images) item.images = image !== undefined;
      }
      item.spare = false;
    }
  }

  /**
   * Appends the result (without pixels) to the journal with one write(2), synchronously: the
   * bytes are in the kernel when this returns, so they outlive a killed process; they reach the
   * disk within JOURNAL_SYNC_MS (a background fdatasync), which bounds what a power loss of the
   * whole machine can take. ~20 µs a part.
   *
   *   enqueue ─▶ journal-*.wal (append) ─▶ PLC hears the verdict ─▶ … row committed ─▶ settled
   *                 rotated every JOURNAL_ROTATE entries; a file goes once all its entries are settled
   */
  private journal(r: InspectionResult): string | null {
    try {
      if (this.journalFd === null || this.journalCount >= JOURNAL_ROTATE) this.rotateJournal();
      const { image: _i, masks: _m, anomalyMap: _a, ...rest } = r;
      // A leading newline: a line torn by a full disk never glues the next entry onto itself.
      const line = Buffer.from(`\n${spoolLine({ r: rest, images: [], journal: true })}`);
      if (writeSync(this.journalFd!, line) !== line.length) throw Object.assign(new Error('short write to the journal'), { code: 'ENOSPC' });
      this.journalDirty = true;
      this.journalCount++;
      const file = this.journalFile!;
      this.journalOpen.set(file, (this.journalOpen.get(file) ?? 0) + 1);
      return file;
    } catch (err) {
      this.counters.journalErrors++;
      this.o.onError?.(err, r);
      return null;
    }
  }

  private rotateJournal(): void {
    const old = this.journalFile;
    if (this.journalFd !== null) closeSync(this.journalFd);
    // Never left holding a closed descriptor (its number may belong to another file by now).
    this.journalFd = null;
    this.journalFile = null;
    const file = path.join(this.o.spoolDir, `journal-${Date.now()}-${process.pid}.wal`);
    this.journalFd = openSync(file, 'a');
    this.journalFile = file;
    this.journalCount = 0;
    if (old && !this.journalOpen.get(old)) this.dropJournal(old);
  }

  /** Flushes the journal to the disk in the background (libuv's pool): the append stays a plain write(2). */
  private syncJournal(): void {
    if (!this.journalDirty || this.journalSyncing || this.journalFd === null) return;
    this.journalDirty = false;
    this.journalSyncing = true;
    fdatasync(this.journalFd, () => {
      this.journalSyncing = false;
    });
  }

  /** A journal entry's record is in the database or the spool: the journal need not keep it. */
  private settled(file: string | null): void {
    if (!file) return;
    const n = (this.journalOpen.get(file) ?? 1) - 1;
    this.journalOpen.set(file, n);
    if (n > 0) return;
    if (file !== this.journalFile) this.dropJournal(file);
    else if (this.journalFd !== null) {
      // Everything in the current file is settled: it starts again empty (appends go on at its new end).
      try {
        ftruncateSync(this.journalFd, 0);
      } catch {
        /* it stays as it is until it rotates */
      }
    }
  }

  private dropJournal(file: string): void {
    this.journalOpen.delete(file);
    try {
      unlinkSync(file);
    } catch {
      /* already gone */
    }
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

  /**
   * Writes the queue in batches: the images of up to `imageConcurrency` parts at a time (sharp
   * works on libuv's threads, so encodes overlap), then the batch's rows in one transaction;
   * if that fails, row by row with retries, and what still fails goes to the spool.
   */
  private async drain(): Promise<void> {
    while (this.queue.length) {
      const batch = this.queue.splice(0, 32);
      await this.settleDeliveries(batch);
      const stored = await pMap(batch, (item) => (item.images ? this.writeImages(item.r) : Promise.resolve([])), { concurrency: this.o.imageConcurrency ?? 4 });
      if (this.spooling) {
        for (let i = 0; i < batch.length; i++) await this.spool(batch[i].r, stored[i], batch[i].journal);
        continue;
      }
      try {
        const ids = await this.repo.insertInspections(
          this.o.stationId,
          batch.map((b, i) => ({ r: b.r, refs: this.refsOf(b.r), images: stored[i] })),
        );
        this.counters.recorded += ids.length;
        for (let i = 0; i < ids.length; i++) this.settled(batch[i].journal);
        // Listeners run after the bookkeeping: one that throws cannot send written rows round again.
        for (let i = 0; i < ids.length; i++) this.o.onRecorded?.(ids[i], batch[i].r);
      } catch {
        for (let i = 0; i < batch.length; i++) await this.writeRow(batch[i].r, stored[i], batch[i].journal);
      }
      // A backlog (a spool replayed, a database back after an outage) is written batch after batch;
      // parts without images do no I/O, and SQLite answers on this thread: without a turn of the
      // event loop between batches the PLC's verdicts would wait for the whole backlog.
      if (this.queue.length) await nextTurn();
    }
    this.running = null;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  private refsOf(r: SpoolEntry['r']) {
    return {
      modelId: r.modelSha256 ? (this.o.modelIds.get(r.modelSha256) ?? null) : null,
      recipeVersionId: this.o.recipeVersionIds.get(`${r.recipe}@${r.recipeVersion}`) ?? null,
    };
  }

  private insert(r: SpoolEntry['r'], stored: StoredImage[]): Promise<number> {
    return this.repo.insertInspection(this.o.stationId, r, this.refsOf(r), stored);
  }

  /** A part's images; on failure (a full disk) none, counted, and the row is kept without them. */
  private async writeImages(r: InspectionResult): Promise<StoredImage[]> {
    try {
      const stored = await this.images.write(this.o.stationId, r);
      this.counters.withImages++;
      return stored;
    } catch (err) {
      this.counters.imageErrors++;
      if ((err as NodeJS.ErrnoException).code === 'ENOSPC') {
        this.counters.diskFull++;
        this.o.onDiskFull?.();
      }
      this.o.onError?.(err, r);
      return [];
    }
  }

  /** One row with retries; if the database still refuses it, the spool. */
  private async writeRow(r: InspectionResult, stored: StoredImage[], journal: string | null): Promise<void> {
    if (this.spooling) {
      await this.spool(r, stored, journal);
      return;
    }
    let id: number;
    try {
      id = await pRetry(() => this.insert(r, stored), { retries: 4, minTimeout: 50, maxTimeout: 1000, shouldRetry: ({ error }) => !alreadyThere(error) });
    } catch (err) {
      if (alreadyThere(err)) {
        // The row is in the database already (its unique key): recorded, not a database failure.
        this.settled(journal);
        return;
      }
      this.databaseDown = true;
      this.lastDatabaseError = (err as Error).message;
      this.o.onError?.(err, r);
      await this.spool(r, stored, journal);
      return;
    }
    this.counters.recorded++;
    this.settled(journal);
    this.o.onRecorded?.(id, r);
  }

  /** Appends one row to the spool (appends are serialised); only if that fails too is the row lost (counted, logged). */
  private spool(r: InspectionResult, stored: StoredImage[], journal: string | null): Promise<void> {
    const { image: _i, masks: _m, anomalyMap: _a, ...rest } = r;
    const line = spoolLine({ r: rest, images: stored });
    const p = this.spoolChain.then(async () => {
      try {
        this.spoolFile ??= path.join(this.o.spoolDir, `spool-${Date.now()}-${process.pid}.jsonl`);
        await mkdir(this.o.spoolDir, { recursive: true });
        await appendDurably(this.spoolFile, `\n${line}`);
        this.counters.spooled++;
        this.spoolPending++;
        this.settled(journal);
      } catch (err) {
        this.counters.writeErrors++;
        this.counters.dropped++;
        this.o.onError?.(err, r);
      }
    });
    this.spoolChain = p;
    return p;
  }

  /**
   * Writes spooled rows to the database, oldest file first. A file is renamed before it is
   * read, so rows arriving meanwhile start a new file; a row already in the database (a replay
   * cut short) is skipped by its unique key.
   */
  replay(): Promise<void> {
    this.replaying ??= (async () => {
      try {
        const files = (await readdir(this.o.spoolDir)).filter((f) => f.endsWith('.jsonl') || f.endsWith('.replaying')).sort();
        for (const f of files) {
          let file = path.join(this.o.spoolDir, f);
          if (file === this.spoolFile) {
            // New rows start a new file; appends already on their way finish in this one first.
            this.spoolFile = null;
            await this.spoolChain;
          }
          if (f.endsWith('.jsonl')) {
            await rename(file, `${file}.replaying`);
            file = `${file}.replaying`;
          }
          const lines = (await readFile(file, 'utf8')).split('\n').filter(Boolean);
          for (let i = 0; i < lines.length; i++) {
            const e = parseSpoolLine(lines[i]);
            if (!e) {
              // A torn or corrupt line never blocks the good ones after it.
              await this.quarantine(lines[i]);
              this.spoolPending = Math.max(0, this.spoolPending - 1);
              continue;
            }
            let id: number | null = null;
            try {
              // A journal entry's images were written (or not) under their names before the process died.
              const images = e.journal ? ((await this.images.adopt?.(this.o.stationId, e.r as InspectionResult)) ?? []) : e.images;
              id = await this.insert(e.r, images);
              this.counters.recorded++;
              this.counters.replayed++;
            } catch (err) {
              if (refusedForGood(err)) {
                // A row this database will never take (not a failure of the database): set aside,
                // counted, so it cannot hold every later record in the spool.
                await this.quarantine(lines[i]);
              } else if (!alreadyThere(err)) {
                // Still down: keep the rest of this file for the next attempt (untouched when nothing of it went in).
                if (i > 0) await rewriteRest(file, lines.slice(i));
                this.lastDatabaseError = (err as Error).message;
                return;
              }
              // Already in the database (a replay cut short, or a journal entry that was committed): nothing to do.
            }
            if (id !== null) this.o.onRecorded?.(id, e.r);
            this.spoolPending = Math.max(0, this.spoolPending - 1);
            // The line runs while a spool replays: its verdicts get a turn between rows (see drain).
            await nextTurn();
          }
          await rm(file, { force: true });
        }
        this.databaseDown = this.spoolPending > 0;
        if (!this.databaseDown) this.lastDatabaseError = null;
      } catch (err) {
        this.o.onError?.(err, null);
      } finally {
        this.replaying = null;
      }
    })();
    return this.replaying;
  }

  /** Keeps an unreadable spool line aside, counted; if even that fails, it is counted as dropped. */
  private async quarantine(line: string): Promise<void> {
    this.counters.quarantined++;
    try {
      await appendFile(path.join(this.o.spoolDir, `quarantine-${process.pid}.quarantine`), line + '\n');
    } catch (err) {
      this.counters.dropped++;
      this.o.onError?.(err, null);
    }
  }

  /** Resolves when everything queued so far is written (to the database or the spool). */
  flush(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Flushes, tries the spool once more, and stops retrying. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.flush();
    if (this.replayTimer) clearInterval(this.replayTimer);
    if (this.syncTimer) clearInterval(this.syncTimer);
    if (this.spoolPending > 0) await this.replay();
    await this.replaying;
    // Every entry is settled by now (written, or in the spool): the journal goes.
    if (this.journalFd !== null) closeSync(this.journalFd);
    this.journalFd = null;
    const last = this.journalFile;
    this.journalFile = null;
    if (last && !this.journalOpen.get(last)) this.dropJournal(last);
  }
}

/** The rest of a spool file, written to a new file, flushed to the disk, then renamed over it: never torn. */
async function rewriteRest(file: string, rest: string[]): Promise<void> {
  const fh = await open(`${file}.tmp`, 'w');
  try {
    await fh.writeFile(rest.join('\n') + '\n');
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(`${file}.tmp`, file);
}

/**
 * One spool line: the CRC-32 of the entry's JSON (8 hex digits), a space, the JSON. A line torn
 * by a power cut, or damaged on disk, fails its checksum and is quarantined instead of replayed.
 */
export function spoolLine(e: SpoolEntry): string {
  const json = JSON.stringify(e);
  return `${crc32(json).toString(16).padStart(8, '0')} ${json}\n`;
}

/** The entry of a spool line, or null when it is torn or corrupt. Lines spooled before checksums (no prefix) are read as JSON. */
export function parseSpoolLine(line: string): SpoolEntry | null {
  const m = /^([0-9a-f]{8}) (.*)$/s.exec(line);
  if (m && crc32(m[2]) !== Number.parseInt(m[1], 16)) return null;
  try {
    const e = JSON.parse(m ? m[2] : line) as SpoolEntry | null;
    return e && typeof e === 'object' && e.r && typeof e.r === 'object' && Array.isArray(e.images) ? e : null;
  } catch {
    return null;
  }
}

/** Appends and flushes to the disk before resolving: a spooled row survives a power loss of the machine. */
async function appendDurably(file: string, text: string): Promise<void> {
  const fh = await open(file, 'a');
  try {
    await fh.appendFile(text);
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

/**
 * Prisma's codes for a row whose data is wrong (too long, null where a value is needed, out of
 * range, a missing relation…). Deliberately a short list: a full disk, a lock, a timeout or a lost
 * connection must never be taken for one — those rows wait for the database.
 */
const DATA_ERRORS = new Set(['P2000', 'P2003', 'P2005', 'P2006', 'P2007', 'P2011', 'P2012', 'P2019', 'P2020', 'P2023']);

/** The row is in the database already: its unique key (station, source, part, capture time) refused a second. */
function alreadyThere(err: unknown): boolean {
  return (err as { code?: string } | null)?.code === 'P2002';
}

/**
 * An error that says this row will never go in, whatever the database's state: Prisma's request
 * errors about the data (P2xxx but a duplicate) and its validation errors. Anything else — no
 * connection, a busy or full database — is the database being down, and the row waits.
 */
export function refusedForGood(err: unknown): boolean {
  const e = err as { code?: string; name?: string } | null;
  if (e?.name === 'PrismaClientValidationError') return true;
  return typeof e?.code === 'string' && DATA_ERRORS.has(e.code);
}
