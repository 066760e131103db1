/**
 * `station bench history` (issue #17): a month of production to measure the read paths against.
 * Real outcomes first — a sample of synthetic parts inspected by the shipped model, so verdicts,
 * findings and compact outputs are what the station really stores — then copied at a line rate
 * over `days` for several stations and recipe versions with bulk inserts (not the recorder),
 * reviews on a share of them, and the hourly aggregates counted as the rows are made (the same
 * `deltasOf` the recorder's transaction uses). Then every statistics and listing path is timed.
 *
 *   sample (model) ──▶ rows at rate × days ──bulk──▶ SQLite (better-sqlite3) | PostgreSQL (pg, unnest)
 *                                                     └─▶ read paths × runs: p50 / p95, bytes per part
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { Logger } from 'pino';
import { inspectionsCsv } from '../api/inspections.js';
import { DEFAULT_SHIFTS, plateRecipe, validateConfig } from '../config/index.js';
import type { InspectionResult } from '../line/index.js';
import { LatencyWindow } from '../line/stats.js';
import { startStation } from '../main.js';
import { SHIPPED_MODEL } from '../paths.js';
import { shiftReport } from '../report/index.js';
import { openDatabase, parseDatabaseUrl, Repository, scoreBin, type Db } from '../store/index.js';
import { cursorAfter, inspectionData } from '../store/repository.js';
import { deltasOf, type StatDeltas } from '../store/stats.js';
import { runWhatIf } from '../whatif/index.js';

export interface HistoryOptions {
  url: string;
  days: number;
  /** Parts per second per station. */
  rate: number;
  stations: number;
  /** Where the sample station keeps its files. */
  dataDir: string;
  log: Logger;
  runs: number;
  /** Synthetic parts inspected for real outcomes (default 2000). */
  sampleParts?: number;
  onProgress?: (s: string) => void;
}

const HOUR = 3_600_000;
const REVIEW_SHARE = 0.002;

/** A seeded generator: the same history every run. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
}

/** Real outcomes: synthetic parts through the shipped model, without images. */
async function sample(o: HistoryOptions, parts: number): Promise<InspectionResult[]> {
  const out: InspectionResult[] = [];
  const config = validateConfig(
    {
      station: { id: 'history-sample' },
      storage: { dataDir: o.dataDir },
      line: { deadlineMs: 3600_000, queueSize: 4 },
      sources: [{ name: 'line', uri: `synthetic:?seed=11&defectRate=0.2&count=${parts}`, recipe: 'plate' }],
      recipes: { plate: { ...plateRecipe(SHIPPED_MODEL), keepGood: 0 } },
    },
    o.dataDir,
  );
  const s = await startStation({
    config,
    log: o.log,
    http: false,
    databaseUrl: `file:${path.join(o.dataDir, 'sample.db')}`,
    onResult: (r) => out.push({ ...r, image: undefined, masks: undefined, anomalyMap: undefined }),
  });
  await s.line.whenIdle();
  await s.stop();
  return out;
}

interface Row {
  stationId: string;
  partSeq: number;
  capturedAt: number;
  r: InspectionResult;
  recipeVersionId: number;
}

/** The rows of the history in time order, chunk by chunk (memory stays bounded whatever the size). */
function* history(o: HistoryOptions, outcomes: InspectionResult[], versions: number[], chunk: number): Generator<Row[]> {
  const end = Math.floor(Date.now() / HOUR) * HOUR;
  const start = end - o.days * 24 * HOUR;
  const step = 1000 / o.rate;
  const perStation = Math.floor((end - start) / step);
  const rand = rng(3);
  let rows: Row[] = [];
  for (let k = 0; k < perStation; k++) {
    const t = start + k * step;
    // A new recipe version every ten days (the same for every station).
    const v = versions[Math.min(versions.length - 1, Math.floor((t - start) / (24 * HOUR) / 10))];
    for (let s = 0; s < o.stations; s++) {
      rows.push({
        stationId: `station-${s + 1}`,
        partSeq: k,
        capturedAt: Math.floor(t + s * 7),
        r: outcomes[Math.floor(rand() * outcomes.length)],
        recipeVersionId: v,
      });
    }
    if (rows.length >= chunk) {
      yield rows;
      rows = [];
    }
  }
  if (rows.length) yield rows;
}

/** Adds one station's deltas to the history's (keys gain the station: deltasOf's are per station). */
function merge(into: StatDeltas, stationId: string, d: StatDeltas): void {
  for (const [key, v] of d.hours) {
    const k = `${stationId}|${key}`;
    const h = into.hours.get(k);
    if (!h) into.hours.set(k, { ...v });
    else for (const f of ['parts', 'pass', 'fail', 'uninspected'] as const) h[f] += v[f];
  }
  for (const [key, v] of d.scores) {
    const k = `${stationId}|${key}`;
    const s = into.scores.get(k);
    if (!s) into.scores.set(k, { ...v });
    else {
      s.findings += v.findings;
      s.rejecting += v.rejecting;
    }
  }
}

/** The columns every inspection row gets, in the bulk inserts' order. */
function inspectionValues(row: Row) {
  const r = row.r;
  return {
    stationId: row.stationId,
    partSeq: row.partSeq,
    source: 'line',
    capturedAt: row.capturedAt,
    decidedAt: row.capturedAt + Math.round(r.timings.total),
    verdict: r.verdict,
    errorCode: r.errorCode ?? null,
    reasons: JSON.stringify(r.reasons),
    outputs: JSON.stringify(r.outputs),
    maxScore: r.maxScore,
    defectCount: r.defects.filter((d) => d.rejecting).length,
    timings: JSON.stringify(r.timings),
    latencyMs: r.timings.total,
    recipeName: 'plate',
    recipeVersionId: row.recipeVersionId,
    truth: r.truth ? JSON.stringify(r.truth) : null,
  };
}

/** Where the rows go: bulk inserts of inspections with their findings and reviews, then the aggregates. */
interface Sink {
  insert(rows: Row[], reviewed: { index: number; label: string }[]): Promise<void>;
  aggregates(d: StatDeltas, labels: Map<string, Record<string, number>>): Promise<void>;
  bytes(): Promise<number>;
  close(): Promise<void>;
}

const isoSqlite = (ms: number) => new Date(ms).toISOString().replace('Z', '+00:00');

function sqliteSink(file: string, userId: number): Sink {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  const ins = db.prepare(
    `INSERT INTO "Inspection" ("stationId","partSeq","source","capturedAt","decidedAt","verdict","errorCode","reasons","outputs","maxScore","defectCount","timings","latencyMs","recipeName","recipeVersionId","truth","createdAt")
     VALUES (@stationId,@partSeq,@source,@capturedAt,@decidedAt,@verdict,@errorCode,@reasons,@outputs,@maxScore,@defectCount,@timings,@latencyMs,@recipeName,@recipeVersionId,@truth,@decidedAt)`,
  );
  const def = db.prepare(
    `INSERT INTO "Defect" ("inspectionId","capturedAt","class","score","scoreBin","rejecting","area","x1","y1","x2","y2") VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
  );
  const rev = db.prepare(`INSERT INTO "Review" ("inspectionId","capturedAt","label","note","userId","createdAt") VALUES (?,?,?,'',?,?)`);
  const insertAll = db.transaction((rows: Row[], reviewed: { index: number; label: string }[]) => {
    const ids: number[] = [];
    for (const row of rows) {
      const v = inspectionValues(row);
      const capturedAt = isoSqlite(v.capturedAt);
      const id = Number(ins.run({ ...v, capturedAt, decidedAt: isoSqlite(v.decidedAt) }).lastInsertRowid);
      ids.push(id);
      for (const d of row.r.defects)
        def.run(
          id,
          capturedAt,
          d.class,
          d.score,
          scoreBin(d.score),
          d.rejecting ? 1 : 0,
          d.area ?? null,
          d.box?.[0] ?? null,
          d.box?.[1] ?? null,
          d.box?.[2] ?? null,
          d.box?.[3] ?? null,
        );
    }
    for (const r of reviewed) rev.run(ids[r.index], isoSqlite(rows[r.index].capturedAt), r.label, userId, isoSqlite(rows[r.index].capturedAt + 3_600_000));
  });
  return {
    async insert(rows, reviewed) {
      insertAll(rows, reviewed);
    },
    async aggregates(d, labels) {
      const h = db.prepare(
        `INSERT INTO "StatHour" ("hour","stationId","recipeName","recipeVersionId","parts","pass","fail","uninspected","confirmed","falseRejects","escapes") VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
      );
      const s = db.prepare(
        `INSERT INTO "StatScoreHour" ("hour","stationId","recipeName","recipeVersionId","class","bin","findings","rejecting") VALUES (?,?,?,?,?,?,?,?)`,
      );
      db.transaction(() => {
        for (const [k, v] of d.hours) {
          const l = labels.get(k) ?? {};
          h.run(
            isoSqlite(v.hour.getTime()),
            v.stationId,
            v.recipeName,
            v.recipeVersionId,
            v.parts,
            v.pass,
            v.fail,
            v.uninspected,
            l.confirmed ?? 0,
            l.false_reject ?? 0,
            l.escape ?? 0,
          );
        }
        for (const v of d.scores.values())
          s.run(isoSqlite(v.hour.getTime()), v.stationId, v.recipeName, v.recipeVersionId, v.class, v.bin, v.findings, v.rejecting);
      })();
      db.pragma('wal_checkpoint(TRUNCATE)');
      db.exec('ANALYZE');
    },
    async bytes() {
      const pages = db.pragma('page_count', { simple: true }) as number;
      const size = db.pragma('page_size', { simple: true }) as number;
      return pages * size;
    },
    async close() {
      db.close();
    },
  };
}

async function postgresSink(url: string, userId: number): Promise<Sink> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  // Timestamps as UTC text for "timestamp without time zone" columns (what Prisma writes).
  const ts = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
  return {
    async insert(rows, reviewed) {
      const v = rows.map(inspectionValues);
      const col = <K extends keyof (typeof v)[number]>(k: K) => v.map((x) => x[k]);
      await c.query('BEGIN');
      const returned = (
        await c.query<{ id: number; stationId: string; partSeq: string }>(
          `INSERT INTO "Inspection" ("stationId","partSeq","source","capturedAt","decidedAt","verdict","errorCode","reasons","outputs","maxScore","defectCount","timings","latencyMs","recipeName","recipeVersionId","truth","createdAt")
           SELECT s, q, src, ca, da, vd, ec, rs::jsonb, os::jsonb, ms, dc, tm::jsonb, lm, rn, rv, tr::jsonb, da
           FROM unnest($1::text[], $2::bigint[], $3::text[], $4::timestamp[], $5::timestamp[], $6::text[], $7::text[], $8::text[], $9::text[], $10::float8[], $11::int[], $12::text[], $13::float8[], $14::text[], $15::int[], $16::text[])
             AS t(s, q, src, ca, da, vd, ec, rs, os, ms, dc, tm, lm, rn, rv, tr)
           RETURNING id, "stationId", "partSeq"`,
          [
            col('stationId'),
            col('partSeq'),
            col('source'),
            v.map((x) => ts(x.capturedAt)),
            v.map((x) => ts(x.decidedAt)),
            col('verdict'),
            col('errorCode'),
            col('reasons'),
            col('outputs'),
            col('maxScore'),
            col('defectCount'),
            col('timings'),
            col('latencyMs'),
            col('recipeName'),
            col('recipeVersionId'),
            col('truth'),
          ],
        )
      ).rows;
      // By key, not position: PostgreSQL does not promise RETURNING in the input's order.
      const idOf = new Map(returned.map((r) => [`${r.stationId}|${r.partSeq}`, r.id]));
      const ids = rows.map((row) => idOf.get(`${row.stationId}|${row.partSeq}`)!);
      const d: { id: number[]; at: string[]; cls: string[]; score: number[]; bin: number[]; rej: boolean[]; area: (number | null)[] } = {
        id: [],
        at: [],
        cls: [],
        score: [],
        bin: [],
        rej: [],
        area: [],
      };
      rows.forEach((row, i) => {
        for (const f of row.r.defects) {
          d.id.push(ids[i]);
          d.at.push(ts(row.capturedAt));
          d.cls.push(f.class);
          d.score.push(f.score);
          d.bin.push(scoreBin(f.score));
          d.rej.push(f.rejecting);
          d.area.push(f.area ?? null);
        }
      });
      await c.query(
        `INSERT INTO "Defect" ("inspectionId","capturedAt","class","score","scoreBin","rejecting","area") SELECT * FROM unnest($1::int[], $2::timestamp[], $3::text[], $4::float8[], $5::int[], $6::bool[], $7::float8[])`,
        [d.id, d.at, d.cls, d.score, d.bin, d.rej, d.area],
      );
      if (reviewed.length)
        await c.query(
          `INSERT INTO "Review" ("inspectionId","capturedAt","label","note","userId","createdAt") SELECT i, a, l, '', $3, c FROM unnest($1::int[], $2::text[], $4::timestamp[], $5::timestamp[]) AS t(i, l, c, a)`,
          [
            reviewed.map((r) => ids[r.index]),
            reviewed.map((r) => r.label),
            userId,
            reviewed.map((r) => ts(rows[r.index].capturedAt + 3_600_000)),
            reviewed.map((r) => ts(rows[r.index].capturedAt)),
          ],
        );
      await c.query('COMMIT');
    },
    async aggregates(d, labels) {
      await c.query('BEGIN');
      const hours = [...d.hours].map(([k, v]) => ({ ...v, l: labels.get(k) ?? {} }));
      await unnestInsert(c, 'StatHour', hours, [
        ['hour', 'timestamp', (h) => ts(h.hour.getTime())],
        ['stationId', 'text', (h) => h.stationId],
        ['recipeName', 'text', (h) => h.recipeName],
        ['recipeVersionId', 'int', (h) => h.recipeVersionId],
        ['parts', 'int', (h) => h.parts],
        ['pass', 'int', (h) => h.pass],
        ['fail', 'int', (h) => h.fail],
        ['uninspected', 'int', (h) => h.uninspected],
        ['confirmed', 'int', (h) => h.l.confirmed ?? 0],
        ['falseRejects', 'int', (h) => h.l.false_reject ?? 0],
        ['escapes', 'int', (h) => h.l.escape ?? 0],
      ]);
      await unnestInsert(
        c,
        'StatScoreHour',
        [...d.scores.values()],
        [
          ['hour', 'timestamp', (x) => ts(x.hour.getTime())],
          ['stationId', 'text', (x) => x.stationId],
          ['recipeName', 'text', (x) => x.recipeName],
          ['recipeVersionId', 'int', (x) => x.recipeVersionId],
          ['class', 'text', (x) => x.class],
          ['bin', 'int', (x) => x.bin],
          ['findings', 'int', (x) => x.findings],
          ['rejecting', 'int', (x) => x.rejecting],
        ],
      );
      await c.query('COMMIT');
      await c.query('VACUUM ANALYZE');
    },
    async bytes() {
      const r = await c.query<{ b: string }>(
        `SELECT sum(pg_total_relation_size(c.oid))::text AS b FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'`,
      );
      return Number(r.rows[0].b);
    },
    async close() {
      await c.end();
    },
  };
}

/** The 200th page of 50 of the unfiltered gallery: keyset pagination's cursor, 10 000 parts back. */
async function deepPage(repo: Repository) {
  const first = await repo.listInspections({ limit: 1 });
  const back = first.items[0] ? await repo.listedInspection(first.items[0].id - 200 * 50) : null;
  return repo.listInspections({ limit: 50, cursor: back ? cursorAfter(back) : undefined });
}

/** Walks `pages` pages of 50 of a filtered listing from the first, by their cursors (the caller times the whole walk). */
async function pageInto(repo: Repository, f: { from: Date; to: Date }, pages: number) {
  let cursor: string | undefined;
  let page: Awaited<ReturnType<Repository['listInspections']>> | undefined;
  for (let p = 0; p < pages; p++) {
    page = await repo.listInspections({ ...f, limit: 50, cursor });
    if (page.nextCursor === null) break;
    cursor = page.nextCursor;
  }
  return page;
}

/** p50 and p95 of `runs` timed calls (after one untimed call that warms caches and plans). */
async function timed(runs: number, fn: () => Promise<unknown>): Promise<{ p50: number; p95: number }> {
  await fn();
  const t = new LatencyWindow(runs);
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    t.add(performance.now() - t0);
  }
  const at = (p: number) => Math.round(t.percentile(p) * 10) / 10;
  return { p50: at(50), p95: at(95) };
}

let sampled: InspectionResult[] | null = null;

/** Rows into a PostgreSQL table through unnest: one array parameter per column, 5 000 rows a statement. */
async function unnestInsert<T>(c: pg.Client, table: string, rows: T[], columns: [name: string, type: string, value: (r: T) => unknown][]) {
  const names = columns.map(([n]) => `"${n}"`).join(',');
  const arrays = columns.map(([, type], k) => `$${k + 1}::${type}[]`).join(', ');
  for (let i = 0; i < rows.length; i += 5000) {
    const part = rows.slice(i, i + 5000);
    await c.query(
      `INSERT INTO "${table}" (${names}) SELECT * FROM unnest(${arrays})`,
      columns.map(([, , value]) => part.map(value)),
    );
  }
}

/**
 * The CSV download's own stream (the route's code, without the socket) drained as fast as it
 * comes, up to `maxRows` rows: rows, bytes, seconds, first row after, the process's RSS before and
 * its peak, and the event loop's longest stall while it ran (SQLite runs on this thread).
 */
export async function csvDownload(repo: Repository, filter: { from?: Date; to?: Date }, maxRows = Number.POSITIVE_INFINITY) {
  const rssBefore = process.memoryUsage().rss;
  let peakRss = rssBefore;
  let stallMs = 0;
  let tick = performance.now();
  const sampler = setInterval(() => {
    const now = performance.now();
    stallMs = Math.max(stallMs, now - tick - 20);
    tick = now;
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 20);
  const t0 = performance.now();
  let firstMs = 0;
  let lines = 0;
  let bytes = 0;
  const ac = new AbortController();
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      if (!firstMs) firstMs = performance.now() - t0;
      bytes += chunk.length;
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
      if (lines > maxRows) ac.abort();
      done();
    },
  });
  await pipeline(
    inspectionsCsv(repo, filter, () => undefined),
    sink,
    { signal: ac.signal },
  ).catch((err: Error) => {
    if (err.name !== 'AbortError') throw err;
  });
  clearInterval(sampler);
  const mb = (x: number) => Math.round(x / 1024 / 1024);
  return {
    rows: Math.min(lines - 1, maxRows),
    megabytes: Math.round(bytes / 1024 / 1024),
    seconds: Math.round(performance.now() - t0) / 1000,
    firstRowMs: Math.round(firstMs),
    rssBeforeMB: mb(rssBefore),
    rssPeakMB: mb(peakRss),
    longestStallMs: Math.round(stallMs),
  };
}

/**
 * The recorder's database write, timed in the same run with and without the hourly aggregates:
 * batches of 32 records (the recorder's batch) through `insertInspections` — the records and
 * their aggregate upserts in one transaction — against the same creates in a transaction alone,
 * alternated batch by batch (each first in half the pairs) so that drift hits both alike. Rows per second of each (from the median batch), and the ratio.
 */
async function recorderWritePath(db: Db, repo: Repository, outcomes: InspectionResult[], recipeVersionId: number, batches = 200, size = 32) {
  let seq = 0;
  const batch = (source: string) =>
    Array.from({ length: size }, () => {
      const r = outcomes[seq % outcomes.length];
      seq++;
      const t = Date.now() + seq;
      return { r: { ...r, seq, source, timestamp: t, decidedAt: t + 5 }, refs: { modelId: null, recipeVersionId }, images: [] };
    });
  const withAgg = new LatencyWindow(batches);
  const without = new LatencyWindow(batches);
  const withAggregates = async () => {
    const a = batch('recorder-bench');
    const t0 = performance.now();
    await repo.insertInspections('station-1', a);
    withAgg.add(performance.now() - t0);
  };
  const recordsAlone = async () => {
    const c = batch('recorder-bench-raw');
    const t0 = performance.now();
    await db.$transaction(async (tx) => {
      for (const i of c) await tx.inspection.create({ data: inspectionData('station-1', i.r, i.refs, i.images), select: { id: true } });
    });
    without.add(performance.now() - t0);
  };
  // Each goes first in half the pairs: a checkpoint or a cache the first one warms favours neither.
  for (let b = 0; b < batches; b++) {
    if (b % 2) {
      await withAggregates();
      await recordsAlone();
    } else {
      await recordsAlone();
      await withAggregates();
    }
  }
  // The baseline's rows have no aggregates: they go again (the others are records like any).
  await db.inspection.deleteMany({ where: { source: 'recorder-bench-raw' } });
  const perS = (w: LatencyWindow) => Math.round((size * 1000) / w.percentile(50));
  const withPerS = perS(withAgg);
  const withoutPerS = perS(without);
  return { batch: size, withAggregatesPerS: withPerS, withoutPerS, ratio: Math.round((withPerS / withoutPerS) * 1000) / 1000 };
}

export async function runHistoryBench(o: HistoryOptions) {
  const provider = parseDatabaseUrl(o.url).provider;
  const n = o.sampleParts ?? 2000;
  if (sampled?.length !== n) {
    o.onProgress?.(`inspecting ${n} synthetic parts with the shipped model for real outcomes`);
    sampled = await sample(o, n);
  }
  // The same outcomes for every database of the run.
  const outcomes = sampled;
  const db: Db = await openDatabase(o.url);
  const repo = new Repository(db);
  const t0 = performance.now();
  let parts = 0;
  try {
    if ((await db.inspection.count()) > 0) throw new Error(`${o.url} is not empty: the history bench fills a new database`);
    for (let s = 0; s < o.stations; s++)
      await repo.ensureStation({ id: `station-${s + 1}`, name: `station-${s + 1}`, line: s < 2 ? 'L1' : 'L2', site: 'plant' });
    await repo.months?.cover(new Date(Date.now() - (o.days + 1) * 24 * HOUR), new Date()); // PostgreSQL: the seeded months
    const recipe = await db.recipe.create({ data: { name: 'plate' } });
    const versions: number[] = [];
    for (let v = 1; v <= Math.max(1, Math.ceil(o.days / 10)); v++)
      versions.push(
        (
          await db.recipeVersion.create({
            data: { recipeId: recipe.id, version: v, definition: {}, sha256: String(v).padStart(64, '0'), author: 'bench', reason: 'history' },
          })
        ).id,
      );
    const user = await db.user.create({ data: { username: 'history-bench', role: 'quality', passwordHash: 'x' } });
    const target = parseDatabaseUrl(o.url);
    const sink = target.provider === 'sqlite' ? sqliteSink(target.file, user.id) : await postgresSink(target.url, user.id);
    const total = Math.floor(((o.days * 24 * HOUR) / (1000 / o.rate)) * o.stations);
    const agg: StatDeltas = { hours: new Map(), scores: new Map() };
    const labels = new Map<string, Record<string, number>>();
    const rand = rng(9);
    let lastReport = 0;
    for (const rows of history(o, outcomes, versions, 10_000)) {
      const reviewed: { index: number; label: string }[] = [];
      for (let i = 0; i < rows.length; i++) {
        if (rand() >= REVIEW_SHARE) continue;
        const row = rows[i];
        // What a reviewer would say: a rejected part was a real defect or a false reject; a passed one confirmed or an escape.
        const label = row.r.verdict === 'pass' ? (rand() < 0.1 ? 'escape' : 'confirmed') : rand() < 0.3 ? 'false_reject' : 'confirmed';
        reviewed.push({ index: i, label });
      }
      await sink.insert(rows, reviewed);
      for (const st of new Set(rows.map((r) => r.stationId))) {
        const mine = rows.filter((r) => r.stationId === st);
        merge(
          agg,
          st,
          deltasOf(
            st,
            mine.map((r) => ({ r: { ...r.r, timestamp: r.capturedAt }, recipeVersionId: r.recipeVersionId })),
          ),
        );
      }
      for (const { index, label } of reviewed) {
        const r = rows[index];
        const key = `${r.stationId}|${Math.floor(r.capturedAt / HOUR) * HOUR}|plate|${r.recipeVersionId}`;
        const l = labels.get(key) ?? {};
        l[label] = (l[label] ?? 0) + 1;
        labels.set(key, l);
      }
      parts += rows.length;
      if (performance.now() - lastReport > 5000) {
        lastReport = performance.now();
        const rate = parts / ((performance.now() - t0) / 1000);
        o.onProgress?.(`${provider}: ${parts.toLocaleString('en')} / ${total.toLocaleString('en')} inspections (${Math.round(rate).toLocaleString('en')}/s)`);
      }
    }
    o.onProgress?.(`${provider}: aggregates (${agg.hours.size} hour rows, ${agg.scores.size} score rows), analyse`);
    await sink.aggregates(agg, labels);
    const seedS = (performance.now() - t0) / 1000;
    const bytes = await sink.bytes();
    await sink.close();

    // The read paths, on the database as a station's API reads it.
    o.onProgress?.(`${provider}: timing the read paths (${o.runs} runs each)`);
    const end = new Date(Math.floor(Date.now() / HOUR) * HOUR + 60_000);
    const ago = (days: number) => new Date(end.getTime() - days * 24 * HOUR - 17 * 60_000); // not on the hour: partial ends
    const someClass = outcomes.flatMap((r) => r.defects).find((d) => d.rejecting)?.class ?? 'scratch';
    const paths: [string, () => Promise<unknown>][] = [
      ['yield by hour, 1 day', () => repo.yieldStats('hour', ago(1), end)],
      ['yield by hour, 7 days', () => repo.yieldStats('hour', ago(7), end)],
      [`yield by shift, ${o.days} days`, () => repo.yieldStats('shift', ago(o.days), end)],
      [`yield by day, ${o.days} days, one line`, () => repo.yieldStats('day', ago(o.days), end, { line: 'L1' })],
      [`Pareto, ${o.days} days`, () => repo.pareto(ago(o.days), end)],
      [`score histograms, ${o.days} days`, () => repo.scoreHistograms(ago(o.days), end, 20)],
      [`per station, ${o.days} days`, () => repo.stationStats(ago(o.days), end)],
      // A whole shift of a day in the middle of the history (288 000 parts at the default rate), in the plant's zone.
      [
        'shift report, a shift 2 days back (Europe/Berlin)',
        () => shiftReport(repo, { timeZone: 'Europe/Berlin', shifts: DEFAULT_SHIFTS }, { date: ago(2).toISOString().slice(0, 10), name: 'late' }),
      ],
      ['gallery page, no filter', () => repo.listInspections({ limit: 50 })],
      ['gallery page, fail', () => repo.listInspections({ limit: 50, verdict: 'fail' })],
      [`gallery page, class ${someClass}`, () => repo.listInspections({ limit: 50, class: someClass })],
      ['gallery page, reviewed', () => repo.listInspections({ limit: 50, reviewed: true })],
      [
        'gallery page, station + fail + 1 day',
        () => repo.listInspections({ limit: 50, station: `station-${o.stations}`, verdict: 'fail', from: ago(1), to: end }),
      ],
      ['gallery page, line + a day 3 days back', () => repo.listInspections({ limit: 50, line: 'L1', from: ago(4), to: ago(3) })],
      ['gallery page, a line without stations + a day', () => repo.listInspections({ limit: 50, line: 'L9', from: ago(4), to: ago(3) })],
      [
        'gallery, 200 pages walked through a day 20 days back (all 200)',
        () => pageInto(repo, { from: ago(Math.min(21, o.days)), to: ago(Math.min(20, o.days - 1)) }, 200),
      ],
      ['gallery page, recipe + uninspected', () => repo.listInspections({ limit: 50, recipe: 'plate', verdict: 'uninspected' })],
      ['gallery page, min score 0.9 + unreviewed', () => repo.listInspections({ limit: 50, minScore: 0.9, reviewed: false })],
      ['gallery page 200 (cursor deep in the history)', () => deepPage(repo)],
    ];
    const whatIf = { recipe: 'plate', thresholds: { default: { minScore: 0.35 }, classes: {} }, keepFlips: 100 };
    const slow: [string, () => Promise<unknown>][] = [
      ['what-if, 1 hour, all stations', () => runWhatIf(repo, { ...whatIf, from: new Date(end.getTime() - HOUR), to: end })],
      ['what-if, 1 day, one station', () => runWhatIf(repo, { ...whatIf, station: 'station-1', from: ago(1), to: end })],
    ];
    const results: { path: string; p50: number; p95: number }[] = [];
    for (const [name, fn] of paths) results.push({ path: name, ...(await timed(o.runs, fn)) });
    for (const [name, fn] of slow) results.push({ path: name, ...(await timed(Math.min(3, o.runs), fn)) });
    o.onProgress?.(`${provider}: CSV downloads`);
    const csv = [
      { name: 'CSV, 1 day 10 days back', ...(await csvDownload(repo, { from: ago(Math.min(11, o.days)), to: ago(Math.min(10, o.days - 1)) })) },
      { name: `CSV, ${o.days} days (every part)`, ...(await csvDownload(repo, {}, 1_000_000)) },
    ];
    o.onProgress?.(`${provider}: the recorder's write path with and without the aggregates`);
    const recorder = await recorderWritePath(db, repo, outcomes, versions[0]);
    return {
      provider,
      days: o.days,
      rate: o.rate,
      stations: o.stations,
      inspections: parts,
      seedSeconds: Math.round(seedS),
      insertsPerS: Math.round(parts / seedS),
      databaseBytes: bytes,
      bytesPerInspection: Math.round(bytes / parts),
      paths: results,
      csv,
      recorder,
    };
  } finally {
    await db.$disconnect();
  }
}

/**
 * Where to seed by default: a SQLite file in the bench's folder and, when a PostgreSQL server
 * answers on PG_BENCH_URL (default the machine's, database test), a new database beside it.
 */
export async function defaultHistoryDatabases(dataDir: string, say: (s: string) => void): Promise<{ urls: string[]; drop: () => Promise<void> }> {
  const urls = [`file:${path.join(dataDir, 'history.db')}`];
  const admin = process.env.PG_BENCH_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';
  const name = `station_history_${process.pid}`;
  const c = new pg.Client({ connectionString: admin, connectionTimeoutMillis: 3000 });
  let created = false;
  try {
    await c.connect();
    await c.query(`CREATE DATABASE ${name}`);
    created = true;
    urls.push(admin.replace(/\/[^/?]+(\?|$)/, `/${name}$1`));
    say(`PostgreSQL: seeding the new database ${name} (dropped at the end)`);
  } catch (err) {
    say(`PostgreSQL skipped: ${(err as Error).message} (set PG_BENCH_URL, or pass --database)`);
  } finally {
    await c.end().catch(() => undefined);
  }
  const drop = async () => {
    if (!created) return;
    const d = new pg.Client({ connectionString: admin, connectionTimeoutMillis: 3000 });
    await d.connect();
    await d.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).finally(() => d.end());
  };
  return { urls, drop };
}
