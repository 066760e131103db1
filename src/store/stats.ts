/**
 * Hourly aggregates (issue #17): what statistics read instead of the records. A line at 10 parts/s
 * makes 26 million inspections a month; yield, Pareto and score histograms over such a window read
 * one row per hour × station × recipe version (× class × score bin), kept in the same transaction
 * as the records and the reviews. A window that does not start or end on the hour reads its
 * partial first and last hours from the records, aggregated in SQL (never row by row here).
 *
 *   record batch ──deltasOf()──▶ StatHour / StatScoreHour upserts (same transaction)
 *   review       ──reviewDelta()─▶ StatHour label counters moved (same transaction)
 *   GET /api/stats/* ──▶ whole hours: aggregates · partial hours: groupBy on the records
 */
import type { InspectionResult } from '../line/protocol.js';
import type { Db } from './db.js';

/** What one transaction can do: the client itself or an interactive transaction. */
export type Tx = Pick<Db, 'statHour' | 'statScoreHour' | 'inspection' | 'defect' | 'review' | 'station'>;

/** Fine histogram bins on [0, 1]; requested bins must divide this (2, 4, 5, 10, 20, 25, 50, 100). */
export const SCORE_BINS = 100;
export const ALLOWED_BINS = [2, 4, 5, 10, 20, 25, 50, 100] as const;

export const scoreBin = (score: number) => Math.min(SCORE_BINS - 1, Math.max(0, Math.floor(score * SCORE_BINS)));

const HOUR = 3_600_000;
export const floorHour = (d: Date) => new Date(Math.floor(d.getTime() / HOUR) * HOUR);
const ceilHour = (d: Date) => new Date(Math.ceil(d.getTime() / HOUR) * HOUR);

type Verdict = 'pass' | 'fail' | 'uninspected';
type Label = 'confirmed' | 'false_reject' | 'escape';
const LABEL_COLUMN = { confirmed: 'confirmed', false_reject: 'falseRejects', escape: 'escapes' } as const;

interface HourKey {
  hour: Date;
  stationId: string;
  recipeName: string;
  recipeVersionId: number;
}

/** One batch's contribution to the aggregates, merged per key before it touches the database. */
export interface StatDeltas {
  hours: Map<string, HourKey & { parts: number; pass: number; fail: number; uninspected: number }>;
  scores: Map<string, HourKey & { class: string; bin: number; findings: number; rejecting: number }>;
}

export function deltasOf(stationId: string, items: { r: InspectionResult; recipeVersionId: number | null }[]): StatDeltas {
  const out: StatDeltas = { hours: new Map(), scores: new Map() };
  for (const { r, recipeVersionId } of items) {
    const key: HourKey = { hour: floorHour(new Date(r.timestamp)), stationId, recipeName: r.recipe, recipeVersionId: recipeVersionId ?? 0 };
    const k = `${key.hour.getTime()}|${key.recipeName}|${key.recipeVersionId}`;
    let h = out.hours.get(k);
    if (!h) out.hours.set(k, (h = { ...key, parts: 0, pass: 0, fail: 0, uninspected: 0 }));
    h.parts++;
    h[r.verdict as Verdict]++;
    for (const d of r.defects) {
      const bin = scoreBin(d.score);
      const sk = `${k}|${d.class}|${bin}`;
      let s = out.scores.get(sk);
      if (!s) out.scores.set(sk, (s = { ...key, class: d.class, bin, findings: 0, rejecting: 0 }));
      s.findings++;
      if (d.rejecting) s.rejecting++;
    }
  }
  return out;
}

/** What the few statements written as SQL need to know of their database. */
export interface SqlDialect {
  /** A time exactly as Prisma writes it (aggregate keys must match to conflict; SQLite compares text). */
  time(t: Date): string | Date;
  /** A statement written with `?` parameters, in this database's spelling (the text holds no other `?`). */
  text(q: string): string;
}
/** SQLite: Prisma's DateTime text, `2026-11-25T08:00:00.000+00:00` (keys compare as text); `?` parameters. */
export const SQLITE: SqlDialect = { time: (t) => t.toISOString().replace('Z', '+00:00'), text: (q) => q };
/** PostgreSQL: a timestamp(3) parameter; `$1`, `$2`, … parameters. */
export const POSTGRESQL: SqlDialect = {
  time: (t) => t,
  text: (q) => {
    let n = 0;
    return q.replace(/\?/g, () => `$${++n}`);
  },
};

/** `?,?,…`: `n` parameters, for a VALUES row or an IN list. */
export const params = (n: number) => Array(n).fill('?').join(',');

/**
 * Ids per `in: [...]` list. Each id is a bound parameter and Prisma does not split long lists on
 * SQLite: past about a thousand the query fails ("query parameter limit exceeded", issue #17).
 */
export const IN_SLICE = 500;

/** Rows per upsert statement (8 parameters a row: well under either database's limit). */
const UPSERT_ROWS = 200;

/**
 * Adds a batch's deltas (inside the transaction that writes its records): one
 * `INSERT … ON CONFLICT DO UPDATE` per table (the same SQL on SQLite and PostgreSQL), not one
 * Prisma upsert per key — a batch of 32 parts touches a few dozen score bins, and the upserts cost
 * the recorder a quarter of its throughput.
 */
export async function applyDeltas(tx: Pick<Db, '$executeRawUnsafe'>, d: StatDeltas, sql: SqlDialect): Promise<void> {
  const hours = [...d.hours.values()];
  for (let i = 0; i < hours.length; i += UPSERT_ROWS) {
    const rows = hours.slice(i, i + UPSERT_ROWS);
    await tx.$executeRawUnsafe(
      sql.text(`INSERT INTO "StatHour" ("hour","stationId","recipeName","recipeVersionId","parts","pass","fail","uninspected") VALUES ${rowsOf(rows.length, 8)}
       ON CONFLICT ("hour","stationId","recipeName","recipeVersionId") DO UPDATE SET "parts" = "StatHour"."parts" + excluded."parts",
         "pass" = "StatHour"."pass" + excluded."pass", "fail" = "StatHour"."fail" + excluded."fail", "uninspected" = "StatHour"."uninspected" + excluded."uninspected"`),
      ...rows.flatMap((h) => [sql.time(h.hour), h.stationId, h.recipeName, h.recipeVersionId, h.parts, h.pass, h.fail, h.uninspected]),
    );
  }
  const scores = [...d.scores.values()];
  for (let i = 0; i < scores.length; i += UPSERT_ROWS) {
    const rows = scores.slice(i, i + UPSERT_ROWS);
    await tx.$executeRawUnsafe(
      sql.text(`INSERT INTO "StatScoreHour" ("hour","stationId","recipeName","recipeVersionId","class","bin","findings","rejecting") VALUES ${rowsOf(rows.length, 8)}
       ON CONFLICT ("hour","stationId","recipeName","recipeVersionId","class","bin") DO UPDATE SET
         "findings" = "StatScoreHour"."findings" + excluded."findings", "rejecting" = "StatScoreHour"."rejecting" + excluded."rejecting"`),
      ...rows.flatMap((s) => [sql.time(s.hour), s.stationId, s.recipeName, s.recipeVersionId, s.class, s.bin, s.findings, s.rejecting]),
    );
  }
}

/** `(?,…),(?,…)`: `rows` rows of `cols` parameters. */
const rowsOf = (rows: number, cols: number) =>
  Array(rows)
    .fill(`(${params(cols)})`)
    .join(',');

/**
 * A review changes which label counts for its part (only the latest review of a part counts):
 * the previous label's counter goes down, the new one's up, in the review's transaction.
 */
export async function moveReviewLabel(
  tx: Tx,
  part: { capturedAt: Date; stationId: string; recipeName: string; recipeVersionId: number | null },
  from: string | undefined,
  to: string | undefined,
): Promise<void> {
  if (from === to) return;
  const key = { hour: floorHour(part.capturedAt), stationId: part.stationId, recipeName: part.recipeName, recipeVersionId: part.recipeVersionId ?? 0 };
  const data: Record<string, { increment: number } | { decrement: number }> = {};
  if (from && from in LABEL_COLUMN) data[LABEL_COLUMN[from as Label]] = { decrement: 1 };
  if (to && to in LABEL_COLUMN) data[LABEL_COLUMN[to as Label]] = { increment: 1 };
  // The hour's row exists whenever its record does (same transaction); updateMany does nothing
  // for a record older than the aggregates (there is none: the migration counted them all).
  await tx.statHour.updateMany({ where: key, data });
}

// --- reading ------------------------------------------------------------------------------------

/** Which stations' records: one station, or every station of a line. */
export interface Scope {
  station?: string;
  line?: string;
  /** Only this recipe's parts (what-if's window; the aggregates are kept per recipe too). */
  recipe?: string;
}

/** The window split into whole hours (from the aggregates) and its partial ends (from the records). */
function split(from: Date, to: Date): { whole: { gte: Date; lt: Date } | null; edges: { gte: Date; lt: Date }[] } {
  if (from >= to) return { whole: null, edges: [] };
  if (floorHour(from).getTime() === floorHour(new Date(to.getTime() - 1)).getTime()) return { whole: null, edges: [{ gte: from, lt: to }] };
  const h0 = ceilHour(from),
    h1 = floorHour(to);
  const edges = [];
  if (from < h0) edges.push({ gte: from, lt: h0 });
  if (h1 < to) edges.push({ gte: h1, lt: to });
  return { whole: h0 < h1 ? { gte: h0, lt: h1 } : null, edges };
}

/** The stations a scope names (a line's, one of them, or one), or undefined for every station. */
export async function stationIds(db: Pick<Tx, 'station'>, s: Scope): Promise<string[] | undefined> {
  if (s.line === undefined) return s.station !== undefined ? [s.station] : undefined;
  const ids = (await db.station.findMany({ where: { line: s.line }, select: { id: true } })).map((x) => x.id);
  return s.station !== undefined ? ids.filter((id) => id === s.station) : ids;
}

export interface HourCounts {
  hour: Date;
  parts: number;
  pass: number;
  fail: number;
  uninspected: number;
  confirmed: number;
  falseRejects: number;
  escapes: number;
}

const zero = (hour: Date): HourCounts => ({ hour, parts: 0, pass: 0, fail: 0, uninspected: 0, confirmed: 0, falseRejects: 0, escapes: 0 });

/**
 * Counts per hour (an edge hour's counts cover only its part inside the window), oldest first,
 * optionally per station: the rows yield and station statistics are built from.
 */
export async function hourlyCounts(db: Tx, from: Date, to: Date, scope: Scope, byStation = false): Promise<(HourCounts & { stationId: string })[]> {
  const ids = await stationIds(db, scope);
  if (ids && ids.length === 0) return [];
  const { whole, edges } = split(from, to);
  const out = new Map<string, HourCounts & { stationId: string }>();
  const at = (hour: Date, stationId: string) => {
    const k = `${hour.getTime()}|${byStation ? stationId : ''}`;
    let c = out.get(k);
    if (!c) out.set(k, (c = { ...zero(hour), stationId: byStation ? stationId : '' }));
    return c;
  };
  if (whole) {
    const rows = await db.statHour.groupBy({
      by: byStation ? ['hour', 'stationId'] : ['hour'],
      where: { hour: whole, stationId: ids ? { in: ids } : undefined, recipeName: scope.recipe },
      _sum: { parts: true, pass: true, fail: true, uninspected: true, confirmed: true, falseRejects: true, escapes: true },
    });
    for (const r of rows as unknown as { hour: Date; stationId?: string; _sum: Record<keyof Omit<HourCounts, 'hour'>, number | null> }[]) {
      const c = at(r.hour, r.stationId ?? '');
      for (const [k, v] of Object.entries(r._sum)) c[k as keyof typeof r._sum] += v ?? 0;
    }
  }
  for (const e of edges) {
    const where = { capturedAt: e, stationId: ids ? { in: ids } : undefined, recipeName: scope.recipe };
    const hour = floorHour(e.gte);
    const verdicts = await db.inspection.groupBy({ by: ['stationId', 'verdict'], where, _count: { _all: true } });
    for (const v of verdicts) {
      const c = at(hour, v.stationId);
      c.parts += v._count._all;
      c[v.verdict as Verdict] += v._count._all;
    }
    // Reviews are people's work, a few per hour: the edge's reviewed parts first (an index probe
    // per part of the edge), then their reviews, the latest per part picked here. Filtering the
    // reviews by their part's time instead walked every review ever made (130 ms on a month's
    // 52 000; 4 s with a cold cache), growing with the history.
    const reviewed = await db.inspection.findMany({ where: { ...where, reviews: { some: {} } }, select: { id: true, stationId: true } });
    const stationOf = new Map(reviewed.map((r) => [r.id, r.stationId]));
    const latest = new Map<number, { label: string; stationId: string }>();
    for (let i = 0; i < reviewed.length; i += IN_SLICE) {
      for (const r of await db.review.findMany({
        where: { inspectionId: { in: reviewed.slice(i, i + IN_SLICE).map((x) => x.id) } },
        orderBy: { id: 'asc' },
        select: { inspectionId: true, label: true },
      }))
        latest.set(r.inspectionId, { label: r.label, stationId: stationOf.get(r.inspectionId)! });
    }
    for (const { label, stationId } of latest.values()) {
      if (label in LABEL_COLUMN) at(hour, stationId)[LABEL_COLUMN[label as Label]]++;
    }
  }
  return [...out.values()].sort((a, b) => a.hour.getTime() - b.hour.getTime() || a.stationId.localeCompare(b.stationId));
}

/** Findings per class and fine score bin over the window: kept and rejecting. */
export async function scoreCounts(db: Tx, from: Date, to: Date, scope: Scope): Promise<{ class: string; bin: number; findings: number; rejecting: number }[]> {
  const ids = await stationIds(db, scope);
  if (ids && ids.length === 0) return [];
  const { whole, edges } = split(from, to);
  const out = new Map<string, { class: string; bin: number; findings: number; rejecting: number }>();
  const at = (cls: string, bin: number) => {
    const k = `${cls}|${bin}`;
    let c = out.get(k);
    if (!c) out.set(k, (c = { class: cls, bin, findings: 0, rejecting: 0 }));
    return c;
  };
  if (whole) {
    for (const r of await db.statScoreHour.groupBy({
      by: ['class', 'bin'],
      where: { hour: whole, stationId: ids ? { in: ids } : undefined },
      _sum: { findings: true, rejecting: true },
    })) {
      const c = at(r.class, r.bin);
      c.findings += r._sum.findings ?? 0;
      c.rejecting += r._sum.rejecting ?? 0;
    }
  }
  for (const e of edges) {
    for (const r of await db.defect.groupBy({
      by: ['class', 'scoreBin', 'rejecting'],
      where: { inspection: { capturedAt: e, stationId: ids ? { in: ids } : undefined } },
      _count: { _all: true },
    })) {
      const c = at(r.class, r.scoreBin);
      c.findings += r._count._all;
      if (r.rejecting) c.rejecting += r._count._all;
    }
  }
  return [...out.values()];
}
