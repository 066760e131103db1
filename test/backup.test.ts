/**
 * `station db backup` and `station db verify` (issue #18, item 4): a copy taken by a child
 * process while a real station records, checked, restored into a new station that finds every
 * record; a damaged copy refused with its code.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readdirSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { plateRecipe, validateConfig } from '../src/config/index.js';
import { startStation, type Station } from '../src/main.js';
import { SHIPPED_MODEL } from '../src/paths.js';
import { migrate, migrationsDir, shippedMigrations } from '../src/store/index.js';
import { station as cli } from './helpers/cli.js';
import { freshPostgres, pgAvailable } from './helpers/pg.js';
import { observer, startTestStation } from './helpers/station.js';
import { tmpDir } from './helpers/tmp.js';

/** Every inspection of a database file, read with plain SQL: the ground truth the restore must match. */
function rowsOf(file: string): { id: number; verdict: string; partSeq: number }[] {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare('SELECT id, verdict, partSeq FROM Inspection ORDER BY id').all() as { id: number; verdict: string; partSeq: number }[]).map((r) => ({
      ...r,
      partSeq: Number(r.partSeq),
    }));
  } finally {
    db.close();
  }
}

/** A station whose data folder is `dir` (as an operator restores: the backup copied to DIR/station.db). */
function stationOn(dir: string): Promise<Station> {
  const config = validateConfig(
    {
      station: { id: 'test-1' },
      http: { port: 0 },
      storage: { dataDir: dir },
      sources: [{ name: 'push', uri: 'http:', recipe: 'plate' }],
      recipes: { plate: { ...plateRecipe(SHIPPED_MODEL), keepGood: 0 } },
    },
    dir,
  );
  return startStation({ config, log: pino({ level: 'silent' }) });
}

describe('station db backup and verify', () => {
  it('copies the database while the line records, the copy verifies, and a station restored from it finds every record', async () => {
    // Given a station recording a synthetic line at 20 parts/s
    const s = await startTestStation({ sources: [{ name: 'line', uri: 'synthetic:?seed=18&defectRate=0.4&rate=20' }] });
    let live: Station | null = s;
    try {
      await expect.poll(() => s.repo.countInspections(), { timeout: 30_000, interval: 200 }).toBeGreaterThan(40);
      const out = path.join(tmpDir(), 'backup.db');

      // When the backup runs as its own process while the line keeps recording
      const backup = await cli(['db', 'backup', out, '--data', s.dataDir], { timeoutMs: 60_000 });
      expect(backup.code, backup.stderr).toBe(0);
      const line = JSON.parse(backup.lines.at(-1)!) as { backup: string; bytes: number; inspections: number; ms: number };
      console.log(`backup while recording: ${line.inspections} inspections, ${line.bytes} bytes in ${line.ms} ms`);
      expect(line.backup).toBe(out);
      expect(line.bytes).toBe(statSync(out).size);
      expect(statSync(out).mode & 0o777).toBe(0o600);
      expect(line.inspections).toBeGreaterThan(40);
      // verify of the station's own database, beside the running line, finds it intact too
      const own = await cli(['db', 'verify', '--data', s.dataDir]);
      expect(own.code, own.stderr).toBe(0);
      expect(JSON.parse(own.lines.at(-1)!)).toMatchObject({ ok: true, integrity: 'ok' });
      // the line went on recording after the copy was taken
      await expect.poll(() => s.repo.countInspections(), { timeout: 20_000, interval: 200 }).toBeGreaterThan(line.inspections + 20);
      await s.stop();
      live = null;

      // Then the copy verifies: intact, every shipped migration applied, its rows counted
      const verify = await cli(['db', 'verify', out]);
      expect(verify.code, verify.stderr).toBe(0);
      const report = JSON.parse(verify.lines.at(-1)!);
      expect(report).toMatchObject({
        file: out,
        ok: true,
        integrity: 'ok',
        migrations: { applied: shippedMigrations().length, pending: [], unknown: [] },
        inspections: line.inspections,
      });
      expect(report.tables.Inspection).toBe(line.inspections);
      const inBackup = rowsOf(out);
      expect(inBackup.length).toBe(line.inspections);
      // a consistent snapshot: the records are a gap-free prefix of what the station committed
      // (ids in commit order). Not of the part sequence: a part dropped from a full queue is
      // answered at once, before the part still in the model ahead of it (CI: 60 before 59).
      const ids = inBackup.map((r) => r.id);
      expect(ids).toEqual(ids.map((_, i) => i + 1));
      expect(new Set(inBackup.map((r) => r.partSeq)).size).toBe(inBackup.length);

      // And a new station started on a data folder holding the backup as station.db finds every record
      const restored = path.join(tmpDir(), 'data');
      mkdirSync(restored);
      copyFileSync(out, path.join(restored, 'station.db'));
      const r = await stationOn(restored);
      live = r;
      const found: { id: number; verdict: string }[] = [];
      for (let cursor: string | undefined; ; ) {
        const page = await r.repo.listInspections({ limit: 100, cursor });
        found.push(...page.items.map((i: { id: number; verdict: string }) => ({ id: i.id, verdict: i.verdict })));
        if (page.nextCursor === null) break;
        cursor = page.nextCursor;
      }
      expect(found.sort((a, b) => a.id - b.id)).toEqual(inBackup.map(({ id, verdict }) => ({ id, verdict })));
      // and through the HTTP API, as an integrator would
      const auth = await observer(r);
      for (const row of [inBackup[0], inBackup[inBackup.length >> 1], inBackup.at(-1)!]) {
        const res = await r.api!.inject({ method: 'GET', url: `/api/inspections/${row.id}`, headers: auth });
        expect(res.statusCode).toBe(200);
        expect(res.json()).toMatchObject({ id: row.id, verdict: row.verdict });
      }
    } finally {
      await live?.stop();
    }
  }, 120_000);

  it('refuses a copy with bytes overwritten in the middle: non-zero exit and STN_ERR_DB_CORRUPT', async () => {
    // Given a good backup of a station that recorded some parts
    const s = await startTestStation({ sources: [{ name: 'line', uri: 'synthetic:?seed=3&defectRate=0.5&rate=0&count=60' }] });
    const dir = tmpDir();
    try {
      await s.line.whenIdle();
      await s.recorder.flush();
      expect((await cli(['db', 'backup', path.join(dir, 'good.db'), '--data', s.dataDir])).code).toBe(0);
    } finally {
      await s.stop();
    }
    expect((await cli(['db', 'verify', path.join(dir, 'good.db')])).code).toBe(0);

    // When 16 KiB in the middle of a copy of it are overwritten
    const bad = path.join(dir, 'bad.db');
    copyFileSync(path.join(dir, 'good.db'), bad);
    const size = statSync(bad).size;
    const fd = openSync(bad, 'r+');
    writeSync(fd, Buffer.alloc(16 * 1024, 0xa5), 0, 16 * 1024, Math.floor(size / 2 / 4096) * 4096);
    closeSync(fd);

    // Then verify says so, with the code, on stdout and stderr, and exits non-zero
    const v = await cli(['db', 'verify', bad]);
    expect(v.code).toBe(2);
    expect(v.stderr).toContain('STN_ERR_DB_CORRUPT');
    expect(JSON.parse(v.lines.at(-1)!)).toMatchObject({ file: bad, ok: false, code: 'STN_ERR_DB_CORRUPT' });
  }, 120_000);

  it('names a row pointing at nothing and a migration this release does not know', async () => {
    // Given an intact copy of a station database
    const s = await startTestStation({ sources: [{ name: 'line', uri: 'synthetic:?seed=4&defectRate=1&rate=0&count=5' }] });
    const file = path.join(tmpDir(), 'copy.db');
    try {
      await s.line.whenIdle();
      await s.recorder.flush();
      expect((await cli(['db', 'backup', file, '--data', s.dataDir])).code).toBe(0);
    } finally {
      await s.stop();
    }
    // When a defect row is made to point at no inspection, and a newer release's migration is recorded
    const db = new Database(file);
    db.pragma('foreign_keys = OFF');
    db.prepare(
      "INSERT INTO Defect (inspectionId, capturedAt, class, score, rejecting) VALUES (999999, '2026-11-20T08:00:00.000+00:00', 'scratch', 0.9, 1)",
    ).run();
    db.prepare(
      "INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at, finished_at, applied_steps_count) VALUES ('x', 'x', '29991231000000_from_the_future', 0, 1, 1)",
    ).run();
    db.close();

    // Then verify reports both, the first one's code on exit
    const v = await cli(['db', 'verify', file]);
    expect(v.code).toBe(2);
    const r = JSON.parse(v.lines.at(-1)!);
    expect(r).toMatchObject({
      ok: false,
      integrity: 'ok',
      code: 'STN_ERR_DB_FOREIGN_KEY',
      migrations: { pending: [], unknown: ['29991231000000_from_the_future'] },
    });
    expect(r.foreignKeys).toEqual([expect.objectContaining({ table: 'Defect', parent: 'Inspection' })]);
    expect(r.problems.map((p: { code: string }) => p.code)).toEqual(['STN_ERR_DB_FOREIGN_KEY', 'STN_ERR_DB_MIGRATIONS']);
  }, 60_000);

  it('leaves neither FILE nor FILE.tmp when the backup cannot be written (missing folder, full disk)', async () => {
    const data = path.join(tmpDir(), 'data');
    expect((await cli(['db', 'migrate', '--data', data])).code).toBe(0);
    const missing = path.join(tmpDir(), 'no-such-folder', 'b.db');
    const r = await cli(['db', 'backup', missing, '--data', data]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('STN_ERR_DB_BACKUP_FAILED');
    expect(existsSync(missing) || existsSync(`${missing}.tmp`)).toBe(false);

    // A 64 KiB tmpfs fills up under a database of some 200 KiB (root only; skipped elsewhere)
    const small = tmpDir();
    if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', small]).status !== 0) {
      console.warn('full-disk backup case skipped: cannot mount a tmpfs here');
      return;
    }
    try {
      const full = await cli(['db', 'backup', path.join(small, 'b.db'), '--data', data]);
      expect(full.code).toBe(2);
      expect(full.stderr).toContain('STN_ERR_DB_BACKUP_FAILED');
      expect(readdirSync(small)).toEqual([]);
    } finally {
      spawnSync('umount', [small]);
    }
  }, 60_000);

  it('refuses to back up a PostgreSQL database and shows the pg_dump command instead', async () => {
    const out = path.join(tmpDir(), 'line.dump');
    const r = await cli(['db', 'backup', out], { env: { DATABASE_URL: 'postgresql://station@127.0.0.1:5432/station' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('STN_ERR_DB_POSTGRES');
    expect(r.stderr).toContain(`pg_dump --format=custom --file=${out} "$DATABASE_URL"`);
  });

  it.skipIf(!pgAvailable)(
    "verifies a PostgreSQL station's migration history and rows, and names a migration it does not know",
    async () => {
      // Given a migrated PostgreSQL station database
      const url = await freshPostgres('verify');
      await migrate(url);
      const ok = await cli(['db', 'verify'], { env: { DATABASE_URL: url } });
      expect(ok.code, ok.stderr).toBe(0);
      expect(JSON.parse(ok.lines.at(-1)!)).toMatchObject({
        ok: true,
        migrations: { applied: shippedMigrations(migrationsDir('postgresql')).length, pending: [], unknown: [] },
        inspections: 0,
        tables: { Inspection: 0, Station: 0 },
        // the records' month partitions, at least the current month's
        months: expect.arrayContaining([new Date().toISOString().slice(0, 7)]),
      });
      // When a newer release's migration is recorded in it
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query(
        "INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at, finished_at, applied_steps_count) VALUES ('x', 'x', '29991231000000_from_the_future', now(), now(), 1)",
      );
      await c.end();
      // Then verify names it and exits non-zero
      const bad = await cli(['db', 'verify'], { env: { DATABASE_URL: url } });
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('STN_ERR_DB_MIGRATIONS');
      expect(JSON.parse(bad.lines.at(-1)!)).toMatchObject({
        ok: false,
        code: 'STN_ERR_DB_MIGRATIONS',
        migrations: { unknown: ['29991231000000_from_the_future'] },
      });
    },
    60_000,
  );

  it('exits non-zero with STN_ERR_DB_NOT_FOUND for a file that does not exist', async () => {
    const r = await cli(['db', 'verify', path.join(tmpDir(), 'nothing.db')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('STN_ERR_DB_NOT_FOUND');
  });
});
