/**
 * Statistics from the hourly aggregates (issue #17): yield, Pareto, score histograms and the
 * per-station figures read StatHour / StatScoreHour for whole hours and the records for a window's
 * partial ends. Each answer is compared with a direct count over every record (the way they were
 * computed before the aggregates), on SQLite and on PostgreSQL, after reviews change labels and
 * after a duplicate batch was refused.
 */
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { InspectionResult } from '../src/line/protocol.js';
import { openDatabase, Repository, type Db, type Scope } from '../src/store/index.js';
import { bucketOf } from '../src/store/repository.js';
import { freshPostgres, pgAvailable } from './helpers/pg.js';
import { tmpDir } from './helpers/tmp.js';

const T0 = Date.parse('2026-11-30T05:20:00.000Z'); // a shift boundary (06:00) and a day's hours ahead
const CLASSES = ['scratch', 'dent', 'hole'];

/** A seeded generator, so a failure names the same parts each run. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
}

/** 1 500 parts over about five hours from two stations, a fifth rejected, findings with scores on [0, 1]. */
function parts(): { station: string; r: InspectionResult }[] {
  const rand = rng(17);
  const out: { station: string; r: InspectionResult }[] = [];
  for (let i = 0; i < 1500; i++) {
    const station = i % 3 === 0 ? 's2' : 's1';
    const t = T0 + Math.floor(i * 12_345 + rand() * 5_000);
    const defects = Array.from({ length: Math.floor(rand() * 3) }, () => {
      const score = rand() < 0.05 ? [0, 0.5, 0.99999, 1][Math.floor(rand() * 4)] : rand();
      return { class: CLASSES[Math.floor(rand() * 3)], score, rejecting: score >= 0.5 };
    });
    const u = rand();
    const verdict = u < 0.02 ? 'uninspected' : defects.some((d) => d.rejecting) ? 'fail' : 'pass';
    out.push({
      station,
      r: {
        seq: i,
        source: 'cam',
        recipe: i % 5 === 0 ? 'other' : 'plate',
        recipeVersion: 1,
        modelSha256: null,
        timestamp: t,
        decidedAt: t + 12,
        verdict,
        reasons: [],
        defects,
        maxScore: Math.max(0, ...defects.map((d) => d.score)),
        outputs: { kind: 'detections', n: defects.length } as unknown as InspectionResult['outputs'],
        timings: { queue: 1, preprocess: 2, inference: 5, decode: 0.1, decision: 0.01, total: 12 },
      },
    });
  }
  return out;
}

const refs = { modelId: null, recipeVersionId: null };

/** Records the parts as the recorder does (batches of 32, a few one by one), then reviews some of them, some twice. */
async function fill(repo: Repository, db: Db): Promise<void> {
  await repo.ensureStation({ id: 's1', name: 's1', line: 'L1', site: 'plant' });
  await repo.ensureStation({ id: 's2', name: 's2', line: 'L2', site: 'plant' });
  const all = parts();
  for (const station of ['s1', 's2']) {
    const mine = all.filter((p) => p.station === station).map((p) => ({ r: p.r, refs, images: [] }));
    for (let i = 0; i < mine.length; i += 32) {
      const batch = mine.slice(i, i + 32);
      if (i % 320 === 0) for (const b of batch) await repo.insertInspection(station, b.r, b.refs, b.images);
      else await repo.insertInspections(station, batch);
    }
  }
  const user = await db.user.create({ data: { username: 'qa', role: 'quality', passwordHash: 'x' } });
  const rand = rng(5);
  const labels = ['confirmed', 'false_reject', 'escape'];
  const ids = (await db.inspection.findMany({ select: { id: true }, orderBy: { id: 'asc' } })).map((r) => r.id);
  for (const id of ids) {
    if (rand() > 0.15) continue;
    const times = rand() < 0.3 ? 2 : 1; // a second review changes the part's label (or keeps it)
    for (let k = 0; k < times; k++) await repo.addReview(id, user.id, { label: labels[Math.floor(rand() * 3)] });
  }
}

/**
 * Every record of the window, counted directly: what the statistics must equal. Read without
 * relation includes: Prisma turns those into one parameter per parent row, more than SQLite
 * takes beyond about a thousand rows (the 500 that #17 found).
 */
async function direct(db: Db, from: Date, to: Date, scope: Scope) {
  const stationWhere = scope.station ? { stationId: scope.station } : scope.line ? { station: { line: scope.line } } : {};
  const where = { capturedAt: { gte: from, lt: to }, ...stationWhere };
  const rows = await db.inspection.findMany({ where, select: { id: true, capturedAt: true, stationId: true, verdict: true }, orderBy: { capturedAt: 'asc' } });
  const defects = await db.defect.findMany({ where: { inspection: where }, select: { inspectionId: true, class: true, score: true, rejecting: true } });
  const latest = new Map<number, string>();
  for (const r of await db.review.findMany({ where: { inspection: where }, orderBy: { id: 'asc' }, select: { inspectionId: true, label: true } }))
    latest.set(r.inspectionId, r.label);
  return rows.map((r) => ({
    ...r,
    defects: defects.filter((d) => d.inspectionId === r.id),
    reviews: latest.has(r.id) ? [{ label: latest.get(r.id)! }] : [],
  }));
}

type Rows = Awaited<ReturnType<typeof direct>>;

function expectedYield(rows: Rows, bucket: 'hour' | 'shift' | 'day') {
  const m = new Map<
    string,
    { start: string; shift?: string; parts: number; pass: number; fail: number; uninspected: number; falseRejects: number; escapes: number; confirmed: number }
  >();
  for (const r of rows) {
    const at = bucketOf(r.capturedAt, bucket);
    const start = at.start.toISOString();
    let b = m.get(start);
    if (!b) m.set(start, (b = { start, shift: at.shift, parts: 0, pass: 0, fail: 0, uninspected: 0, falseRejects: 0, escapes: 0, confirmed: 0 }));
    b.parts++;
    b[r.verdict as 'pass']++;
    const l = r.reviews[0]?.label;
    if (l === 'false_reject') b.falseRejects++;
    if (l === 'escape') b.escapes++;
    if (l === 'confirmed') b.confirmed++;
  }
  const r4 = (x: number) => Math.round(x * 1e4) / 1e4;
  return [...m.values()].map((b) => ({
    ...b,
    yield: r4(b.pass / b.parts),
    rejectRate: r4((b.fail + b.uninspected) / b.parts),
    reviewedYield: r4((b.pass - b.escapes + b.falseRejects) / b.parts),
  }));
}

function expectedHistograms(rows: Rows, bins: number) {
  const m = new Map<string, { class: string; counts: number[]; rejecting: number[] }>();
  for (const d of rows.flatMap((r) => r.defects)) {
    let h = m.get(d.class);
    if (!h) m.set(d.class, (h = { class: d.class, counts: new Array(bins).fill(0), rejecting: new Array(bins).fill(0) }));
    const b = Math.min(bins - 1, Math.floor(d.score * bins));
    h.counts[b]++;
    if (d.rejecting) h.rejecting[b]++;
  }
  return [...m.values()].sort((a, b) => a.class.localeCompare(b.class));
}

function expectedPareto(rows: Rows) {
  const m = new Map<string, number>();
  for (const d of rows.flatMap((r) => r.defects)) if (d.rejecting) m.set(d.class, (m.get(d.class) ?? 0) + 1);
  return [...m].map(([c, n]) => ({ class: c, count: n })).sort((a, b) => b.count - a.count || a.class.localeCompare(b.class));
}

function expectedStations(rows: Rows) {
  const m = new Map<string, { station: string; parts: number; pass: number; fail: number; uninspected: number }>();
  for (const r of rows) {
    let s = m.get(r.stationId);
    if (!s) m.set(r.stationId, (s = { station: r.stationId, parts: 0, pass: 0, fail: 0, uninspected: 0 }));
    s.parts++;
    s[r.verdict as 'pass']++;
  }
  return [...m.values()].sort((a, b) => a.station.localeCompare(b.station));
}

const at = (iso: string) => new Date(iso);
/** Windows: whole hours; both ends inside an hour; inside one hour; across a day; after the data; empty. */
const WINDOWS: [string, Date, Date][] = [
  ['whole hours', at('2026-11-30T05:00:00Z'), at('2026-11-30T11:00:00Z')],
  ['partial first and last hours', at('2026-11-30T05:47:13.250Z'), at('2026-11-30T09:05:51.999Z')],
  ['inside one hour', at('2026-11-30T07:10:00Z'), at('2026-11-30T07:50:00Z')],
  ['two partial hours, no whole one', at('2026-11-30T07:30:00Z'), at('2026-11-30T08:30:00Z')],
  ['beyond the data', at('2026-11-30T12:00:00Z'), at('2026-11-30T13:00:00Z')],
];
const SCOPES: Scope[] = [{}, { station: 's1' }, { line: 'L2' }, { line: 'nowhere' }];

function suite(name: string, url: () => Promise<string>) {
  describe(name, () => {
    let db: Db;
    let repo: Repository;
    beforeAll(async () => {
      db = await openDatabase(await url());
      repo = new Repository(db);
      await fill(repo, db);
    }, 120_000);

    it('keeps one aggregate row per hour × station × recipe, counting every recorded part and each part’s latest review once', async () => {
      const rows = await db.statHour.findMany();
      expect(rows.reduce((a, r) => a + r.parts, 0)).toBe(1500);
      expect(rows.length).toBeLessThan(40);
      const reviewedParts = await db.inspection.count({ where: { reviews: { some: {} } } });
      expect(rows.reduce((a, r) => a + r.confirmed + r.falseRejects + r.escapes, 0)).toBe(reviewedParts);
    });

    it('a duplicate batch is refused whole: the aggregates do not count it twice', async () => {
      const before = await db.statHour.aggregate({ _sum: { parts: true } });
      const again = parts()
        .filter((p) => p.station === 's1')
        .slice(0, 5)
        .map((p) => ({ r: p.r, refs, images: [] }));
      await expect(repo.insertInspections('s1', again)).rejects.toMatchObject({ code: 'P2002' });
      expect(await db.statHour.aggregate({ _sum: { parts: true } })).toEqual(before);
    });

    for (const [label, from, to] of WINDOWS) {
      for (const scope of SCOPES) {
        it(`equal a direct count of the records: ${label}, scope ${JSON.stringify(scope)}`, async () => {
          const rows = await direct(db, from, to, scope);
          for (const bucket of ['hour', 'shift', 'day'] as const)
            expect(await repo.yieldStats(bucket, from, to, scope), bucket).toEqual(expectedYield(rows, bucket));
          for (const bins of [20, 100, 4])
            expect((await repo.scoreHistograms(from, to, bins, scope)).classes, `bins ${bins}`).toEqual(expectedHistograms(rows, bins));
          expect((await repo.pareto(from, to, scope)).map((p) => ({ class: p.class, count: p.count }))).toEqual(expectedPareto(rows));
          expect(
            (await repo.stationStats(from, to, scope)).map(({ station, parts, pass, fail, uninspected }) => ({ station, parts, pass, fail, uninspected })),
          ).toEqual(expectedStations(rows));
        });
      }
    }

    it('a review that changes a part’s label moves its hour’s counters: yield corrected at once', async () => {
      const from = at('2026-11-30T06:00:00Z'),
        to = at('2026-11-30T07:00:00Z');
      const part = await db.inspection.findFirstOrThrow({ where: { capturedAt: { gte: from, lt: to }, verdict: 'fail', reviews: { none: {} } } });
      const user = await db.user.findFirstOrThrow();
      const [before] = await repo.yieldStats('hour', from, to);
      await repo.addReview(part.id, user.id, { label: 'false_reject' });
      await repo.addReview(part.id, user.id, { label: 'false_reject' }); // the same label again: counted once
      const [after] = await repo.yieldStats('hour', from, to);
      expect(after.falseRejects).toBe(before.falseRejects + 1);
      await repo.addReview(part.id, user.id, { label: 'confirmed' });
      const [last] = await repo.yieldStats('hour', from, to);
      expect([last.falseRejects, last.confirmed]).toEqual([before.falseRejects, before.confirmed + 1]);
      expect(last).toEqual(expectedYield(await direct(db, from, to, {}), 'hour')[0]);
    });

    it('reviews of one part sent at once (two reviewers, a form sent twice) move its counters as often as its latest label changed: once', async () => {
      const from = at('2026-11-30T09:00:00Z'),
        to = at('2026-11-30T10:00:00Z');
      const part = await db.inspection.findFirstOrThrow({ where: { capturedAt: { gte: from, lt: to }, reviews: { none: {} } } });
      const user = await db.user.findFirstOrThrow();
      await Promise.all(
        ['escape', 'confirmed', 'false_reject', 'escape', 'confirmed', 'false_reject'].map((label) => repo.addReview(part.id, user.id, { label })),
      );
      expect(await repo.yieldStats('hour', from, to)).toEqual(expectedYield(await direct(db, from, to, {}), 'hour'));
    });

    it('refuses a bin count that does not divide the aggregates’ 100 bins', async () => {
      await expect(repo.scoreHistograms(WINDOWS[0][1], WINDOWS[0][2], 7)).rejects.toMatchObject({ code: 'STN_ERR_HTTP_BAD_REQUEST' });
    });
  });
}

suite('statistics from hourly aggregates on SQLite', async () => `file:${path.join(tmpDir(), 'stats.db')}`);
describe.skipIf(!pgAvailable)('PostgreSQL', () => suite('statistics from hourly aggregates on PostgreSQL', () => freshPostgres('stats')));

describe('station bench history', () => {
  it('seeds a history whose aggregates equal a direct count, and times every read path on it', async () => {
    const dir = tmpDir();
    const url = `file:${path.join(dir, 'history.db')}`;
    const { runHistoryBench } = await import('../src/cli/bench-history.js');
    const { pino } = await import('pino');
    // 3 stations × 2 parts/s × 1.2 hours
    const r = await runHistoryBench({ url, days: 0.05, rate: 2, stations: 3, dataDir: dir, log: pino({ level: 'silent' }), runs: 2, sampleParts: 60 });
    expect(r.inspections).toBe(25_920);
    expect(r.paths.length).toBeGreaterThan(10);
    for (const p of r.paths) expect(p.p95, p.path).toBeGreaterThanOrEqual(p.p50);
    expect(r.bytesPerInspection).toBeGreaterThan(100);
    expect(r.recorder.withAggregatesPerS).toBeGreaterThan(0);
    expect(r.recorder.withoutPerS).toBeGreaterThan(0);
    const db = await openDatabase(url);
    try {
      const repo = new Repository(db);
      // The history ends on the last full hour and covers the 1.2 hours before it.
      const end = Math.floor(Date.now() / 3600_000) * 3600_000;
      for (const [from, to, scope] of [
        [new Date(end - 3 * 3600_000), new Date(end + 3600_000), {}],
        [new Date(end - 0.9 * 3600_000 - 7 * 60_000), new Date(end), { line: 'L1' }],
        [new Date(end - 1.1 * 3600_000), new Date(end - 0.3 * 3600_000), { station: 'station-3' }],
      ] as [Date, Date, Scope][]) {
        const rows = await direct(db, from, to, scope);
        expect(rows.length).toBeGreaterThan(0);
        expect(await repo.yieldStats('hour', from, to, scope)).toEqual(expectedYield(rows, 'hour'));
        expect((await repo.scoreHistograms(from, to, 10, scope)).classes).toEqual(expectedHistograms(rows, 10));
      }
    } finally {
      await db.$disconnect();
    }
  }, 120_000);
});
