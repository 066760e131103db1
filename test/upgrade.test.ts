/**
 * Upgrades (issue #18, item 4): a database created and filled by the previous release's
 * migrations migrates forward with its data intact. The old database is built for real: the
 * previous release's migration set applied by the same schema engine, rows inserted with plain
 * SQL as that schema expects them, then today's `migrate(url)`.
 *
 * When a release ships, move PREVIOUS_RELEASE to its newest migration (and add rows for what it
 * introduced if the next release changes them).
 */
import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { plateRecipe, validateConfig } from '../src/config/index.js';
import { startStation, type Station } from '../src/main.js';
import { SHIPPED_MODEL } from '../src/paths.js';
import { hashPassword, migrate, migrationsDir, shippedMigrations, verifyDatabase } from '../src/store/index.js';
import { station as cli } from './helpers/cli.js';
import { freshPostgres, pgAvailable } from './helpers/pg.js';
import { tmpDir } from './helpers/tmp.js';

/** The newest migration of the previous release, per provider (api_key_expiry came after it). */
const PREVIOUS_RELEASE = { sqlite: '20261126010713_station_area', postgresql: '20261126010714_init' } as const;

/** A folder holding the previous release's migrations: the shipped ones up to PREVIOUS_RELEASE. */
function previousMigrations(provider: 'sqlite' | 'postgresql'): { dir: string; names: string[] } {
  const shipped = shippedMigrations(migrationsDir(provider));
  const names = shipped.filter((m) => m <= PREVIOUS_RELEASE[provider]);
  expect(names.at(-1)).toBe(PREVIOUS_RELEASE[provider]);
  expect(names.length, 'the upgrade test needs a migration newer than the previous release').toBeLessThan(shipped.length);
  const dir = path.join(tmpDir(), `migrations-${provider}`);
  mkdirSync(dir);
  copyFileSync(path.join(migrationsDir(provider), 'migration_lock.toml'), path.join(dir, 'migration_lock.toml'));
  for (const m of names) cpSync(path.join(migrationsDir(provider), m), path.join(dir, m), { recursive: true });
  return { dir, names };
}

/** New columns an upgrade fills from the old rows instead of their default. */
const COMPUTED = ['Defect.scoreBin', 'Defect.capturedAt', 'Image.capturedAt', 'Review.capturedAt', 'ReinferenceResult.capturedAt'];
/** The tables that carry their inspection's capture time since records_partition_key / records_by_month. */
const CHILDREN = ['Defect', 'Image', 'Review', 'ReinferenceResult'];
/** The hourly aggregates the upgrade counts from the old rows: three parts, one reviewed confirmed. */
const OLD_HOUR = {
  stationId: 'old-1',
  recipeName: 'plate',
  recipeVersionId: 2,
  parts: 3,
  pass: 1,
  fail: 1,
  uninspected: 1,
  confirmed: 1,
  falseRejects: 0,
  escapes: 0,
};
const OLD_SCORES = [
  { stationId: 'old-1', recipeName: 'plate', recipeVersionId: 2, class: 'dent', bin: 20, findings: 1, rejecting: 0 },
  { stationId: 'old-1', recipeName: 'plate', recipeVersionId: 2, class: 'scratch', bin: 91, findings: 1, rejecting: 1 },
];

const OLD_PASSWORD = 'old-release-password';
const OLD_KEY = 'stn_old_release_key_0123456789abcdef';
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const at = (s: number) => `2026-11-20T08:00:${String(s).padStart(2, '0')}.000+00:00`;

/**
 * What the previous release wrote, table by table, as its schema expects it (SQLite stores
 * DateTime as ISO text, Boolean as 0/1, Json as text): a station, a model, a recipe with two
 * versions, three inspections (pass; fail with defects, images and a review; uninspected),
 * a user with a session and an API key, an audit row, a re-inference run with a result.
 */
async function oldRows(): Promise<Record<string, Record<string, unknown>[]>> {
  const def = JSON.stringify({ model: 'plate.onnx', thresholds: { default: { minScore: 0.5, maxCount: 0 } } });
  return {
    Station: [{ id: 'old-1', name: 'old-1', line: 'L2', area: 'press', site: 'plant', createdAt: at(0) }],
    Model: [
      { id: 1, name: 'plate', family: 'yolo', sha256: 'a'.repeat(64), labels: '["scratch","dent"]', inputWidth: 640, inputHeight: 640, createdAt: at(0) },
    ],
    Recipe: [{ id: 1, name: 'plate', createdAt: at(0) }],
    RecipeVersion: [
      { id: 1, recipeId: 1, version: 1, definition: def, sha256: 'b'.repeat(64), author: 'station', reason: 'initial', createdAt: at(0) },
      { id: 2, recipeId: 1, version: 2, definition: def, sha256: 'c'.repeat(64), author: 'qa', reason: 'tighter', createdAt: at(1) },
    ],
    Inspection: [1, 2, 3].map((i) => ({
      id: i,
      stationId: 'old-1',
      partSeq: 1000 + i,
      source: 'cam',
      capturedAt: at(10 + i),
      decidedAt: at(10 + i).replace('.000', '.012'),
      verdict: ['pass', 'fail', 'uninspected'][i - 1],
      errorCode: i === 3 ? 'STN_ERR_LINE_DEADLINE' : null,
      reasons: i === 2 ? '[{"rule":"class","class":"scratch","score":0.91,"limit":0.5}]' : '[]',
      outputs: '{"kind":"detections","n":2}',
      maxScore: i === 2 ? 0.91 : 0.1,
      defectCount: i === 2 ? 2 : 0,
      timings: '{"queue":1,"preprocess":2,"inference":5,"decode":0.1,"decision":0.01,"total":12}',
      latencyMs: 12 + i,
      recipeName: 'plate',
      recipeVersionId: 2,
      modelId: 1,
      truth: i === 2 ? '{"defective":true,"classes":["scratch"]}' : null,
      createdAt: at(10 + i),
    })),
    Defect: [
      { id: 1, inspectionId: 2, class: 'scratch', score: 0.91, x1: 1, y1: 2, x2: 30, y2: 40, area: 1102, rejecting: 1 },
      { id: 2, inspectionId: 2, class: 'dent', score: 0.2, x1: null, y1: null, x2: null, y2: null, area: null, rejecting: 0 },
    ],
    Image: ['original', 'overlay', 'thumb'].map((variant, k) => ({
      id: k + 1,
      inspectionId: 2,
      variant,
      path: `old-1/2026-11-20/2-${variant}.jpg`,
      mime: 'image/jpeg',
      width: variant === 'thumb' ? 160 : 640,
      height: variant === 'thumb' ? 120 : 480,
      bytes: 1000 + k,
      createdAt: at(12),
    })),
    User: [{ id: 1, username: 'olduser', role: 'quality', passwordHash: await hashPassword(OLD_PASSWORD), createdAt: at(0), disabledAt: null }],
    Session: [{ id: 1, tokenHash: sha256('old-session'), csrfToken: 'csrf', userId: 1, createdAt: at(0), expiresAt: '2026-11-21T08:00:00.000+00:00' }],
    ApiKey: [
      {
        id: 1,
        name: 'mes',
        prefix: OLD_KEY.slice(0, 10),
        keyHash: sha256(OLD_KEY),
        role: 'viewer',
        userId: 1,
        createdAt: at(0),
        lastUsedAt: null,
        revokedAt: null,
      },
    ],
    Review: [{ id: 1, inspectionId: 2, label: 'confirmed', class: 'scratch', box: '[1,2,30,40]', note: 'real scratch', userId: 1, createdAt: at(20) }],
    AuditLog: [{ id: 1, at: at(1), actor: 'qa', action: 'recipe.thresholds', target: 'plate', details: '{"version":2}' }],
    Reinference: [
      {
        id: 1,
        createdAt: at(30),
        finishedAt: at(31),
        author: 'qa',
        recipeName: 'plate',
        candidate: '{"model":"b.onnx"}',
        selection: '{}',
        state: 'done',
        total: 3,
        done: 3,
        error: null,
      },
    ],
    ReinferenceResult: [{ id: 1, runId: 1, inspectionId: 2, verdict: 'fail', errorCode: null, outputs: '{}', defects: '[]', maxScore: 0.88, latencyMs: 20 }],
  };
}

/** A station on the data folder `dir` (station id of the old rows), HTTP on a free port; its database `databaseUrl` when given. */
function stationOn(dir: string, databaseUrl?: string): Promise<Station> {
  const config = validateConfig(
    {
      station: { id: 'old-1' },
      http: { port: 0 },
      storage: { dataDir: dir },
      sources: [{ name: 'cam', uri: 'http:', recipe: 'plate' }],
      recipes: { plate: { ...plateRecipe(SHIPPED_MODEL), keepGood: 0 } },
    },
    dir,
  );
  return startStation({ config, log: pino({ level: 'silent' }), databaseUrl });
}

/** The old records as a station started on the upgraded database serves them (then stops it). */
async function expectStationReadsOldRecords(s: Station): Promise<void> {
  try {
    const page = await s.repo.listInspections({ limit: 50 });
    expect(page.items.map((i: { id: number; verdict: string }) => [i.id, i.verdict])).toEqual([
      [3, 'uninspected'],
      [2, 'fail'],
      [1, 'pass'],
    ]);
    const login = await s.api!.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { username: 'olduser', password: OLD_PASSWORD, tokenInBody: true },
    });
    expect(login.statusCode).toBe(200);
    const res = await s.api!.inject({ method: 'GET', url: '/api/inspections/2', headers: { authorization: `Bearer ${OLD_KEY}` } });
    expect(res.statusCode).toBe(200);
    const fail = res.json();
    expect(fail).toMatchObject({ id: 2, verdict: 'fail', recipeVersion: { version: 2, reason: 'tighter' } });
    expect(fail.images.sort()).toEqual(['original', 'overlay', 'thumb']);
    expect(fail.defects.map((d: { class: string }) => d.class)).toEqual(['scratch', 'dent']);
    expect(await s.repo.reviewsOf(2)).toMatchObject([{ label: 'confirmed', class: 'scratch', note: 'real scratch', by: 'olduser' }]);
  } finally {
    await s.stop();
  }
}

/** Every row of a table with the columns the old schema had, in id order. */
function readTable(db: Database.Database, table: string, columns: string[]) {
  return db.prepare(`SELECT ${columns.map((c) => `"${c}"`).join(', ')} FROM "${table}" ORDER BY id`).all();
}

describe('upgrading a database of the previous release', () => {
  it('migrates a filled SQLite database forward: every row keeps its values, new columns take their defaults, a station lists the old records', async () => {
    // Given a database made by the previous release's migrations and filled as that release wrote it
    const old = previousMigrations('sqlite');
    const data = path.join(tmpDir(), 'data');
    const file = path.join(data, 'station.db');
    expect(await migrate(`file:${file}`, old.dir)).toEqual(old.names);
    const rows = await oldRows();
    const db = new Database(file);
    const before: Record<string, { columns: string[]; rows: unknown[] }> = {};
    try {
      db.pragma('foreign_keys = ON');
      db.transaction(() => {
        for (const [table, list] of Object.entries(rows)) {
          const cols = Object.keys(list[0]);
          const insert = db.prepare(`INSERT INTO "${table}" (${cols.map((c) => `"${c}"`).join(', ')}) VALUES (${cols.map((c) => `@${c}`).join(', ')})`);
          for (const r of list) insert.run(r);
        }
      })();
      for (const table of Object.keys(rows)) {
        const columns = (db.pragma(`table_info("${table}")`) as { name: string }[]).map((c) => c.name);
        before[table] = { columns, rows: readTable(db, table, columns) };
      }
    } finally {
      db.close();
    }
    // verify names what the old database lacks
    const stale = await verifyDatabase(file);
    expect(stale).toMatchObject({ ok: false, code: 'STN_ERR_DB_MIGRATIONS', integrity: 'ok', inspections: 3 });
    expect(stale.migrations.pending).toEqual(shippedMigrations().filter((m) => !old.names.includes(m)));
    const staleCli = await cli(['db', 'verify', file]);
    expect(staleCli.code).toBe(2);
    expect(staleCli.stderr).toContain('STN_ERR_DB_MIGRATIONS');

    // When today's migrations run on it
    expect(await migrate(`file:${file}`)).toEqual(shippedMigrations().filter((m) => !old.names.includes(m)));

    // Then every old row is there with every old value, and each new column holds its default
    const after = new Database(file, { readonly: true });
    try {
      for (const [table, b] of Object.entries(before)) {
        expect(readTable(after, table, b.columns), table).toEqual(b.rows);
        const info = after.pragma(`table_info("${table}")`) as { name: string; dflt_value: string | null }[];
        for (const col of info.filter((c) => !b.columns.includes(c.name) && !COMPUTED.includes(`${table}.${c.name}`))) {
          const values = after.prepare(`SELECT "${col.name}" AS v FROM "${table}"`).all() as { v: unknown }[];
          const expected = col.dflt_value === null ? null : (after.prepare(`SELECT ${col.dflt_value} AS v`).get() as { v: unknown }).v;
          expect(
            values.map((r) => r.v),
            `${table}.${col.name}`,
          ).toEqual(values.map(() => expected));
        }
      }
      // the column this upgrade brings: keys made before expiry existed have none
      expect(after.prepare('SELECT expiresAt FROM ApiKey').all()).toEqual([{ expiresAt: null }]);
      // the fine score bin of every old finding, and the hourly aggregates of the old records (issue #17)
      expect(after.prepare('SELECT scoreBin FROM Defect ORDER BY id').all()).toEqual([{ scoreBin: 91 }, { scoreBin: 20 }]);
      // every finding, image, review and re-inference result took its inspection's capture time
      for (const t of CHILDREN)
        expect(after.prepare(`SELECT x.capturedAt AS a, i.capturedAt AS b FROM "${t}" x JOIN Inspection i ON i.id = x.inspectionId`).all(), t).toEqual([
          ...(t === 'Defect' ? [0, 1] : t === 'Image' ? [0, 1, 2] : [0]).map(() => ({ a: at(12), b: at(12) })),
        ]);
      expect(after.prepare('SELECT * FROM StatHour').all()).toEqual([{ ...OLD_HOUR, hour: '2026-11-20T08:00:00.000+00:00' }]);
      expect(after.prepare('SELECT * FROM StatScoreHour ORDER BY class').all()).toEqual(
        OLD_SCORES.map((r) => ({ ...r, hour: '2026-11-20T08:00:00.000+00:00' })),
      );
    } finally {
      after.close();
    }
    expect(await verifyDatabase(file)).toMatchObject({ ok: true, migrations: { pending: [], unknown: [] }, inspections: 3 });

    // And a station started on it lists the old inspections with their findings, and old users and keys still work
    await expectStationReadsOldRecords(await stationOn(data));
  }, 120_000);
});

describe.skipIf(!pgAvailable)('upgrading a PostgreSQL database of the previous release', () => {
  it('migrates a filled PostgreSQL database forward: every row keeps its values, new columns take their defaults, a station lists the old records', async () => {
    // Given a fresh database (dropped after the file) made by the previous release's migrations and filled as it wrote it
    const old = previousMigrations('postgresql');
    const url = await freshPostgres('upgrade');
    expect(await migrate(url, old.dir)).toEqual(old.names);
    const rows = await oldRows();
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    const before: Record<string, { columns: string[]; rows: unknown[] }> = {};
    const columnsOf = async (table: string) =>
      (
        await c.query<{ column_name: string; column_default: string | null }>(
          'SELECT column_name, column_default FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position',
          [table],
        )
      ).rows;
    const select = async (table: string, columns: string[]) =>
      (await c.query(`SELECT ${columns.map((x) => `"${x}"`).join(', ')} FROM "${table}" ORDER BY id`)).rows;
    try {
      await c.query('BEGIN');
      for (const [table, list] of Object.entries(rows)) {
        const cols = Object.keys(list[0]);
        for (const r of list) {
          // PostgreSQL's columns are typed: booleans are booleans (SQLite stores 0/1)
          const values = cols.map((k) => (table === 'Defect' && k === 'rejecting' ? r[k] === 1 : r[k]));
          await c.query(`INSERT INTO "${table}" (${cols.map((x) => `"${x}"`).join(', ')}) VALUES (${cols.map((_, k) => `$${k + 1}`).join(', ')})`, values);
        }
        // Rows given their ids, as the old station's sequences had handed them out: move the sequence past them.
        if (table !== 'Station') await c.query(`SELECT setval(pg_get_serial_sequence('"${table}"', 'id'), (SELECT max(id) FROM "${table}"))`);
      }
      await c.query('COMMIT');
      for (const table of Object.keys(rows)) {
        const columns = (await columnsOf(table)).map((x) => x.column_name);
        before[table] = { columns, rows: await select(table, columns) };
      }

      // verify names what the old database lacks
      const newer = shippedMigrations(migrationsDir('postgresql')).filter((m) => !old.names.includes(m));
      const stale = await cli(['db', 'verify'], { env: { DATABASE_URL: url } });
      expect(stale.code).toBe(2);
      expect(JSON.parse(stale.lines.at(-1)!)).toMatchObject({ ok: false, code: 'STN_ERR_DB_MIGRATIONS', migrations: { pending: newer }, inspections: 3 });

      // When today's migrations run on it
      expect(await migrate(url)).toEqual(newer);
      const fresh = await cli(['db', 'verify'], { env: { DATABASE_URL: url } });
      expect(fresh.code, fresh.stderr).toBe(0);

      // Then every old row is there with every old value, and each new column holds its default
      for (const [table, b] of Object.entries(before)) {
        expect(await select(table, b.columns), table).toEqual(b.rows);
        for (const col of (await columnsOf(table)).filter((x) => !b.columns.includes(x.column_name) && !COMPUTED.includes(`${table}.${x.column_name}`))) {
          const values = (await c.query(`SELECT "${col.column_name}" AS v FROM "${table}"`)).rows.map((r) => r.v);
          const expected = col.column_default === null ? null : (await c.query(`SELECT ${col.column_default} AS v`)).rows[0].v;
          expect(values, `${table}.${col.column_name}`).toEqual(values.map(() => expected));
        }
      }
      expect((await c.query('SELECT "expiresAt" FROM "ApiKey"')).rows).toEqual([{ expiresAt: null }]);
      expect((await c.query('SELECT "scoreBin" FROM "Defect" ORDER BY id')).rows).toEqual([{ scoreBin: 91 }, { scoreBin: 20 }]);
      // the records are partitioned by month now, each row in its capture month's partition with its inspection's capture time
      for (const t of ['Inspection', ...CHILDREN]) {
        const where = (await c.query(`SELECT tableoid::regclass::text AS p, count(*)::int AS n FROM "${t}" GROUP BY 1`)).rows;
        expect(where, t).toEqual([{ p: `"${t}_2026_11"`, n: before[t].rows.length }]);
      }
      for (const t of CHILDREN)
        expect(
          (await c.query(`SELECT count(*)::int AS n FROM "${t}" x JOIN "Inspection" i ON i.id = x."inspectionId" AND i."capturedAt" = x."capturedAt"`)).rows,
          t,
        ).toEqual([{ n: before[t].rows.length }]);
      const hour = new Date('2026-11-20T08:00:00.000Z');
      expect((await c.query('SELECT * FROM "StatHour"')).rows).toEqual([{ ...OLD_HOUR, hour }]);
      expect((await c.query('SELECT * FROM "StatScoreHour" ORDER BY class')).rows).toEqual(OLD_SCORES.map((r) => ({ ...r, hour })));
    } finally {
      await c.end();
    }

    // And a station on it lists the old inspections, and old users and keys still work
    await expectStationReadsOldRecords(await stationOn(tmpDir(), url));
  }, 120_000);
});
