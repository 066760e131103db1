import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { InspectionResult } from '../src/line/index.js';
import { readdirSync } from 'node:fs';
import { DiskImageStore, migrate, migrationsDir, openDatabase, Repository, Retention } from '../src/store/index.js';
import { freshPostgres, pgAvailable } from './helpers/pg.js';
import { tmpDir } from './helpers/tmp.js';

/** The repository tests run against both databases the station supports. */
const DATABASES = [
  { name: 'SQLite', url: async () => `file:${path.join(tmpDir(), 'station.db')}`, skip: false },
  { name: 'PostgreSQL', url: () => freshPostgres(), skip: !pgAvailable },
];

function result(seq: number, verdict: InspectionResult['verdict'], cls?: string): InspectionResult {
  return {
    seq,
    source: 'cam1',
    recipe: 'plate',
    recipeVersion: 1,
    modelSha256: null,
    timestamp: Date.UTC(2026, 10, 25, 8, 0, seq),
    decidedAt: Date.UTC(2026, 10, 25, 8, 0, seq) + 12,
    verdict,
    reasons: cls ? [{ rule: 'class', class: cls, score: 0.9, limit: 0.5 }] : [],
    defects: cls
      ? [
          { class: cls, score: 0.9, box: [1, 2, 3, 4], area: 4, rejecting: true },
          { class: 'spot', score: 0.2, box: [5, 5, 6, 6], area: 1, rejecting: false },
        ]
      : [],
    maxScore: cls ? 0.9 : 0,
    outputs: { kind: 'none' },
    timings: { queue: 1, preprocess: 2, inference: 5, decode: 0.1, decision: 0.01, total: 12 },
  };
}

describe('the SQLite store', () => {
  it('creates every table through the WebAssembly schema engine, once', async () => {
    const url = `file:${path.join(tmpDir(), 'a', 'station.db')}`;
    const committed = readdirSync(migrationsDir('sqlite'), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
    expect(committed[0]).toMatch(/_init$/);
    expect(await migrate(url)).toEqual(committed);
    expect(await migrate(url)).toEqual([]);
    const db = new Database(url.slice(5));
    const tables = db
      .prepare("select name from sqlite_master where type='table' order by name")
      .all()
      .map((r) => (r as { name: string }).name);
    db.close();
    expect(tables).toEqual(
      expect.arrayContaining([
        'Defect',
        'Image',
        'Inspection',
        'Model',
        'Recipe',
        'RecipeVersion',
        'Station',
        'User',
        'Session',
        'ApiKey',
        'Review',
        'AuditLog',
        'Reinference',
        'ReinferenceResult',
        '_prisma_migrations',
      ]),
    );
  });

  it('an image write whose station is gone (the encoder outlived a killed station) leaves no file for the next life to miss', async () => {
    const root = tmpDir();
    const image = { kind: 'raw' as const, format: 'Mono8' as const, width: 64, height: 48, data: new Uint8Array(64 * 48).fill(128) };
    let alive = true;
    const store = new DiskImageStore(root, () => alive);
    expect((await store.write('s1', { ...result(1, 'fail', 'scratch'), image })).map((i) => i.variant)).toEqual(['original', 'overlay', 'thumb']);
    alive = false;
    await expect(store.write('s1', { ...result(2, 'fail', 'scratch'), image })).rejects.toMatchObject({ code: 'STN_ERR_STORE_WRITE' });
    const files = readdirSync(root, { recursive: true, withFileTypes: true }).filter((d) => d.isFile());
    expect(files.map((f) => f.name).sort()).toEqual(expect.arrayContaining([expect.stringMatching(/-1-original\.png$/)]));
    expect(files).toHaveLength(3);
  });

  it('refuses a DATABASE_URL it does not know with STN_ERR_STORE_URL', async () => {
    await expect(openDatabase('mysql://root@localhost/x')).rejects.toMatchObject({ code: 'STN_ERR_STORE_URL' });
  });
});

describe.each(DATABASES)('the repository on $name', ({ url, skip }) => {
  it.skipIf(skip)('versions a recipe only when its definition changes', async () => {
    const db = await openDatabase(await url());
    const repo = new Repository(db);
    const a = await repo.ensureRecipeVersion('plate', { model: 'm', thresholds: { default: { minScore: 0.5 } } }, 'me', 'first');
    const b = await repo.ensureRecipeVersion('plate', { thresholds: { default: { minScore: 0.5 } }, model: 'm' }, 'me', 'same, keys reordered');
    const c = await repo.ensureRecipeVersion('plate', { model: 'm', thresholds: { default: { minScore: 0.6 } } }, 'me', 'stricter');
    expect([a.version, b.version, c.version]).toEqual([1, 1, 2]);
    expect(b.id).toBe(a.id);
    await db.$disconnect();
  });

  it.skipIf(skip)('records inspections with defects and lists them newest first with filters and a cursor', async () => {
    const db = await openDatabase(await url());
    const repo = new Repository(db);
    await repo.ensureStation({ id: 's1', name: '', line: '', site: '' });
    for (let i = 1; i <= 7; i++)
      await repo.insertInspection(
        's1',
        result(i, i % 3 === 0 ? 'fail' : 'pass', i % 3 === 0 ? 'scratch' : undefined),
        { modelId: null, recipeVersionId: null },
        [],
      );
    await repo.insertInspection('s1', result(8, 'uninspected'), { modelId: null, recipeVersionId: null }, []);

    const page1 = await repo.listInspections({ limit: 3 });
    expect(page1.items.map((i) => i.partSeq)).toEqual([8, 7, 6]);
    const page2 = await repo.listInspections({ limit: 3, cursor: page1.nextCursor! });
    expect(page2.items.map((i) => i.partSeq)).toEqual([5, 4, 3]);
    const page3 = await repo.listInspections({ limit: 3, cursor: page2.nextCursor! });
    expect(page3.items.map((i) => i.partSeq)).toEqual([2, 1]);
    expect(page3.nextCursor).toBeNull();

    const failed = await repo.listInspections({ limit: 10, verdict: 'fail' });
    expect(failed.items.map((i) => i.partSeq)).toEqual([6, 3]);
    expect(failed.items[0].defects).toEqual([{ class: 'scratch', score: 0.9, rejecting: true, area: 4, box: [1, 2, 3, 4] }]);
    expect((await repo.listInspections({ limit: 10, class: 'scratch' })).items).toHaveLength(2);
    expect((await repo.listInspections({ limit: 10, class: 'spot' })).items).toHaveLength(0);
    const window = await repo.listInspections({ limit: 10, from: new Date(Date.UTC(2026, 10, 25, 8, 0, 3)), to: new Date(Date.UTC(2026, 10, 25, 8, 0, 5)) });
    expect(window.items.map((i) => i.partSeq)).toEqual([4, 3]);

    for (const cursor of ['12', '1764057600000_3000000000', '999999999999999_1'])
      await expect(repo.listInspections({ limit: 3, cursor })).rejects.toMatchObject({ code: 'STN_ERR_HTTP_BAD_REQUEST' });

    const one = await repo.getInspection(failed.items[0].id);
    expect(one).toMatchObject({
      verdict: 'fail',
      partSeq: 6,
      timings: { inference: 5 },
      defects: expect.arrayContaining([expect.objectContaining({ class: 'spot', rejecting: false })]),
    });
    expect(await repo.getInspection(9999)).toBeNull();
    await db.$disconnect();
  });

  it.skipIf(skip)(
    'pages by capture time: a record written late (a replayed spool) sits where it was captured, and parts captured in the same millisecond are neither lost nor repeated',
    async () => {
      const db = await openDatabase(await url());
      const repo = new Repository(db);
      await repo.ensureStation({ id: 's1', name: '', line: '', site: '' });
      const refs = { modelId: null, recipeVersionId: null };
      const at = (seq: number, ms: number) => ({ ...result(seq, seq % 2 ? 'fail' : 'pass', seq % 2 ? 'scratch' : undefined), timestamp: ms });
      const t0 = Date.UTC(2026, 10, 25, 9);
      // Seconds 0..9, three parts in each of seconds 4 and 7; then a part captured at 2.5 s written last.
      const parts = [0, 1, 2, 3, 4, 4, 4, 5, 6, 7, 7, 7, 8, 9].map((s, i) => at(i + 1, t0 + s * 1000));
      for (const p of parts) await repo.insertInspection('s1', p, refs, []);
      await repo.insertInspection('s1', at(99, t0 + 2500), refs, []);

      const walk = async (f: { limit: number; from?: Date; to?: Date; verdict?: 'fail' }) => {
        const seen: { seq: number; at: string }[] = [];
        for (let cursor: string | undefined; ; ) {
          const page = await repo.listInspections({ ...f, cursor });
          seen.push(...page.items.map((i) => ({ seq: i.partSeq, at: i.capturedAt })));
          if (page.nextCursor === null) return seen;
          cursor = page.nextCursor;
        }
      };
      const all = await walk({ limit: 2 });
      expect(all).toHaveLength(15);
      expect(new Set(all.map((r) => r.seq)).size).toBe(15);
      expect(all.map((r) => r.at)).toEqual([...all.map((r) => r.at)].sort().reverse());
      // The late part is listed between seconds 3 and 2, not first.
      expect(all.findIndex((r) => r.seq === 99)).toBe(all.findIndex((r) => r.seq === 3) - 1);
      // A range and a verdict, one part a page: the same rows as one big page.
      const range = { from: new Date(t0 + 2000), to: new Date(t0 + 8000) };
      const onePerPage = await walk({ limit: 1, ...range, verdict: 'fail' });
      expect(onePerPage).toEqual(await walk({ limit: 100, ...range, verdict: 'fail' }));
      expect(onePerPage.map((r) => r.seq).sort((a, b) => a - b)).toEqual([3, 5, 7, 9, 11, 99]);
      await db.$disconnect();
    },
  );

  it.skipIf(skip)(
    'records retention deletes old records with their findings and reviews, only its own station, and the statistics still count them',
    async () => {
      const db = await openDatabase(await url());
      const repo = new Repository(db);
      await repo.ensureStation({ id: 's1', name: '', line: '', site: '' });
      await repo.ensureStation({ id: 's2', name: '', line: '', site: '' });
      const day = 86_400_000;
      const now = Date.now();
      const at = (seq: number, ageDays: number, verdict: InspectionResult['verdict'], cls?: string) => ({
        ...result(seq, verdict, cls),
        timestamp: now - ageDays * day,
        decidedAt: now - ageDays * day + 12,
      });
      const refs = { modelId: null, recipeVersionId: null };
      const old = [await repo.insertInspection('s1', at(1, 40, 'fail', 'scratch'), refs, []), await repo.insertInspection('s1', at(2, 35, 'pass'), refs, [])];
      await repo.insertInspection('s1', at(3, 2, 'pass'), refs, []);
      await repo.insertInspection('s2', at(4, 40, 'pass'), refs, []);
      const user = await db.user.create({ data: { username: 'q', role: 'quality', passwordHash: 'x' } });
      await repo.addReview(old[0], user.id, { label: 'false_reject' });
      const before = await repo.yieldStats('day', new Date(now - 60 * day), new Date(now + 60_000), { station: 's1' });

      const images = new DiskImageStore(tmpDir());
      const retention = new Retention(repo, images, {
        stationId: 's1',
        maxAgeDays: 90,
        keepReviewedDays: 730,
        recordsDays: 30,
        minFreeBytes: 0,
        intervalMs: 3_600_000,
      });
      await retention.sweep();
      expect(retention.counters).toMatchObject({ recordsDeleted: 2, errors: 0 });
      expect((await db.inspection.findMany({ orderBy: { partSeq: 'asc' }, select: { partSeq: true } })).map((r) => Number(r.partSeq))).toEqual([3, 4]);
      expect(await db.defect.count({ where: { inspectionId: { in: old } } })).toBe(0);
      expect(await db.review.count()).toBe(0);
      // The hourly aggregates keep the deleted parts: last month's yield is what it was.
      expect(await repo.yieldStats('day', new Date(now - 60 * day), new Date(now + 60_000), { station: 's1' })).toEqual(before);
      await db.$disconnect();
    },
  );

  it.skipIf(skip)('adds batch after batch into one aggregate row per hour and score bin, which a review then finds', async () => {
    const db = await openDatabase(await url());
    const repo = new Repository(db);
    await repo.ensureStation({ id: 's1', name: '', line: '', site: '' });
    const refs = { modelId: null, recipeVersionId: null };
    const batch = (seqs: number[]) => seqs.map((i) => ({ r: result(i, i % 2 ? 'fail' : 'pass', i % 2 ? 'scratch' : undefined), refs, images: [] }));
    const ids = await repo.insertInspections('s1', batch([1, 2, 3]));
    await repo.insertInspections('s1', batch([4, 5]));
    await repo.insertInspection('s1', result(6, 'uninspected'), refs, []);
    const hours = await db.statHour.findMany({ where: { stationId: 's1' } });
    expect(hours).toHaveLength(1);
    expect(hours[0]).toMatchObject({ hour: new Date(Date.UTC(2026, 10, 25, 8)), parts: 6, pass: 2, fail: 3, uninspected: 1 });
    // Each fail has a rejecting scratch at 0.9 and a spot at 0.2: one row per class and bin, counts summed.
    const bins = await db.statScoreHour.findMany({ where: { stationId: 's1' }, orderBy: { class: 'asc' } });
    expect(bins.map((b) => [b.class, b.bin, b.findings, b.rejecting])).toEqual([
      ['scratch', 90, 3, 3],
      ['spot', 20, 3, 0],
    ]);
    // A review's correction lands on the row the upserts wrote (the keys are spelt alike).
    const user = await db.user.create({ data: { username: 'q', role: 'quality', passwordHash: 'x' } });
    await repo.addReview(ids[0], user.id, { label: 'false_reject' });
    expect(await db.statHour.findMany({ where: { stationId: 's1' } })).toMatchObject([{ parts: 6, falseRejects: 1 }]);
    await db.$disconnect();
  });

  it.skipIf(skip)('batches, statistics, what-if scans, reviews and image retention queries work the same', async () => {
    const db = await openDatabase(await url());
    const repo = new Repository(db);
    await repo.ensureStation({ id: 's1', name: '', line: 'l1', area: 'a1', site: 'p1' });
    await repo.ensureStation({ id: 's2', name: '', line: 'l2', site: 'p1' });
    const images = (seq: number) => [{ variant: 'thumb' as const, path: `s1/${seq}-thumb.jpg`, mime: 'image/jpeg', width: 4, height: 4, bytes: 100 }];
    const ids = await repo.insertInspections(
      's1',
      [1, 2, 3, 4].map((i) => ({
        r: { ...result(i, i % 2 ? 'fail' : 'pass', i % 2 ? 'scratch' : undefined), truth: { defective: i % 2 === 1, defects: [] } },
        refs: { modelId: null, recipeVersionId: null },
        images: images(i),
      })),
    );
    expect(ids).toHaveLength(4);
    await repo.insertInspection('s2', result(1, 'fail', 'dent'), { modelId: null, recipeVersionId: null }, []);
    // The same part sequence twice on one station is refused by its unique key.
    await expect(repo.insertInspection('s1', result(1, 'fail', 'scratch'), { modelId: null, recipeVersionId: null }, [])).rejects.toMatchObject({
      code: 'P2002',
    });
    const user = await db.user.create({ data: { username: 'q', role: 'quality', passwordHash: 'x' } });
    await repo.addReview(ids[1], user.id, { label: 'escape', class: 'scratch' });

    const rows: { id: number; label: unknown }[] = [];
    await repo.scanForWhatIf({ recipe: 'plate', station: 's1' }, (chunk) => rows.push(...chunk.map((r) => ({ id: r.id, label: r.label }))), 2);
    expect(rows.map((r) => r.id)).toEqual(ids);
    expect(rows[1].label).toEqual({ defective: true, classes: ['scratch'], source: 'review' });
    expect(rows[0].label).toMatchObject({ defective: true, source: 'truth' });
    // A window includes its start and excludes its end, to the millisecond; a line is its stations.
    const ranged: number[] = [];
    const window = { recipe: 'plate', line: 'l1', from: new Date(Date.UTC(2026, 10, 25, 8, 0, 2)), to: new Date(Date.UTC(2026, 10, 25, 8, 0, 4)) };
    await repo.scanForWhatIf(window, (chunk) => ranged.push(...chunk.map((r) => r.id)), 1);
    expect(ranged).toEqual([ids[1], ids[2]]);
    const none: number[] = [];
    await repo.scanForWhatIf({ ...window, line: 'no such line' }, (chunk) => none.push(...chunk.map((r) => r.id)));
    expect(none).toEqual([]);

    expect((await repo.yieldStats('hour', new Date(0), new Date(Date.UTC(2030, 0)))).reduce((a, b) => a + b.parts, 0)).toBe(5);
    expect(await repo.pareto(new Date(0), new Date(Date.UTC(2030, 0)))).toEqual([
      { class: 'scratch', count: 2, share: 0.6667, cumulative: 0.6667 },
      { class: 'dent', count: 1, share: 0.3333, cumulative: 1 },
    ]);
    expect((await repo.listInspections({ limit: 10, station: 's2' })).items).toHaveLength(1);
    expect((await repo.listInspections({ limit: 10, line: 'l1' })).items).toHaveLength(4);

    expect(await repo.imageBytes('s1')).toBe(400);
    const oldest = await repo.oldestImageSets('s1', 2, { reviewed: false });
    expect(oldest.map((o) => o.inspectionId)).toEqual([ids[0], ids[2]]);
    expect(await repo.oldestImageSets('s2', 5, { reviewed: false })).toEqual([]);
    await repo.deleteImagesOf(oldest.map((o) => o.inspectionId));
    expect(await repo.imageBytes('s1')).toBe(200);
    expect(await repo.countInspections()).toBe(5);
    await db.$disconnect();
  });
});
