/**
 * PostgreSQL's records by month (issue #17, item 5): each record in its capture month's partition,
 * a month made when a record needs it, windows that read only their months, and records retention
 * that drops a month whole once every station sharing the database is done with it.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { InspectionResult } from '../src/line/index.js';
import { type Db, DiskImageStore, openDatabase, Repository, Retention, type StoredImage } from '../src/store/index.js';
import { freshPostgres, pgAvailable } from './helpers/pg.js';
import { tmpDir } from './helpers/tmp.js';

const DAY = 86_400_000;
const refs = { modelId: null, recipeVersionId: null };

function part(seq: number, at: number, verdict: InspectionResult['verdict']): InspectionResult {
  const cls = verdict === 'fail' ? 'scratch' : undefined;
  return {
    seq,
    source: 'cam1',
    recipe: 'plate',
    recipeVersion: 1,
    modelSha256: null,
    timestamp: at,
    decidedAt: at + 12,
    verdict,
    reasons: cls ? [{ rule: 'class', class: cls, score: 0.9, limit: 0.5 }] : [],
    defects: cls ? [{ class: cls, score: 0.9, box: [1, 2, 3, 4], area: 4, rejecting: true }] : [],
    maxScore: cls ? 0.9 : 0,
    outputs: { kind: 'none' },
    timings: { queue: 1, preprocess: 2, inference: 5, decode: 0.1, decision: 0.01, total: 12 },
  };
}

/** The partitions of a record table, by name. */
async function partitionsOf(db: Db, table: string): Promise<string[]> {
  const rows = await db.$queryRawUnsafe<{ name: string }[]>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass ORDER BY 1`,
    `"${table}"`,
  );
  return rows.map((r) => r.name);
}

/** Which partition holds each row of a table, with how many. */
async function whereRows(db: Db, table: string): Promise<Record<string, number>> {
  const rows = await db.$queryRawUnsafe<{ p: string; n: number }[]>(`SELECT tableoid::regclass::text AS p, count(*)::int AS n FROM "${table}" GROUP BY 1`);
  return Object.fromEntries(rows.map((r) => [r.p.replaceAll('"', ''), r.n]));
}

const suffix = (ms: number) => new Date(ms).toISOString().slice(0, 7).replace('-', '_');

describe.skipIf(!pgAvailable)('records by month on PostgreSQL', () => {
  it('writes each record with its findings and review into its capture month, makes a missing month on the way, and a window reads only its months', async () => {
    const db = await openDatabase(await freshPostgres('months'));
    try {
      const repo = new Repository(db);
      await repo.ensureStation({ id: 's1', name: '', line: '', site: '' });
      const now = Date.now();
      // a camera whose clock was never set: a month nobody made ahead
      const old = Date.UTC(2019, 2, 15, 10);
      const ids = await repo.insertInspections('s1', [
        { r: part(1, now, 'fail'), refs, images: [] },
        { r: part(2, now - 70 * DAY, 'fail'), refs, images: [] },
        { r: part(3, old, 'fail'), refs, images: [] },
      ]);
      const user = await db.user.create({ data: { username: 'q', role: 'quality', passwordHash: 'x' } });
      await repo.addReview(ids[2], user.id, { label: 'confirmed' });

      const months = [suffix(old), suffix(now - 70 * DAY), suffix(now)];
      expect(await whereRows(db, 'Inspection')).toEqual(Object.fromEntries(months.map((m) => [`Inspection_${m}`, 1])));
      expect(await whereRows(db, 'Defect')).toEqual(Object.fromEntries(months.map((m) => [`Defect_${m}`, 1])));
      expect(await whereRows(db, 'Review')).toEqual({ [`Review_${suffix(old)}`]: 1 });
      for (const t of ['Inspection', 'Defect', 'Image', 'Review', 'ReinferenceResult']) expect(await partitionsOf(db, t)).toContain(`${t}_${suffix(old)}`);
      // the month of start-up and the next are made ahead
      expect(await partitionsOf(db, 'Inspection')).toContain(`Inspection_${suffix(now + 31 * DAY)}`);

      // A window inside one month plans only that month's partition.
      const from = new Date(Date.UTC(2019, 2, 1));
      const to = new Date(Date.UTC(2019, 2, 20));
      const plan = (
        await db.$queryRawUnsafe<{ 'QUERY PLAN': string }[]>(
          `EXPLAIN SELECT count(*) FROM "Inspection" WHERE "capturedAt" >= $1::timestamp AND "capturedAt" < $2::timestamp`,
          from.toISOString().replace('Z', ''),
          to.toISOString().replace('Z', ''),
        )
      )
        .map((r) => r['QUERY PLAN'])
        .join('\n');
      expect(plan).toContain(`Inspection_${suffix(old)}`);
      expect(plan).not.toContain(`Inspection_${suffix(now)}`);
      // and the repository's listing of that window finds the record with its findings
      const page = await repo.listInspections({ from, to, limit: 10 });
      expect(page.items.map((i) => i.id)).toEqual([ids[2]]);
      expect((await repo.getInspection(ids[2]))?.defects).toHaveLength(1);
    } finally {
      await db.$disconnect();
    }
  });

  it('writes a record into a month another station dropped since this one made sure of it', async () => {
    const url = await freshPostgres('months_dropped');
    const a = await openDatabase(url);
    const b = await openDatabase(url);
    try {
      const ra = new Repository(a);
      const rb = new Repository(b);
      await ra.ensureStation({ id: 's1', name: '', line: '', site: '', recordsDays: 30 });
      const old = Date.UTC(2020, 5, 10);
      await ra.insertInspection('s1', part(1, old, 'pass'), refs, []);
      const month = (await rb.months!.list()).find((m) => m.month === '2020-06')!;
      expect(await rb.months!.drop(month, Date.now(), 'test')).toEqual({ dropped: 1 });
      expect(await partitionsOf(a, 'Inspection')).not.toContain('Inspection_2020_06');
      // station a still believes June 2020 exists: its write finds out, makes the month again, and lands
      const id = await ra.insertInspection('s1', part(2, old, 'fail'), refs, []);
      expect(await whereRows(a, 'Inspection')).toMatchObject({ Inspection_2020_06: 1 });
      expect((await ra.getInspection(id))?.verdict).toBe('fail');
    } finally {
      await a.$disconnect();
      await b.$disconnect();
    }
  });

  it('records retention drops a month whole, images first, once it is past every station’s recordsDays; until then each station deletes its own records of it', async () => {
    const db = await openDatabase(await freshPostgres('months_retention'));
    try {
      const repo = new Repository(db);
      await repo.ensureStation({ id: 's1', name: '', line: '', site: '', recordsDays: 30 });
      // s2 keeps its records for ever (no recordsDays): the month stays for it
      await repo.ensureStation({ id: 's2', name: '', line: '', site: '' });
      const now = Date.now();
      const t = Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth() - 3, 10); // the 10th, three months back
      const root = tmpDir();
      const images = new DiskImageStore(root);
      const stored: StoredImage[] = ['original', 'thumb'].map((variant) => ({
        variant: variant as StoredImage['variant'],
        path: `s1/old-${variant}.jpg`,
        mime: 'image/jpeg',
        width: 8,
        height: 8,
        bytes: 100,
      }));
      mkdirSync(path.join(root, 's1'), { recursive: true });
      for (const s of stored) writeFileSync(path.join(root, s.path), Buffer.alloc(100));
      await repo.insertInspections('s1', [
        { r: part(1, t, 'fail'), refs, images: stored },
        { r: part(2, t + 1000, 'pass'), refs, images: [] },
      ]);
      await repo.insertInspection('s2', part(3, t, 'pass'), refs, []);
      const recent = await repo.insertInspection('s1', part(4, now - DAY, 'pass'), refs, []);
      const statsBefore = await repo.yieldStats('day', new Date(t - 5 * DAY), new Date(now + 60_000), { station: 's1' });
      const month = `Inspection_${suffix(t)}`;

      const told: unknown[] = [];
      const retention = (s: string) =>
        new Retention(repo, images, {
          stationId: s,
          maxAgeDays: 90,
          keepReviewedDays: 730,
          recordsDays: 30,
          minFreeBytes: 0,
          intervalMs: 3_600_000,
          onMonth: (m) => told.push(m),
        });
      // s1's sweep: its images go, then its own records of the month in batches; s2's record and the month stay
      const r1 = retention('s1');
      await r1.sweep();
      expect(r1.counters).toMatchObject({ recordsDeleted: 2, monthsDropped: 0, errors: 0 });
      for (const s of stored) expect(existsSync(path.join(root, s.path))).toBe(false);
      expect(await partitionsOf(db, 'Inspection')).toContain(month);
      expect(await whereRows(db, 'Inspection')).toMatchObject({ [month]: 1 });
      // and it says which station holds the month, once
      const m = new Date(t).toISOString().slice(0, 7);
      expect(told).toEqual([{ month: m, heldBy: [{ station: 's2', recordsDays: null }] }]);
      await r1.sweep();
      expect(told).toHaveLength(1);

      // Once s2 keeps its records 30 days too, the next sweep drops the month, all five tables of it, at once
      await repo.ensureStation({ id: 's2', name: '', line: '', site: '', recordsDays: 30 });
      await r1.sweep();
      expect(r1.counters).toMatchObject({ recordsDeleted: 3, monthsDropped: 1, errors: 0 });
      expect(told.at(-1)).toEqual({ month: m, dropped: 1 });
      // the drop of traceability records is in the audit log: by whom, which month, how many, under which settings
      expect(await db.auditLog.findMany({ where: { action: 'records.month.drop' }, select: { actor: true, target: true, details: true } })).toEqual([
        {
          actor: 'retention:s1',
          target: m,
          details: {
            inspections: 1,
            stations: [
              { id: 's1', recordsDays: 30 },
              { id: 's2', recordsDays: 30 },
            ],
            // where the drop cut the chain: the dropped record the next one links to
            chainCuts: [{ station: expect.any(String), after: null, to: expect.stringMatching(/^[0-9a-f]{64}$/) }],
          },
        },
      ]);
      for (const table of ['Inspection', 'Defect', 'Image', 'Review', 'ReinferenceResult'])
        expect(await partitionsOf(db, table)).not.toContain(`${table}_${suffix(t)}`);
      // the recent record stays, and the statistics still count the dropped month's parts
      expect((await db.inspection.findMany({ select: { id: true } })).map((r) => r.id)).toEqual([recent]);
      expect(await repo.yieldStats('day', new Date(t - 5 * DAY), new Date(now + 60_000), { station: 's1' })).toEqual(statsBefore);
    } finally {
      await db.$disconnect();
    }
  });
});
