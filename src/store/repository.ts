import { dayStart, shiftAt, UTC_CLOCK, type PlantClock } from '../config/plant.js';
import { setImmediate as nextTurn } from 'node:timers/promises';
import pRetry from 'p-retry';
import type { InspectionResult, ModelSummary, Timings } from '../line/protocol.js';
import { processingMs } from '../line/stats.js';
import { type Db, providerOf } from './db.js';
import { MonthPartitions, noPartition } from './partitions.js';
import { stationFolder, type StoredImage, type ImageVariant } from './images.js';
import { labelOf, type CompactOutputs, type PartLabel, type Verdict } from '../decision/index.js';
import { StationError } from '../errors/index.js';
import { appendAudit } from './audit.js';
import { canonicalSha256, chainCuts, recordHash } from './chain.js';
import {
  ALLOWED_BINS,
  type Scope,
  applyDeltas,
  IN_SLICE,
  params,
  POSTGRESQL,
  type SqlDialect,
  SQLITE,
  deltasOf,
  hourlyCounts,
  moveReviewLabel,
  SCORE_BINS,
  scoreBin,
  scoreCounts,
  stationIds,
} from './stats.js';

export interface StationInfo {
  id: string;
  name: string;
  line: string;
  area?: string;
  site: string;
  /** `storage.retention.recordsDays`: how long this station keeps its records (unset: for ever). */
  recordsDays?: number;
}

export interface InspectionFilter {
  verdict?: 'pass' | 'fail' | 'uninspected';
  class?: string;
  recipe?: string;
  station?: string;
  /** The production line of the station (many stations, one database). */
  line?: string;
  /** true: with a person's review; false: without. */
  reviewed?: boolean;
  /** Only inspections whose highest finding scored at least this. */
  minScore?: number;
  /** The part's serial, or its lot, from the PLC (exact). */
  partId?: string;
  lot?: string;
  from?: Date;
  to?: Date;
  limit: number;
  /** The previous page's `nextCursor` (items are newest first). */
  cursor?: string;
}

/** What a listing row carries besides the inspection: its rejecting findings and which images exist. */
/** What a review (and its undo) reads of its part: the aggregates' key and the record's hash for the audit. */
const REVIEWED_PART = { capturedAt: true, stationId: true, recipeName: true, recipeVersionId: true, hash: true } as const;

const LISTED = {
  defects: { where: { rejecting: true }, orderBy: { score: 'desc' } },
  images: { select: { variant: true } },
  // The part's current label (its latest review): the gallery's card and the CSV say it.
  reviews: { orderBy: { id: 'desc' }, take: 1, select: { label: true, class: true } },
} as const;

/** A cursor as the API hands it out: `<capture time in ms>_<id>`, opaque to its users. */
export const CURSOR_PATTERN = '^[0-9]{1,15}_[0-9]{1,10}$';

/** The cursor that lists what comes after `r` (a row, or a listed item with its ISO time). */
export function cursorAfter(r: { capturedAt: Date | string; id: number }): string {
  return `${new Date(r.capturedAt).getTime()}_${r.id}`;
}

/** The position a `nextCursor` names: the capture time and id of the last item of a page. */
function parseCursor(s: string): { capturedAt: Date; id: number } {
  const [ms, id] = new RegExp(CURSOR_PATTERN).test(s) ? s.split('_').map(Number) : [Number.NaN, Number.NaN];
  // Within what the columns hold: an id past int4 fails on PostgreSQL, a time past year 9999 compares wrongly as SQLite text.
  if (!(ms <= FAR_FUTURE_MS && id <= 2_147_483_647))
    throw new StationError('STN_ERR_HTTP_BAD_REQUEST', `cursor: not a cursor this listing gave out: ${JSON.stringify(s.slice(0, 40))}`);
  return { capturedAt: new Date(ms), id };
}

export type { Scope } from './stats.js';

/**
 * The stationId condition of a scope: its stations' ids (a line resolved to them first), undefined
 * for every station, or null for a line without stations (nothing matches). A relation filter on
 * the line instead made PostgreSQL walk the whole table backwards for rows that cannot exist (12 s
 * on a month).
 */
async function stationCondition(db: Db, s: Scope): Promise<{ in: string[] } | undefined | null> {
  const ids = await stationIds(db, s);
  if (ids?.length === 0) return null;
  return ids ? { in: ids } : undefined;
}

/** A capture-time range, either end open; no condition when both are. */
function rangeWhere(from?: Date, to?: Date) {
  return from || to ? { gte: from, lt: to } : undefined;
}

/** The model and recipe version rows an inspection refers to. */
type RowRefs = { modelId: number | null; recipeVersionId: number | null };

/** One stored inspection, as much as re-deciding it (what-if) needs. */
export interface WhatIfRow {
  id: number;
  capturedAt: Date;
  verdict: Verdict;
  outputs: CompactOutputs;
  maxScore: number;
  label: PartLabel | null;
}

/** An open window's end: the last hour of the year 9999 (SQLite compares times as text: four-digit years only). */
const FAR_FUTURE_MS = Date.UTC(9999, 11, 31, 23);

export interface WhatIfScan {
  recipe: string;
  station?: string;
  line?: string;
  from?: Date;
  to?: Date;
}

/** The station's records; the only code that talks to the Prisma client. */
export class Repository {
  /** How this database's statements written as SQL (the aggregates' upserts) are spelled. */
  private readonly sql: SqlDialect;
  /** PostgreSQL's month partitions of the records (null on SQLite: one table per kind). */
  readonly months: MonthPartitions | null;
  /** Each station's chain head as last committed by this process (absent: read it from the database). */
  private readonly heads = new Map<string, string | null>();
  /** Each station's chained writes, one after the other. */
  private readonly lanes = new Map<string, Promise<void>>();
  constructor(readonly db: Db) {
    const pg = providerOf(db) === 'postgresql';
    this.sql = pg ? POSTGRESQL : SQLITE;
    this.months = pg ? new MonthPartitions(db) : null;
  }

  async ensureStation(s: StationInfo): Promise<void> {
    const row = { id: s.id, name: s.name, line: s.line, area: s.area ?? '', site: s.site, recordsDays: s.recordsDays ?? null };
    await this.db.station.upsert({ where: { id: s.id }, create: row, update: { ...row, id: undefined } });
    await this.months?.ahead(Date.now());
  }

  async ensureModel(m: ModelSummary): Promise<number> {
    const row = await onConflictRetry(() =>
      this.db.model.upsert({
        where: { sha256: m.sha256 },
        create: { name: m.name, family: m.family, sha256: m.sha256, labels: m.labels, inputWidth: m.inputWidth, inputHeight: m.inputHeight },
        update: {},
      }),
    );
    return row.id;
  }

  /**
   * The recipe version for a definition: the latest one if it is identical, otherwise a new
   * version with author and reason (start-up with a station file).
   */
  ensureRecipeVersion(name: string, definition: object, author: string, reason: string): Promise<{ id: number; version: number }> {
    return this.writeRecipeVersion(name, definition, author, reason, true);
  }

  /** One inspection with its defects and image rows, in one transaction. Returns its id. */
  async insertInspection(stationId: string, r: InspectionResult, refs: RowRefs, images: StoredImage[]): Promise<number> {
    return (await this.insertInspections(stationId, [{ r, refs, images }]))[0];
  }

  /**
   * Several inspections in one transaction (the recorder's batches), with their hourly aggregates;
   * their ids in order. A duplicate (P2002) rolls back the batch, aggregates included.
   */
  async insertInspections(stationId: string, items: { r: InspectionResult; refs: RowRefs; images: StoredImage[] }[]): Promise<number[]> {
    const deltas = deltasOf(
      stationId,
      items.map((i) => ({ r: i.r, recipeVersionId: i.refs.recipeVersionId })),
    );
    // An interactive transaction of single creates: a batch would be planned (and cached) per composition.
    const write = () =>
      this.db.$transaction(async (tx) => {
        const ids: number[] = [];
        // The station's chain head: read once in the transaction that first extends it (the station is
        // its only writer), then kept; forgotten when a write fails, so a rolled-back batch is no head.
        let prevHash = this.heads.has(stationId)
          ? (this.heads.get(stationId) ?? null)
          : ((await tx.inspection.findFirst({ where: { stationId }, orderBy: { id: 'desc' }, select: { hash: true } }))?.hash ?? null);
        for (const i of items) {
          const data = chained(inspectionData(stationId, i.r, i.refs, i.images), prevHash);
          ids.push((await tx.inspection.create({ data, select: { id: true } })).id);
          prevHash = data.hash;
        }
        await applyDeltas(tx, deltas, this.sql);
        return { ids, head: prevHash };
      });
    return this.writeChained(stationId, write, items);
  }

  /**
   * Runs a chained write: one at a time per station (two batches linking to the same head would
   * fork its chain), and the station's head moves only once the write committed.
   */
  private writeChained(stationId: string, write: () => Promise<{ ids: number[]; head: string | null }>, items: { r: InspectionResult }[]): Promise<number[]> {
    const run = async () => {
      try {
        const { ids, head } = await this.writeInMonths(write, items);
        this.heads.set(stationId, head);
        return ids;
      } catch (err) {
        this.heads.delete(stationId);
        throw err;
      }
    };
    const turn = (this.lanes.get(stationId) ?? Promise.resolve()).then(run, run);
    const settled = turn.then(
      () => undefined,
      () => undefined,
    );
    this.lanes.set(stationId, settled);
    void settled.then(() => this.lanes.get(stationId) === settled && this.lanes.delete(stationId));
    return turn;
  }

  private async writeInMonths<T>(write: () => Promise<T>, items: { r: InspectionResult }[]): Promise<T> {
    if (!this.months) return write();
    const times = items.map((i) => new Date(i.r.timestamp));
    await this.months.forRecords(times);
    try {
      return await write();
    } catch (err) {
      // A month dropped since (a record replayed long after its capture): made again, written again.
      if (!noPartition(err)) throw err;
      this.months.forget();
      await this.months.forRecords(times);
      return write();
    }
  }

  async listInspections(f: InspectionFilter) {
    const stationId = await stationCondition(this.db, f);
    if (stationId === null) return { items: [], nextCursor: null };
    const c = f.cursor === undefined ? undefined : parseCursor(f.cursor);
    // Newest first by capture time, ties by id: the order the (…, capturedAt) indexes hold, so a page
    // deep in a time range reads its rows from the index instead of sorting the range each time.
    const rows = await this.db.inspection.findMany({
      where: {
        verdict: f.verdict,
        recipeName: f.recipe,
        stationId,
        partId: f.partId,
        lot: f.lot,
        capturedAt: f.from || f.to || c ? { gte: f.from, lt: f.to, lte: c?.capturedAt } : undefined,
        NOT: c ? { capturedAt: c.capturedAt, id: { gte: c.id } } : undefined,
        defects: f.class ? { some: { class: f.class, rejecting: true } } : undefined,
        reviews: f.reviewed === undefined ? undefined : f.reviewed ? { some: {} } : { none: {} },
        maxScore: f.minScore !== undefined ? { gte: f.minScore } : undefined,
      },
      orderBy: [{ capturedAt: 'desc' }, { id: 'desc' }],
      take: f.limit + 1,
      include: LISTED,
    });
    const more = rows.length > f.limit;
    const last = rows[f.limit - 1];
    return { items: rows.slice(0, f.limit).map(toListed), nextCursor: more ? cursorAfter(last) : null };
  }

  /** One inspection as the listing shows it (the live feed's card), or null. */
  async listedInspection(id: number) {
    const row = await this.db.inspection.findUnique({ where: { id }, include: LISTED });
    return row ? toListed(row) : null;
  }

  async getInspection(id: number) {
    const row = await this.db.inspection.findUnique({
      where: { id },
      include: {
        defects: { orderBy: { score: 'desc' } },
        images: { select: { variant: true, width: true, height: true, bytes: true, mime: true } },
        model: { select: { name: true, family: true, sha256: true } },
        recipeVersion: { select: { version: true, author: true, reason: true, createdAt: true } },
      },
    });
    if (!row) return null;
    return {
      ...toApi(row),
      outputs: row.outputs,
      truth: row.truth,
      model: row.model,
      recipeVersion: row.recipeVersion,
      images: row.images.map((i) => i.variant),
      imageInfo: row.images,
    };
  }

  async getImage(inspectionId: number, variant: ImageVariant) {
    return this.db.image.findUnique({ where: { inspectionId_variant: { inspectionId, variant } } });
  }

  async countInspections(): Promise<number> {
    return this.db.inspection.count();
  }

  /**
   * How many parts a what-if window holds: whole hours from the hourly aggregates, the window's
   * ends from the records (a few thousand rows read however long the window).
   */
  async countForWhatIf(f: WhatIfScan): Promise<number> {
    const from = f.from ?? new Date(0);
    const to = f.to ?? new Date(FAR_FUTURE_MS);
    let n = 0;
    for (const h of await hourlyCounts(this.db, from, to, { station: f.station, line: f.line, recipe: f.recipe })) n += h.parts;
    return n;
  }

  /**
   * Every inspection of a recipe in a time range, as what-if needs it, each with its label (the
   * latest review, else the source's ground truth): oldest first, `chunk` at a time (memory stays bounded however long
   * the window), yielding to the event loop between chunks: the PLC's verdict writes run on the
   * same thread, and a chunk of 1 000 rows holds it for tens of ms. `signal` stops it between
   * chunks with STN_ERR_WHATIF_CANCELLED.
   */
  async scanForWhatIf(f: WhatIfScan, onRows: (rows: WhatIfRow[]) => void, chunk = 1_000, signal?: AbortSignal): Promise<void> {
    const stationId = await stationCondition(this.db, f);
    if (stationId === null) return;
    // Keyset on (capturedAt, id) along the (recipeName, capturedAt) index: every query reads one
    // chunk of the window, wherever the window lies in the table (an id keyset read the table
    // from its first row up to the window, and SQLite runs queries on this thread: a month's
    // history held the PLC's writes for minutes). Written as SQL: the same rows through the
    // model API cost 4.5 times as long (12.6 s against 2.8 s for a day on the month, SQLite).
    const sql = this.sql;
    const fixed: unknown[] = [f.recipe, ...(stationId?.in ?? [])];
    const stations = stationId ? ` AND "stationId" IN (${params(stationId.in.length)})` : '';
    let at = f.from ?? new Date(0);
    let lastId = 0;
    const to = f.to ?? new Date(FAR_FUTURE_MS);
    for (let first = true; ; first = false) {
      if (signal?.aborted) throw new StationError('STN_ERR_WHATIF_CANCELLED');
      const args = [...fixed, sql.time(at), sql.time(to), sql.time(at), first ? -1 : lastId, chunk];
      const text = sql.text(`SELECT "id", "capturedAt", "verdict", "outputs", "maxScore", "truth" FROM "Inspection"
        WHERE "recipeName" = ?${stations} AND "capturedAt" >= ? AND "capturedAt" < ? AND NOT ("capturedAt" = ? AND "id" <= ?)
        ORDER BY "capturedAt", "id" LIMIT ?`);
      const rows = (await this.db.$queryRawUnsafe(text, ...args)) as {
        id: number;
        capturedAt: Date;
        verdict: string;
        outputs: unknown;
        maxScore: number;
        truth: unknown;
      }[];
      if (signal?.aborted) throw new StationError('STN_ERR_WHATIF_CANCELLED');
      if (rows.length === 0) return;
      at = rows[rows.length - 1].capturedAt;
      lastId = rows[rows.length - 1].id;
      // The chunk's reviews (the latest per part wins) and, for parts confirmed without a class,
      // the classes that rejected them: a few indexed lookups per chunk, never the window's.
      const ids = rows.map((r) => r.id);
      const reviews = new Map<number, { label: string; class: string | null }>();
      const rejecting = new Map<number, string[]>();
      for (let i = 0; i < ids.length; i += IN_SLICE) {
        const slice = ids.slice(i, i + IN_SLICE);
        const found = (await this.db.$queryRawUnsafe(
          sql.text(`SELECT "inspectionId", "label", "class" FROM "Review" WHERE "inspectionId" IN (${params(slice.length)}) ORDER BY "id"`),
          ...slice,
        )) as { inspectionId: number; label: string; class: string | null }[];
        for (const r of found) reviews.set(r.inspectionId, r);
      }
      const confirmed = [...reviews].filter(([, r]) => r.label === 'confirmed' && !r.class).map(([id]) => id);
      for (let i = 0; i < confirmed.length; i += IN_SLICE) {
        for (const d of await this.db.defect.findMany({
          where: { inspectionId: { in: confirmed.slice(i, i + IN_SLICE) }, rejecting: true },
          select: { inspectionId: true, class: true },
        }))
          rejecting.set(d.inspectionId, [...(rejecting.get(d.inspectionId) ?? []), d.class]);
      }
      onRows(
        rows.map((r) => ({
          id: r.id,
          capturedAt: r.capturedAt,
          verdict: r.verdict as Verdict,
          outputs: r.outputs as CompactOutputs,
          maxScore: r.maxScore,
          label: labelOf(r.verdict as Verdict, reviews.get(r.id), r.truth as { defective?: boolean } | null, rejecting.get(r.id) ?? []),
        })),
      );
      if (rows.length < chunk) return;
      await nextTurn();
    }
  }

  /** Which of these inspections have a stored image of this variant. */
  async withImage(ids: number[], variant: ImageVariant): Promise<Set<number>> {
    const rows = await this.db.image.findMany({ where: { inspectionId: { in: ids }, variant }, select: { inspectionId: true } });
    return new Set(rows.map((r) => r.inspectionId));
  }

  /** Every station that has recorded here, with its place in the plant. */
  async stations() {
    return this.db.station.findMany({ orderBy: { id: 'asc' }, select: { id: true, name: true, site: true, area: true, line: true } });
  }

  /** Parts, verdicts and reject rate per station in a time range: stations side by side. */
  async stationStats(from: Date, to: Date, scope: Scope = {}) {
    const out = new Map<string, { station: string; parts: number; pass: number; fail: number; uninspected: number }>();
    for (const h of await hourlyCounts(this.db, from, to, scope, true)) {
      let row = out.get(h.stationId);
      if (!row) out.set(h.stationId, (row = { station: h.stationId, parts: 0, pass: 0, fail: 0, uninspected: 0 }));
      for (const k of ['parts', 'pass', 'fail', 'uninspected'] as const) row[k] += h[k];
    }
    const info = new Map((await this.stations()).map((s) => [s.id, s]));
    return [...out.values()]
      .sort((a, b) => a.station.localeCompare(b.station))
      .map((r) => ({
        ...r,
        line: info.get(r.station)?.line ?? '',
        site: info.get(r.station)?.site ?? '',
        rejectRate: r.parts ? round4((r.fail + r.uninspected) / r.parts) : null,
      }));
  }

  // --- image retention -----------------------------------------------------------------------

  /** Bytes of the images this station stored (a shared database holds other stations' too). */
  async imageBytes(stationId: string): Promise<number> {
    // By the station's folder in the path, not through the records: a relation filter makes
    // SQLite list every record of the station first (34 s on a month, on this thread).
    const a = await this.db.image.aggregate({ _sum: { bytes: true }, where: { path: { startsWith: `${stationFolder(stationId)}/` } } });
    return a._sum.bytes ?? 0;
  }

  /** This station's oldest parts that still have images, reviewed or not, captured before `before`. */
  async oldestImageSets(stationId: string, limit: number, f: { reviewed: boolean; before?: Date }) {
    // Driven from the images, which are few and go as they are deleted, never from the records
    // (a year is hundreds of millions, and a scan of them on SQLite holds this thread — the PLC's
    // writes — for minutes). With an age, only images of parts up to the station's last part
    // captured before it are read (one indexed lookup finds that part).
    let bound: number | undefined;
    if (f.before) {
      const last = await this.db.inspection.findFirst({
        where: { stationId, capturedAt: { lt: f.before } },
        orderBy: { capturedAt: 'desc' },
        select: { id: true },
      });
      if (!last) return [];
      bound = last.id;
    }
    const out: { inspectionId: number; images: { path: string; bytes: number }[] }[] = [];
    const PAGE = 999;
    let after = 0;
    while (out.length < limit) {
      const page = await this.db.image.findMany({
        where: { inspectionId: { gt: after, lte: bound } },
        orderBy: [{ inspectionId: 'asc' }, { variant: 'asc' }],
        take: PAGE,
        select: { inspectionId: true, path: true, bytes: true },
      });
      if (page.length === 0) break;
      // A full page may end inside one part's images: that part starts the next page.
      const full = page.length === PAGE;
      const lastId = page[page.length - 1].inspectionId;
      const rows = full ? page.filter((i) => i.inspectionId !== lastId) : page;
      after = full ? rows[rows.length - 1].inspectionId : lastId;
      const sets = new Map<number, { path: string; bytes: number }[]>();
      for (const i of rows) sets.set(i.inspectionId, [...(sets.get(i.inspectionId) ?? []), { path: i.path, bytes: i.bytes }]);
      const ids = [...sets.keys()];
      const mine = new Set<number>();
      for (let k = 0; k < ids.length; k += IN_SLICE) {
        for (const r of await this.db.inspection.findMany({
          where: {
            id: { in: ids.slice(k, k + IN_SLICE) },
            stationId,
            capturedAt: f.before ? { lt: f.before } : undefined,
            reviews: f.reviewed ? { some: {} } : { none: {} },
          },
          select: { id: true },
        }))
          mine.add(r.id);
      }
      for (const id of ids) if (mine.has(id) && out.length < limit) out.push({ inspectionId: id, images: sets.get(id)! });
      if (!full) break;
    }
    return out;
  }

  /** Forgets this station's image rows at these paths (a purge that was cut short); the inspections stay. */
  async deleteImageRowsAt(stationId: string, paths: string[]): Promise<void> {
    const mine = paths.filter((p) => p.startsWith(`${stationFolder(stationId)}/`));
    for (let i = 0; i < mine.length; i += IN_SLICE) await this.db.image.deleteMany({ where: { path: { in: mine.slice(i, i + IN_SLICE) } } });
  }

  /**
   * Deletes up to `limit` of this station's oldest records captured before `before`, with their
   * findings, reviews and image rows (cascade); the hourly aggregates keep counting them.
   * Returns how many went. Records with image files left are skipped (retention deletes those
   * files first).
   */
  async deleteRecordsBefore(stationId: string, before: Date, limit: number): Promise<number> {
    const rows = await this.db.inspection.findMany({
      where: { stationId, capturedAt: { lt: before }, images: { none: {} } },
      orderBy: { id: 'asc' },
      take: limit,
      select: { id: true, stationId: true, hash: true, prevHash: true },
    });
    if (rows.length === 0) return 0;
    // The deletion and where it cut the station's chain, in one transaction: the audit entry
    // names, for each run of deleted records, the hash the first record left after it links to.
    return this.db.$transaction(async (tx) => {
      const n = (await tx.inspection.deleteMany({ where: { id: { in: rows.map((r) => r.id) } } })).count;
      const details = { deleted: n, before: before.toISOString(), firstId: rows[0].id, lastId: rows[rows.length - 1].id, chainCuts: chainCuts(rows) };
      await appendAudit(this.db, { actor: `retention:${stationId}`, action: 'records.delete', target: stationId, details }, tx);
      return n;
    });
  }

  /** Forgets the image rows of these parts (their files are gone); the inspections stay. */
  async deleteImagesOf(inspectionIds: number[]): Promise<void> {
    await this.db.image.deleteMany({ where: { inspectionId: { in: inspectionIds } } });
  }

  // --- re-inference ------------------------------------------------------------------------

  /** Inspections of a recipe with a stored original, newest first: what re-inference can run on. */
  async storedOriginals(f: WhatIfScan, limit: number): Promise<{ inspectionId: number; path: string }[]> {
    const stationId = await stationCondition(this.db, f);
    if (stationId === null) return [];
    const rows = await this.db.image.findMany({
      where: { variant: 'original', inspection: { recipeName: f.recipe, stationId, capturedAt: rangeWhere(f.from, f.to) } },
      orderBy: { inspectionId: 'desc' },
      take: limit,
      select: { inspectionId: true, path: true },
    });
    return rows;
  }

  async createReinference(r: { author: string; recipeName: string; candidate: object; selection: object; total: number }): Promise<number> {
    const row = await this.db.reinference.create({ data: { ...r, state: 'queued' }, select: { id: true } });
    return row.id;
  }

  async updateReinference(id: number, u: { state?: string; error?: string; finishedAt?: Date }): Promise<void> {
    await this.db.reinference.update({ where: { id }, data: u });
  }

  async addReinferenceResults(
    runId: number,
    rows: { inspectionId: number; verdict: string; errorCode: string | null; outputs: object; defects: object[]; maxScore: number; latencyMs: number }[],
    done: number,
  ): Promise<void> {
    // Each result carries its inspection's capture time (the partition key on PostgreSQL).
    const parts = await this.db.inspection.findMany({ where: { id: { in: rows.map((r) => r.inspectionId) } }, select: { id: true, capturedAt: true } });
    const capturedAt = new Map(parts.map((p) => [p.id, p.capturedAt]));
    const kept = rows.flatMap((r) => {
      const at = capturedAt.get(r.inspectionId);
      return at ? [{ ...r, runId, capturedAt: at }] : []; // a record deleted meanwhile has no result to keep
    });
    await this.db.$transaction([this.db.reinferenceResult.createMany({ data: kept }), this.db.reinference.update({ where: { id: runId }, data: { done } })]);
  }

  async getReinference(id: number) {
    const r = await this.db.reinference.findUnique({ where: { id } });
    return r ? reinferenceOut(r) : null;
  }

  async listReinferences(limit: number) {
    return (await this.db.reinference.findMany({ orderBy: { id: 'desc' }, take: limit })).map(reinferenceOut);
  }

  /** A run's results beside the line's own verdicts, oldest part first, with labels. */
  async reinferenceParts(runId: number) {
    const rows = await this.db.reinferenceResult.findMany({
      where: { runId },
      orderBy: { inspectionId: 'asc' },
      include: {
        inspection: {
          select: {
            id: true,
            capturedAt: true,
            verdict: true,
            outputs: true,
            maxScore: true,
            truth: true,
            timings: true,
            defects: { where: { rejecting: true }, select: { class: true, score: true, x1: true, y1: true, x2: true, y2: true } },
            reviews: { orderBy: { id: 'desc' }, take: 1, select: { label: true, class: true } },
            // The source image's size: the boxes of both sides are drawn over its thumbnail.
            images: { where: { variant: 'original' }, select: { width: true, height: true } },
          },
        },
      },
    });
    return rows.map((r) => {
      const i = r.inspection;
      const verdict = i.verdict as Verdict;
      const original = i.images[0];
      return {
        inspectionId: i.id,
        capturedAt: i.capturedAt,
        imageSize: original ? ([original.width, original.height] as [number, number]) : null,
        production: {
          verdict,
          maxScore: i.maxScore,
          defects: i.defects.map((d) => ({ class: d.class, score: d.score, box: d.x1 === null ? null : [d.x1, d.y1, d.x2, d.y2] })),
          processingMs: verdict === 'uninspected' ? null : processingMs(i.timings as unknown as Timings),
          outputs: i.outputs as CompactOutputs,
        },
        candidate: {
          verdict: r.verdict as Verdict,
          maxScore: r.maxScore,
          errorCode: r.errorCode,
          defects: (r.defects as { class: string; score: number; rejecting: boolean; box?: number[] | null }[]).filter((d) => d.rejecting),
          latencyMs: r.latencyMs,
        },
        label: labelOf(
          verdict,
          i.reviews[0],
          i.truth as { defective?: boolean } | null,
          i.defects.map((d) => d.class),
        ),
      };
    });
  }

  // --- recipes -------------------------------------------------------------------------------

  async listRecipes() {
    const recipes = await this.db.recipe.findMany({
      orderBy: { name: 'asc' },
      include: { versions: { orderBy: { version: 'desc' }, take: 1 } },
    });
    return recipes.filter((r) => r.versions.length).map((r) => recipeVersionOut(r.name, r.versions[0]));
  }

  async getRecipe(name: string, version?: number) {
    const v = await this.db.recipeVersion.findFirst({
      where: { recipe: { name }, ...(version !== undefined ? { version } : {}) },
      orderBy: { version: 'desc' },
    });
    return v ? { ...recipeVersionOut(name, v), id: v.id } : null;
  }

  async recipeVersions(name: string) {
    const vs = await this.db.recipeVersion.findMany({ where: { recipe: { name } }, orderBy: { version: 'desc' } });
    return vs.map((v) => recipeVersionOut(name, v));
  }

  /** Always a new version (threshold changes, rollbacks), with author and reason. */
  addRecipeVersion(name: string, definition: object, author: string, reason: string): Promise<{ id: number; version: number }> {
    return this.writeRecipeVersion(name, definition, author, reason, false);
  }

  private writeRecipeVersion(name: string, definition: object, author: string, reason: string, reuseIfSame: boolean): Promise<{ id: number; version: number }> {
    const sha256 = canonicalSha256(definition);
    // Stations starting together against one database race for the same recipe: the loser retries.
    return onConflictRetry(() =>
      this.db.$transaction(async (tx) => {
        const recipe = await tx.recipe.upsert({ where: { name }, create: { name }, update: {} });
        const latest = await tx.recipeVersion.findFirst({ where: { recipeId: recipe.id }, orderBy: { version: 'desc' } });
        if (reuseIfSame && latest && latest.sha256 === sha256) return { id: latest.id, version: latest.version };
        const v = await tx.recipeVersion.create({
          data: { recipeId: recipe.id, version: (latest?.version ?? 0) + 1, definition: JSON.parse(JSON.stringify(definition)), sha256, author, reason },
        });
        return { id: v.id, version: v.version };
      }),
    );
  }

  // --- reviews and statistics ---------------------------------------------------------------

  /**
   * A review, and the hourly aggregates moved to its label (only a part's latest review counts).
   * The part's current label and class again, with no note or box, adds nothing (`created: false`).
   * Serializable: two reviews of one part at once (two reviewers, a form sent twice) would both
   * read the same previous label and move it twice; PostgreSQL refuses one (P2034) and it is
   * retried. SQLite's transactions run one at a time anyway.
   */
  async addReview(inspectionId: number, userId: number, r: { label: string; class?: string; box?: number[]; note?: string }) {
    return retryReviewConflicts(() => this.reviewOnce(inspectionId, userId, r));
  }

  private reviewOnce(inspectionId: number, userId: number, r: { label: string; class?: string; box?: number[]; note?: string }) {
    return this.db.$transaction(
      async (tx) => {
        const part = await tx.inspection.findUniqueOrThrow({
          where: { id: inspectionId },
          select: {
            ...REVIEWED_PART,
            reviews: { select: { id: true, label: true, class: true, note: true, createdAt: true }, orderBy: { id: 'desc' }, take: 1 },
          },
        });
        // The part's current label said again (a key pressed twice, a form sent twice) with nothing
        // new to add: no second review, the current one stands.
        const current = part.reviews[0];
        if (current && current.label === r.label && current.class === (r.class ?? null) && !r.note && !r.box) {
          const { id, label, class: cls, note, createdAt } = current;
          return { id, label, class: cls, note, createdAt, created: false };
        }
        const row = await tx.review.create({
          data: {
            inspectionId,
            capturedAt: part.capturedAt,
            userId,
            label: r.label,
            class: r.class ?? null,
            box: r.box ? r.box : undefined,
            note: r.note ?? '',
          },
          select: { id: true, label: true, class: true, note: true, createdAt: true },
        });
        const review = { ...row, created: true };
        await moveReviewLabel(tx, part, current?.label, r.label);
        // A person's decision on a record joins the audit chain, tied to the record's hash.
        const details = {
          review: review.id,
          station: part.stationId,
          record: part.hash,
          label: r.label,
          class: r.class ?? null,
          box: r.box ?? null,
          note: r.note ?? '',
        };
        await this.auditReview(tx, userId, 'review', inspectionId, details);
        return review;
      },
      { isolationLevel: 'Serializable' },
    );
  }

  /**
   * Undoes a part's latest review: the review is removed, the part's label goes back to the one
   * before it (or to unreviewed) everywhere — filters, statistics, exports, retention — and the
   * undo joins the audit chain with everything the removed review said, so its history is kept.
   * Only the latest review can be undone (STN_ERR_REVIEW_UNDO otherwise: someone reviewed the
   * part since, or it was undone already). Returns the part's current review after the undo.
   */
  async undoReview(inspectionId: number, reviewId: number, userId: number) {
    return retryReviewConflicts(() => this.undoOnce(inspectionId, reviewId, userId));
  }

  private undoOnce(inspectionId: number, reviewId: number, userId: number) {
    return this.db.$transaction(
      async (tx) => {
        const part = await tx.inspection.findUnique({
          where: { id: inspectionId },
          select: {
            ...REVIEWED_PART,
            reviews: { orderBy: { id: 'desc' }, take: 2, include: { user: { select: { username: true } } } },
          },
        });
        if (!part) throw new StationError('STN_ERR_HTTP_NOT_FOUND', `no inspection ${inspectionId}`);
        const [latest, previous] = part.reviews;
        if (latest?.id !== reviewId)
          throw new StationError(
            'STN_ERR_REVIEW_UNDO',
            latest
              ? `review ${reviewId} is not the latest of inspection ${inspectionId} (that is ${latest.id}, ${latest.label} by ${latest.user.username})`
              : `inspection ${inspectionId} has no review to undo`,
          );
        await tx.review.delete({ where: { id: latest.id } });
        await moveReviewLabel(tx, part, latest.label, previous?.label);
        const details = {
          review: latest.id,
          station: part.stationId,
          record: part.hash,
          label: latest.label,
          class: latest.class,
          box: latest.box ?? null,
          note: latest.note,
          by: latest.user.username,
          at: latest.createdAt.toISOString(),
          restored: previous ? previous.id : null,
        };
        await this.auditReview(tx, userId, 'review-undo', inspectionId, details);
        return previous
          ? { id: previous.id, label: previous.label, class: previous.class, by: previous.user.username, at: previous.createdAt.toISOString() }
          : null;
      },
      { isolationLevel: 'Serializable' },
    );
  }

  /** A person's decision on a record (a review, an undo) joins the audit chain, in its transaction, under their name. */
  private async auditReview(
    tx: NonNullable<Parameters<typeof appendAudit>[2]> & Pick<Db, 'user'>,
    userId: number,
    action: 'review' | 'review-undo',
    inspectionId: number,
    details: object,
  ): Promise<void> {
    const by = await tx.user.findUnique({ where: { id: userId }, select: { username: true } });
    await appendAudit(this.db, { actor: by?.username ?? `user #${userId}`, action, target: String(inspectionId), details }, tx);
  }

  /** What a review is checked against, for many parts at once (a bulk review): verdict and recipe. */
  async reviewTargets(ids: number[]) {
    const rows = await this.db.inspection.findMany({ where: { id: { in: ids } }, select: { id: true, verdict: true, recipeName: true } });
    return rows.map((r) => ({ id: r.id, verdict: r.verdict, recipe: r.recipeName }));
  }

  async reviewsOf(inspectionId: number) {
    const rows = await this.db.review.findMany({ where: { inspectionId }, orderBy: { id: 'asc' }, include: { user: { select: { username: true } } } });
    return rows.map((r) => ({ id: r.id, label: r.label, class: r.class, box: r.box, note: r.note, by: r.user.username, at: r.createdAt.toISOString() }));
  }

  /**
   * Yield per time bucket, from the hourly aggregates (the window's partial first and last hours
   * from the records). A part's latest review corrects the station: a false reject counts as good,
   * an escape as defective.
   */
  async yieldStats(bucket: 'hour' | 'shift' | 'day', from: Date, to: Date, scope: Scope = {}, clock: PlantClock = UTC_CLOCK) {
    const buckets = new Map<
      string,
      {
        start: string;
        shift?: string;
        parts: number;
        pass: number;
        fail: number;
        uninspected: number;
        falseRejects: number;
        escapes: number;
        confirmed: number;
      }
    >();
    for (const h of await hourlyCounts(this.db, from, to, scope)) {
      const at = bucketOf(h.hour, bucket, clock);
      const start = at.start.toISOString();
      let b = buckets.get(start);
      if (!b) buckets.set(start, (b = { start, shift: at.shift, parts: 0, pass: 0, fail: 0, uninspected: 0, falseRejects: 0, escapes: 0, confirmed: 0 }));
      for (const k of ['parts', 'pass', 'fail', 'uninspected', 'falseRejects', 'escapes', 'confirmed'] as const) b[k] += h[k];
    }
    return [...buckets.values()]
      .filter((b) => b.parts > 0)
      .map((b) => ({
        ...b,
        yield: b.parts ? round4(b.pass / b.parts) : null,
        rejectRate: b.parts ? round4((b.fail + b.uninspected) / b.parts) : null,
        // What a reviewer says the line really made: rejected good parts were good, escapes were not.
        reviewedYield: b.parts ? round4((b.pass - b.escapes + b.falseRejects) / b.parts) : null,
      }));
  }

  /**
   * Score histograms per class over every finding kept (rejecting or not), `bins` equal bins on
   * [0, 1]; `bins` divides the 100 fine bins the aggregates keep.
   */
  async scoreHistograms(from: Date, to: Date, bins: number, scope: Scope = {}) {
    if (SCORE_BINS % bins !== 0) throw new StationError('STN_ERR_HTTP_BAD_REQUEST', `bins must divide ${SCORE_BINS}: one of ${ALLOWED_BINS.join(', ')}`);
    const out = new Map<string, { class: string; counts: number[]; rejecting: number[] }>();
    for (const r of await scoreCounts(this.db, from, to, scope)) {
      let h = out.get(r.class);
      if (!h) out.set(r.class, (h = { class: r.class, counts: new Array(bins).fill(0), rejecting: new Array(bins).fill(0) }));
      const b = Math.floor((r.bin * bins) / SCORE_BINS);
      h.counts[b] += r.findings;
      h.rejecting[b] += r.rejecting;
    }
    return { edges: Array.from({ length: bins + 1 }, (_, i) => round4(i / bins)), classes: [...out.values()].sort((a, b) => a.class.localeCompare(b.class)) };
  }

  /** Rejecting defects by class, most frequent first. */
  async pareto(from: Date, to: Date, scope: Scope = {}) {
    const perClass = new Map<string, number>();
    for (const r of await scoreCounts(this.db, from, to, scope)) if (r.rejecting) perClass.set(r.class, (perClass.get(r.class) ?? 0) + r.rejecting);
    const total = [...perClass.values()].reduce((a, n) => a + n, 0);
    let cum = 0;
    return [...perClass]
      .map(([cls, count]) => ({ class: cls, count }))
      .sort((a, b) => b.count - a.count || a.class.localeCompare(b.class))
      .map((g) => ({ ...g, share: total ? round4(g.count / total) : 0, cumulative: total ? round4((cum += g.count) / total) : 0 }));
  }
}

const round4 = (x: number) => Math.round(x * 1e4) / 1e4;

/**
 * A serializable transaction another one refused: Prisma's P2034, or, when the pg adapter
 * raises it while committing, its DriverAdapterError of kind TransactionWriteConflict.
 */
function writeConflict(err: unknown): boolean {
  const e = err as { code?: string; cause?: { kind?: string }; message?: string } | null;
  return e?.code === 'P2034' || e?.cause?.kind === 'TransactionWriteConflict' || /TransactionWriteConflict/.test(e?.message ?? '');
}

/**
 * A review's serializable transaction, retried when another one won: several reviewers at once on
 * one part each refuse the others' transaction in turn — enough retries, spread at random, for a
 * handful of them to all get through. Retried: a write conflict, or the audit entry linked to an
 * audit head another writer had just linked to (its snapshot was older: P2002 on AuditLog.prevHash).
 */
function retryReviewConflicts<T>(fn: () => Promise<T>): Promise<T> {
  return pRetry(fn, {
    retries: 12,
    minTimeout: 10,
    maxTimeout: 500,
    randomize: true,
    shouldRetry: ({ error }) => writeConflict(error) || (error as { code?: string }).code === 'P2002',
  });
}

/** Retries a write that lost a race on a unique key (P2002) to another station or process. */
function onConflictRetry<T>(fn: () => Promise<T>): Promise<T> {
  return pRetry(fn, {
    retries: 5,
    minTimeout: 20,
    maxTimeout: 200,
    randomize: true,
    shouldRetry: ({ error }) => (error as { code?: string }).code === 'P2002',
  });
}

/** The row the recorder writes for a result (exported for the history bench's write-path baseline). */
export function inspectionData(stationId: string, r: InspectionResult, refs: RowRefs, images: StoredImage[]) {
  // Its findings and image rows carry its capture time (PostgreSQL partitions them by it).
  const capturedAt = new Date(r.timestamp);
  return {
    stationId,
    partSeq: BigInt(r.seq),
    source: wellFormed(r.source),
    partId: r.partId === undefined ? null : wellFormed(r.partId),
    lot: r.lot === undefined ? null : wellFormed(r.lot),
    capturedAt,
    decidedAt: new Date(r.decidedAt),
    verdict: r.verdict,
    errorCode: r.errorCode ?? null,
    reasons: r.reasons as object[],
    outputs: r.outputs as object,
    maxScore: r.maxScore,
    defectCount: r.defects.filter((d) => d.rejecting).length,
    timings: r.timings as object,
    latencyMs: r.timings.total,
    recipeName: wellFormed(r.recipe),
    recipeVersionId: refs.recipeVersionId,
    modelId: refs.modelId,
    truth: r.truth ? (r.truth as object) : undefined,
    code: r.code === undefined ? null : wellFormed(r.code),
    imageSha256: images.some((i) => i.sha256) ? Object.fromEntries(images.map((i) => [i.variant, i.sha256 ?? null])) : undefined,
    defects: {
      create: r.defects.map((d) => ({
        capturedAt,
        class: wellFormed(d.class),
        score: d.score,
        scoreBin: scoreBin(d.score),
        rejecting: d.rejecting,
        area: d.area ?? null,
        x1: d.box?.[0] ?? null,
        y1: d.box?.[1] ?? null,
        x2: d.box?.[2] ?? null,
        y2: d.box?.[3] ?? null,
      })),
    },
    images: { create: images.map((i) => ({ capturedAt, variant: i.variant, path: i.path, mime: i.mime, width: i.width, height: i.height, bytes: i.bytes })) },
  };
}

/**
 * Text as a column keeps it: a lone surrogate or a NUL (a code read as garbage, a label) becomes U+FFFD.
 * SQLite would store its WTF-8 bytes and give back three U+FFFD, and the record would no longer
 * match its hash.
 */
function wellFormed(s: string): string {
  // Not a string (a damaged spool line): left for Prisma to refuse, so the row is quarantined as bad data.
  // NUL too: PostgreSQL keeps it in no text column.
  return typeof s === 'string' ? (s as string & { toWellFormed(): string }).toWellFormed().replaceAll('\u0000', '\uFFFD') : s;
}

/** An inspection's row linked to its station's previous record: its prevHash and its own hash. */
function chained(data: ReturnType<typeof inspectionData>, prevHash: string | null) {
  let hash: string | null = null;
  try {
    hash = recordHash({ ...data, truth: data.truth ?? null, imageSha256: data.imageSha256 ?? null, prevHash, defects: data.defects.create });
  } catch {
    // Data no record can hold (an invalid time in a damaged spool line): Prisma refuses the row and
    // the spool sets it aside as bad data. Were it ever written, verify would name it (no hash).
  }
  return { ...data, prevHash, hash };
}

/** Shifts start at 06:00, 14:00 and 22:00 UTC (three-shift operation). */
/**
 * The bucket an hour of the aggregates falls in: its UTC hour, the plant's shift (with its name)
 * or the plant's day, in the plant's zone. Every bucket is whole hours (the configuration allows
 * only zones with whole-hour offsets and shifts on the hour), so an hour is never split.
 */
export function bucketOf(d: Date, bucket: 'hour' | 'shift' | 'day', clock: PlantClock = UTC_CLOCK): { start: Date; shift?: string } {
  const hour = Math.floor(d.getTime() / 3_600_000) * 3_600_000;
  if (bucket === 'hour') return { start: new Date(hour) };
  if (bucket === 'day') return { start: new Date(dayStart(clock, hour)) };
  const s = shiftAt(clock, hour);
  return { start: new Date(s.start), shift: s.name };
}

function reinferenceOut(r: {
  id: number;
  state: string;
  recipeName: string;
  candidate: unknown;
  selection: unknown;
  total: number;
  done: number;
  error: string | null;
  createdAt: Date;
  finishedAt: Date | null;
  author: string;
}) {
  return {
    id: r.id,
    state: r.state,
    recipe: r.recipeName,
    candidate: r.candidate as Record<string, unknown>,
    selection: r.selection as Record<string, unknown>,
    total: r.total,
    done: r.done,
    error: r.error,
    createdAt: r.createdAt.toISOString(),
    finishedAt: r.finishedAt?.toISOString() ?? null,
    author: r.author,
  };
}

function recipeVersionOut(name: string, v: { version: number; definition: unknown; author: string; reason: string; createdAt: Date; sha256: string }) {
  return { name, version: v.version, definition: v.definition, author: v.author, reason: v.reason, createdAt: v.createdAt.toISOString(), sha256: v.sha256 };
}

type Row = {
  id: number;
  stationId: string;
  partSeq: bigint;
  source: string;
  partId: string | null;
  lot: string | null;
  code: string | null;
  capturedAt: Date;
  decidedAt: Date;
  verdict: string;
  errorCode: string | null;
  reasons: unknown;
  maxScore: number;
  defectCount: number;
  timings: unknown;
  latencyMs: number;
  recipeName: string;
  defects: {
    class: string;
    score: number;
    x1: number | null;
    y1: number | null;
    x2: number | null;
    y2: number | null;
    area: number | null;
    rejecting: boolean;
  }[];
  images: { variant: string }[];
};

/** A listed inspection: the record with its current review (null: not reviewed). */
function toListed(r: Row & { reviews: { label: string; class: string | null }[] }) {
  return { ...toApi(r), review: r.reviews[0] ?? null };
}

function toApi(r: Row) {
  return {
    id: r.id,
    station: r.stationId,
    partSeq: Number(r.partSeq),
    source: r.source,
    partId: r.partId,
    lot: r.lot,
    code: r.code,
    capturedAt: r.capturedAt.toISOString(),
    decidedAt: r.decidedAt.toISOString(),
    verdict: r.verdict,
    errorCode: r.errorCode,
    reasons: r.reasons,
    maxScore: r.maxScore,
    defectCount: r.defectCount,
    latencyMs: r.latencyMs,
    timings: r.timings,
    recipe: r.recipeName,
    defects: r.defects.map((d) => ({
      class: d.class,
      score: d.score,
      rejecting: d.rejecting,
      area: d.area,
      box: d.x1 === null ? null : [d.x1, d.y1, d.x2, d.y2],
    })),
    images: r.images.map((i) => i.variant),
  };
}
