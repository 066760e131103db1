/**
 * Tamper-evident records (issue #19, item 4): a real station's records and audit entries form
 * hash chains that `station db verify` walks; a row edited, deleted or rewritten behind the
 * station's back (sqlite3, psql) is named, while retention's own deletions are not a break.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InspectionResult } from '../src/line/index.js';
import type { Station } from '../src/main.js';
import { type ChainReport, openDatabase, Repository } from '../src/store/index.js';
import { station as cli } from './helpers/cli.js';
import { freshPostgres, pgAvailable } from './helpers/pg.js';
import { startTestStation, userWithRole } from './helpers/station.js';
import { tmpDir } from './helpers/tmp.js';

/** A station that recorded a synthetic line, with a review and a threshold change in its audit log; stopped. */
async function recordedStation(databaseUrl?: string): Promise<{ dataDir: string; ids: { fail: number; pass: number[] } }> {
  const s: Station = await startTestStation({ sources: [{ name: 'line', uri: 'synthetic:?seed=19&defectRate=0.4&rate=25' }], databaseUrl });
  try {
    const quality = await userWithRole(s, 'quality');
    const integrator = await userWithRole(s, 'integrator');
    const listed = async (verdict: string, limit: number) =>
      (await s.api!.inject({ method: 'GET', url: `/api/inspections?verdict=${verdict}&limit=${limit}`, headers: quality }))
        .json()
        .items.map((i: { id: number }) => i.id) as number[];
    // Enough of a line to tamper with: failed parts (with findings and images) and 20 passed ones.
    for (
      const started = Date.now();
      (await s.repo.countInspections()) <= 60 || (await listed('fail', 1)).length === 0 || (await listed('pass', 20)).length < 20;
    ) {
      if (Date.now() - started > 90_000) throw new Error('the station did not record 60 parts, one failed and 20 passed, in 90 s');
      await new Promise((r) => setTimeout(r, 250));
    }
    const [fail] = await listed('fail', 1);
    const review = await s.api!.inject({ method: 'POST', url: `/api/inspections/${fail}/review`, headers: quality, payload: { label: 'confirmed' } });
    expect(review.statusCode).toBe(201);
    const put = await s.api!.inject({
      method: 'PUT',
      url: '/api/recipes/plate/thresholds',
      headers: integrator,
      payload: { thresholds: { default: { minScore: 0.45 } }, reason: 'tighter after a customer complaint' },
    });
    expect(put.statusCode).toBe(200);
    const pass = await listed('pass', 20);
    return { dataDir: s.dataDir, ids: { fail, pass } };
  } finally {
    await s.stop();
  }
}

async function verify(args: string[], env: Record<string, string> = {}) {
  const r = await cli(['db', 'verify', ...args], { env, timeoutMs: 60_000 });
  const line = JSON.parse(r.lines.at(-1) ?? r.stdout.trim().split('\n').at(-1)!);
  return {
    code: r.code,
    stderr: r.stderr,
    report: line as { ok: boolean; code?: string; problems: { code: string; message: string }[]; records: { chain: ChainReport } },
  };
}

/** sqlite3 as someone with the file would use it: foreign keys on, so a record goes with its findings and images. */
const sqlite = (file: string, sql: string) => execFileSync('sqlite3', [file, `PRAGMA foreign_keys = ON; ${sql}`]);

describe('tamper-evident records on SQLite', () => {
  let dataDir = '';
  let ids: { fail: number; pass: number[] };
  let pristine = '';
  beforeAll(async () => {
    ({ dataDir, ids } = await recordedStation());
    pristine = path.join(tmpDir('station-test-', true), 'pristine.db');
    copyFileSync(path.join(dataDir, 'station.db'), pristine);
  }, 150_000);

  /** A fresh copy of the station's database to tamper with. */
  function copy(): string {
    const f = path.join(tmpDir(), 'station.db');
    copyFileSync(pristine, f);
    return f;
  }

  it("verifies the station's chains whole: every record chained, the review and the threshold change in the audit chain", async () => {
    const { code, report } = await verify(['--data', dataDir]);
    expect(report.problems).toEqual([]);
    expect(code).toBe(0);
    const db = new Database(pristine, { readonly: true });
    const n = (db.prepare('SELECT count(*) AS n FROM Inspection').get() as { n: number }).n;
    const head = db.prepare("SELECT id, hash FROM Inspection WHERE stationId = 'test-1' ORDER BY id DESC LIMIT 1").get();
    const actions = (db.prepare('SELECT action FROM AuditLog ORDER BY id').all() as { action: string }[]).map((a) => a.action);
    db.close();
    expect(report.records.chain.stations['test-1']).toEqual({ records: n, chained: n, head });
    expect(report.records.chain.broken).toBe(0);
    expect(actions).toEqual(expect.arrayContaining(['station.start', 'review', 'recipe.thresholds']));
    expect(report.records.chain.audit.chained).toBe(actions.length);
  });

  it('names the record a sqlite3 UPDATE changed', async () => {
    const f = copy();
    sqlite(f, `UPDATE Inspection SET verdict = 'pass' WHERE id = ${ids.fail}`);
    const { code, report, stderr } = await verify([f]);
    expect(code).toBe(2);
    expect(report.code).toBe('STN_ERR_DB_CHAIN');
    expect(report.records.chain.broken).toBe(1);
    expect(report.records.chain.first).toBe(`record #${ids.fail} (station test-1) was changed after it was written: its content does not match its hash`);
    expect(stderr).toContain(`record #${ids.fail}`);
  });

  it('names the record after one deleted with sqlite3, and the record whose hash was rewritten to hide an edit', async () => {
    const f = copy();
    const gone = ids.pass[5];
    sqlite(f, `DELETE FROM Inspection WHERE id = ${gone}`);
    const next = (
      new Database(f, { readonly: true }).prepare("SELECT id FROM Inspection WHERE stationId = 'test-1' AND id > ? ORDER BY id LIMIT 1").get(gone) as {
        id: number;
      }
    ).id;
    const deleted = await verify([f]);
    expect(deleted.code).toBe(2);
    expect(deleted.report.records.chain.first).toMatch(new RegExp(`^record #${next} \\(station test-1\\) does not link to the station's record before it`));

    // An edit whose hash was recomputed by hand: the record itself checks, its successor does not.
    const g = copy();
    sqlite(g, `UPDATE Inspection SET hash = '${'0'.repeat(64)}' WHERE id = ${ids.pass[3]}`);
    const rewritten = await verify([g]);
    expect(rewritten.report.records.chain.first).toBe(
      `record #${ids.pass[3]} (station test-1) was changed after it was written: its content does not match its hash`,
    );
    expect(rewritten.report.records.chain.broken).toBe(2);
  });

  it('checks a chain head a report printed: the whole chain rewritten after an edit, or the head deleted, is named', async () => {
    const { report } = await verify([pristine]);
    const head = report.records.chain.stations['test-1'].head!;
    const checked = await verify([pristine, '--head', `${head.id}:${head.hash}`]);
    expect(checked.code).toBe(0);
    expect(checked.report.records.chain.headsChecked).toEqual([head.id]);
    // Someone edits a record and recomputes every hash after it: the chain alone is sound again, the head is not.
    const f = copy();
    const db = new Database(f);
    db.prepare('UPDATE Inspection SET hash = ? WHERE id = ?').run('f'.repeat(64), head.id);
    db.close();
    const rewritten = await verify([f, '--head', `${head.id}:${head.hash}`]);
    expect(rewritten.code).toBe(2);
    expect(rewritten.report.records.chain.first).toContain(`record #${head.id}`);
    expect(rewritten.report.problems[0].message).toMatch(/is not the chain head a report took|was changed after it was written/);
    const g = copy();
    sqlite(g, `DELETE FROM Inspection WHERE id = ${head.id}`);
    expect((await verify([g])).code).toBe(0);
    const gone = await verify([g, '--head', `${head.id}:${head.hash}`]);
    expect(gone.code).toBe(2);
    expect(gone.report.records.chain.headsGone).toEqual([head.id]);
    const bad = await cli(['db', 'verify', pristine, '--head', 'not-a-head'], { timeoutMs: 60_000 });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('ID:HASH');
  });

  it('names the audit entry a sqlite3 UPDATE changed (a review made to say something else)', async () => {
    const f = copy();
    const id = (new Database(f, { readonly: true }).prepare("SELECT id FROM AuditLog WHERE action = 'review'").get() as { id: number }).id;
    sqlite(f, `UPDATE AuditLog SET details = json_set(details, '$.label', 'false_reject') WHERE id = ${id}`);
    const { code, report } = await verify([f]);
    expect(code).toBe(2);
    expect(report.records.chain.first).toBe(`audit entry #${id} (review) was changed after it was written: its content does not match its hash`);
  });

  it("accepts retention's deletions (the audit chain says where it cut), but not the same rows deleted by hand", async () => {
    const f = copy();
    const byHand = copy();
    const db = await openDatabase(`file:${f}`);
    try {
      const repo = new Repository(db);
      // Records without images (the passed parts here) go; the failed parts keep theirs, so the chain is cut in many places.
      const deleted = await repo.deleteRecordsBefore('test-1', new Date(Date.now() + 60_000), 10_000);
      expect(deleted).toBeGreaterThan(20);
    } finally {
      await db.$disconnect();
    }
    const after = await verify([f]);
    expect(after.report.problems).toEqual([]);
    expect(after.code).toBe(0);
    const left = new Database(f, { readonly: true });
    const removed = (left.prepare("SELECT details FROM AuditLog WHERE action = 'records.delete'").all() as { details: string }[]).map((r) =>
      JSON.parse(r.details),
    );
    const kept = (left.prepare('SELECT id FROM Inspection ORDER BY id').all() as { id: number }[]).map((r) => r.id);
    left.close();
    expect(removed.reduce((n, d) => n + d.deleted, 0)).toBeGreaterThan(20);
    expect(removed.flatMap((d) => d.chainCuts).length).toBeGreaterThan(1);

    // A kept record between two runs retention deleted, deleted by hand: the cut after it starts from it, so the gap shows.
    const between = path.join(tmpDir(), 'between.db');
    copyFileSync(f, between);
    const cutAfter = new Set(removed.flatMap((d) => d.chainCuts.map((c: { after: string | null }) => c.after)));
    const lone = new Database(between, { readonly: true });
    const victim = (lone.prepare('SELECT id, hash FROM Inspection ORDER BY id').all() as { id: number; hash: string }[]).find((r) => cutAfter.has(r.hash));
    lone.close();
    expect(victim).toBeDefined();
    sqlite(between, `DELETE FROM Inspection WHERE id = ${victim!.id}`);
    const gap = await verify([between]);
    expect(gap.code).toBe(2);
    expect(gap.report.code).toBe('STN_ERR_DB_CHAIN');

    sqlite(byHand, `DELETE FROM Inspection WHERE id NOT IN (${kept.join(',')})`);
    const hand = await verify([byHand]);
    expect(hand.code).toBe(2);
    expect(hand.report.code).toBe('STN_ERR_DB_CHAIN');
  });
});

describe('the chain as the recorder writes it', () => {
  it('never forks under batches written at once, and takes any text (a lone surrogate) without a false alarm', async () => {
    const file = path.join(tmpDir(), 'station.db');
    const db = await openDatabase(`file:${file}`);
    try {
      const repo = new Repository(db);
      await repo.ensureStation({ id: 'st', name: 'st', line: '', site: '' });
      const part = (seq: number): InspectionResult => ({
        seq,
        source: 'cam',
        recipe: 'plate',
        recipeVersion: 1,
        modelSha256: null,
        timestamp: Date.UTC(2026, 11, 2, 8, 0, 0, seq),
        decidedAt: Date.UTC(2026, 11, 2, 8, 0, 0, seq) + 9,
        verdict: seq % 3 ? 'pass' : 'fail',
        reasons: seq % 3 ? [] : [{ rule: 'class', class: `scratch \ud800 ${seq}`, score: 0.9, limit: 0.5 }],
        defects: seq % 3 ? [] : [{ class: 'scratch', score: 0.9, box: [1, 2, 3, 4], area: 4, rejecting: true }],
        maxScore: seq % 3 ? 0.1 : 0.9,
        outputs: { kind: 'none', note: undefined, nan: Number.NaN } as unknown as InspectionResult['outputs'],
        timings: { queue: 1, preprocess: 2, inference: 5, decode: 0.1, decision: 0.01, total: 12 },
        partId: seq === 4 ? 'SN-\udc00-4' : `SN-${seq}`,
      });
      const refs = { modelId: null, recipeVersionId: null };
      // Eight batches handed over at once, as a recorder catching up and a spool replay might.
      await Promise.all(
        Array.from({ length: 8 }, (_, b) =>
          repo.insertInspections(
            'st',
            Array.from({ length: 4 }, (_, i) => ({ r: part(b * 4 + i + 1), refs, images: [] })),
          ),
        ),
      );
    } finally {
      await db.$disconnect();
    }
    const { code, report } = await verify([file]);
    expect(report.problems).toEqual([]);
    expect(code).toBe(0);
    expect(report.records.chain.stations.st).toMatchObject({ records: 32, chained: 32 });
  });
});

describe.skipIf(!pgAvailable)('tamper-evident records on PostgreSQL', () => {
  let url = '';
  let ids: { fail: number; pass: number[] };
  beforeAll(async () => {
    url = await freshPostgres('station_chain');
    ({ ids } = await recordedStation(url));
  }, 150_000);
  const clients: pg.Client[] = [];
  afterAll(async () => {
    for (const c of clients) await c.end();
  });

  it('verifies the chains read back from jsonb (keys reordered), then names the record an UPDATE changed', async () => {
    const intact = await verify([], { DATABASE_URL: url });
    expect(intact.report.problems).toEqual([]);
    expect(intact.report.records.chain.stations['test-1'].chained).toBeGreaterThan(60);
    expect(intact.report.records.chain.audit.chained).toBeGreaterThan(2);
    const c = new pg.Client({ connectionString: url });
    clients.push(c);
    await c.connect();
    // jsonb does not keep the order the station wrote: the hash is over the canonical form.
    const { rows } = await c.query(`SELECT timings::text AS t FROM "Inspection" WHERE id = $1`, [ids.fail]);
    const keys = Object.keys(JSON.parse(rows[0].t));
    expect(keys).not.toEqual([...keys].sort());
    await c.query(`UPDATE "Inspection" SET "maxScore" = 0.01 WHERE id = $1`, [ids.fail]);
    const edited = await verify([], { DATABASE_URL: url });
    expect(edited.code).toBe(2);
    expect(edited.report.records.chain.first).toBe(
      `record #${ids.fail} (station test-1) was changed after it was written: its content does not match its hash`,
    );
  });
});
