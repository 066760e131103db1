/**
 * Backups and checks of the station's SQLite database, for `station db backup` and
 * `station db verify`. Plain better-sqlite3 on the file (no Prisma client, no schema engine):
 * both run beside a station that is recording, and neither may take a lock it would wait on.
 */
import { closeSync, existsSync, fsyncSync, openSync, readdirSync, renameSync, rmSync, statSync, chmodSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { StationError, type ErrorCode } from '../errors/index.js';
import { type ChainDefect, type ChainHead, type ChainSource, type StoredAudit, type StoredRecord, verifyChains } from './chain.js';
import { migrationsDir } from './migrate.js';
import { MONTH_PARTITIONS_SQL, partitionMonth } from './partitions.js';
import { parseDatabaseUrl, redact } from './url.js';

/** What `station db backup` prints. */
export interface BackupResult {
  backup: string;
  bytes: number;
  inspections: number;
  ms: number;
}

/** The command a PostgreSQL station is backed up with (the server's own tool, consistent under load). */
export const PG_DUMP_COMMAND = 'pg_dump --format=custom --file=FILE "$DATABASE_URL"';

/**
 * A consistent copy of the station's SQLite database while the line runs, through SQLite's
 * online backup API. All pages are copied in one step, so the copy is one read transaction:
 * in WAL mode that never blocks the recorder, and no commit in between can restart it (a
 * backup copied page by page restarts whenever another process writes, and on a busy line
 * might never finish). Written to FILE.tmp (mode 0600), switched to a self-contained rollback
 * journal, fsynced, then renamed: FILE is either absent or a whole database.
 */
export async function backupDatabase(url: string, file: string): Promise<BackupResult> {
  const target = parseDatabaseUrl(url);
  if (target.provider !== 'sqlite') {
    throw new StationError(
      'STN_ERR_DB_POSTGRES',
      `the station's database is PostgreSQL: back it up with the server's tool, ${PG_DUMP_COMMAND.replace('FILE', file)} (restore with pg_restore)`,
    );
  }
  if (!existsSync(target.file)) throw new StationError('STN_ERR_DB_NOT_FOUND', `${target.file} does not exist`);
  const dest = path.resolve(file);
  const tmp = `${dest}.tmp`;
  const started = performance.now();
  const source = openReadonly(target.file);
  try {
    rmSync(tmp, { force: true });
    // Created here so that the copy is the owner's only from its first byte.
    closeSync(openSync(tmp, 'wx', 0o600));
    await source.backup(tmp, { progress: () => 0x7fff_ffff });
  } catch (err) {
    rmSync(tmp, { force: true });
    if (err instanceof StationError) throw err;
    throw new StationError('STN_ERR_DB_BACKUP_FAILED', `backup of ${target.file} to ${dest} failed: ${(err as Error).message}`, { cause: err });
  } finally {
    source.close();
  }
  let inspections: number;
  try {
    const copy = new Database(tmp, { fileMustExist: true });
    try {
      // The source is in WAL mode and the copy inherits it; a backup is one file that can be moved alone.
      copy.pragma('journal_mode = DELETE');
      inspections = (copy.prepare('SELECT count(*) AS n FROM Inspection').get() as { n: number }).n;
    } finally {
      copy.close();
    }
    chmodSync(tmp, 0o600);
    fsyncFile(tmp);
    renameSync(tmp, dest);
    fsyncFile(path.dirname(dest));
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new StationError('STN_ERR_DB_BACKUP_FAILED', `backup to ${dest} failed: ${(err as Error).message}`, { cause: err });
  }
  return { backup: dest, bytes: statSync(dest).size, inspections, ms: Math.round(performance.now() - started) };
}

/** What `station db verify` prints (one JSON line). */
export interface VerifyReport {
  file: string;
  ok: boolean;
  /** The first problem's code when not ok. */
  code?: ErrorCode;
  problems: { code: ErrorCode; message: string }[];
  /** `ok`, or the first lines PRAGMA integrity_check reported. */
  integrity: string;
  foreignKeys: { table: string; rowid: number | null; parent: string }[];
  migrations: { applied: number; pending: string[]; unknown: string[]; failed: string[] };
  inspections: number;
  /** Rows per table (the station's tables, not SQLite's or Prisma's own). */
  tables: Record<string, number>;
  /** What the checks over the records found: `chain`, the hash chains' walk. */
  records: Record<string, unknown>;
  /** PostgreSQL: the months the records are partitioned into (`YYYY-MM`, oldest first). */
  months?: string[];
}

/** The migrations this release ships, by folder name (prisma/migrations). */
export function shippedMigrations(dir = migrationsDir('sqlite')): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
}

/**
 * Checks a station database file: SQLite's integrity and foreign keys, the migration history
 * against the shipped migrations, rows per table, then the record checks. Opens the file read
 * only and never changes it. Reports every problem found; `code` is the first one's.
 */
export async function verifyDatabase(file: string, o: { migrations?: string[]; heads?: ChainHead[] } = {}): Promise<VerifyReport> {
  const abs = path.resolve(file);
  if (!existsSync(abs)) throw new StationError('STN_ERR_DB_NOT_FOUND', `${abs} does not exist`);
  const report: VerifyReport = {
    file: abs,
    ok: false,
    problems: [],
    integrity: 'not checked',
    foreignKeys: [],
    migrations: { applied: 0, pending: [], unknown: [], failed: [] },
    inspections: 0,
    tables: {},
    records: {},
  };
  const problem = (code: ErrorCode, message: string) => report.problems.push({ code, message });
  let db: Database.Database;
  try {
    db = openReadonly(abs);
  } catch (err) {
    throw new StationError('STN_ERR_DB_CORRUPT', `${abs} cannot be opened as a database: ${(err as Error).message}`, { cause: err });
  }
  try {
    try {
      const lines = (db.pragma('integrity_check(20)') as { integrity_check: string }[]).map((r) => r.integrity_check);
      report.integrity = lines.join('\n').replace(/\n+/g, '; ');
    } catch (err) {
      // A header or first page too damaged for the check to start ("file is not a database").
      report.integrity = (err as Error).message;
    }
    if (report.integrity !== 'ok') {
      problem('STN_ERR_DB_CORRUPT', `PRAGMA integrity_check: ${report.integrity}`);
      return finish(report);
    }
    report.foreignKeys = (db.pragma('foreign_key_check') as { table: string; rowid: number | null; parent: string }[]).map((r) => ({
      table: r.table,
      rowid: r.rowid,
      parent: r.parent,
    }));
    if (report.foreignKeys.length > 0) {
      const f = report.foreignKeys[0];
      problem(
        'STN_ERR_DB_FOREIGN_KEY',
        `${report.foreignKeys.length} row(s) point at rows that do not exist; first: ${f.table} rowid ${f.rowid} → ${f.parent}`,
      );
    }
    const shipped = o.migrations ?? shippedMigrations();
    const hasHistory = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_prisma_migrations'").get();
    const rows = hasHistory
      ? (db.prepare('SELECT migration_name AS name, finished_at AS finished, rolled_back_at AS rolledBack FROM _prisma_migrations').all() as {
          name: string;
          finished: string | null;
          rolledBack: string | null;
        }[])
      : [];
    checkHistory(report, shipped, hasHistory ? rows : null);
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_prisma_%' ORDER BY name")
      .all() as { name: string }[];
    for (const t of tables) report.tables[t.name] = (db.prepare(`SELECT count(*) AS n FROM "${t.name.replaceAll('"', '""')}"`).get() as { n: number }).n;
    report.inspections = report.tables.Inspection ?? 0;
    const columns = (t: string) => (db.pragma(`table_info("${t}")`) as { name: string }[]).map((c) => c.name);
    await checkChains(report, columns('Inspection').includes('hash') && columns('AuditLog').includes('hash') ? sqliteChains(db) : null, o.heads);
    return finish(report);
  } finally {
    db.close();
  }
}

type HistoryRow = { name: string; finished: unknown; rolledBack: unknown };

/** Compares a migration history (`null`: no `_prisma_migrations` table) with the shipped migrations; notes the problem. */
function checkHistory(report: VerifyReport, shipped: string[], rows: HistoryRow[] | null): void {
  const list = rows ?? [];
  const applied = new Set(list.filter((r) => r.finished !== null && r.rolledBack === null).map((r) => r.name));
  const m = {
    applied: applied.size,
    pending: shipped.filter((x) => !applied.has(x)),
    unknown: [...applied].filter((x) => !shipped.includes(x)).sort(),
    failed: list.filter((r) => r.finished === null && r.rolledBack === null).map((r) => r.name),
  };
  report.migrations = m;
  if (rows === null) {
    report.problems.push({ code: 'STN_ERR_DB_MIGRATIONS', message: 'no migration history (_prisma_migrations): not a station database' });
  } else if (m.pending.length || m.unknown.length || m.failed.length) {
    const parts = [
      m.pending.length ? `pending ${m.pending.join(', ')} (run station db migrate)` : '',
      m.unknown.length ? `unknown to this release ${m.unknown.join(', ')} (made by a newer station?)` : '',
      m.failed.length ? `started and never finished ${m.failed.join(', ')}` : '',
    ];
    report.problems.push({ code: 'STN_ERR_DB_MIGRATIONS', message: `migration history: ${parts.filter(Boolean).join('; ')}` });
  }
}

/**
 * The checks of verifyDatabase that apply to a PostgreSQL station database: the migration
 * history and rows per table. The server keeps pages and foreign keys sound itself (no
 * integrity pragma to run; foreign keys are always enforced); record checks run on SQLite files
 * only for now. A dump is checked with `pg_restore --list`.
 */
export async function verifyPostgres(url: string, o: { migrations?: string[]; heads?: ChainHead[] } = {}): Promise<VerifyReport> {
  const report: VerifyReport = {
    file: redact(url),
    ok: false,
    problems: [],
    integrity: 'not checked: PostgreSQL keeps its own pages',
    foreignKeys: [],
    migrations: { applied: 0, pending: [], unknown: [], failed: [] },
    inspections: 0,
    tables: {},
    records: {},
  };
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  try {
    await c.connect();
  } catch (err) {
    throw new StationError('STN_ERR_STORE_CONNECT', `${redact(url)}: ${(err as Error).message}`, { cause: err });
  }
  try {
    // The chains are read back as text: times in ISO form and floats with every digit, whatever the role's settings.
    await c.query(`SET DateStyle = 'ISO'; SET extra_float_digits = 3; SET TIME ZONE 'UTC'`);
    const tables = (
      await c.query<{ name: string }>(
        // Tables, a partitioned one once (its month partitions are counted in it).
        "SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY c.relname",
      )
    ).rows.map((r) => r.name);
    const history = tables.includes('_prisma_migrations')
      ? (await c.query<HistoryRow>('SELECT migration_name AS name, finished_at AS finished, rolled_back_at AS "rolledBack" FROM _prisma_migrations')).rows
      : null;
    checkHistory(report, o.migrations ?? shippedMigrations(migrationsDir('postgresql')), history);
    for (const t of tables.filter((x) => !x.startsWith('_prisma_'))) {
      report.tables[t] = Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM "${t.replaceAll('"', '""')}"`)).rows[0].n);
    }
    report.inspections = report.tables.Inspection ?? 0;
    if (tables.includes('Inspection'))
      report.months = (await c.query<{ name: string }>(MONTH_PARTITIONS_SQL)).rows.flatMap((r) => partitionMonth(r.name) ?? []);
    const chained = await c.query(
      `SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name IN ('Inspection', 'AuditLog') AND column_name = 'hash'`,
    );
    await checkChains(report, chained.rowCount === 2 ? postgresChains(c) : null, o.heads);
    return finish(report);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** The hash chains' walk (null: the database predates them): under `records.chain`, a broken link as STN_ERR_DB_CHAIN. */
async function checkChains(report: VerifyReport, src: ChainSource | null, heads: ChainHead[] = []): Promise<void> {
  if (!src) {
    report.records.chain = 'not checked: the records predate the hash chain (station db migrate adds it)';
    return;
  }
  const chain = await verifyChains(src, heads);
  report.records.chain = chain;
  if (chain.broken > 0) report.problems.push({ code: 'STN_ERR_DB_CHAIN', message: `${chain.broken} broken link(s) in the hash chains; first: ${chain.first}` });
}

const RECORD_COLUMNS = [
  'id',
  'stationId',
  'partSeq',
  'source',
  'partId',
  'lot',
  'capturedAt',
  'decidedAt',
  'verdict',
  'errorCode',
  'reasons',
  'outputs',
  'maxScore',
  'defectCount',
  'timings',
  'latencyMs',
  'recipeName',
  'recipeVersionId',
  'modelId',
  'truth',
  'code',
  'imageSha256',
  'prevHash',
  'hash',
] as const;
const TIMES = new Set(['capturedAt', 'decidedAt', 'at']);
const DEFECT_COLUMNS = ['inspectionId', 'class', 'score', 'rejecting', 'area', 'x1', 'y1', 'x2', 'y2'] as const;
const AUDIT_COLUMNS = ['id', 'at', 'actor', 'action', 'target', 'details', 'prevHash', 'hash'] as const;

/** Findings in id order, attached to the page's records. */
function withDefects(rows: Record<string, unknown>[], defects: Record<string, unknown>[]): StoredRecord[] {
  const by = new Map<number, ChainDefect[]>();
  for (const d of defects) {
    const list = by.get(Number(d.inspectionId)) ?? [];
    list.push({
      class: d.class as string,
      score: Number(d.score),
      rejecting: d.rejecting === true || d.rejecting === 1,
      area: d.area as number | null,
      x1: d.x1 as number | null,
      y1: d.y1 as number | null,
      x2: d.x2 as number | null,
      y2: d.y2 as number | null,
    });
    by.set(Number(d.inspectionId), list);
  }
  return rows.map((r) => ({ ...(r as unknown as StoredRecord), defects: by.get(Number(r.id)) ?? [] }));
}

/** SQLite keeps times as ISO text and JSON as text: read back as the station wrote them. */
function sqliteChains(db: Database.Database): ChainSource {
  const json = new Set(['reasons', 'outputs', 'timings', 'truth', 'imageSha256', 'details']);
  const parse = (row: Record<string, unknown>) => {
    for (const [k, v] of Object.entries(row)) {
      if (TIMES.has(k)) row[k] = new Date(v as string);
      else if (json.has(k)) row[k] = v === null ? null : JSON.parse(v as string);
    }
    return row;
  };
  const records = db.prepare(`SELECT ${RECORD_COLUMNS.map((c) => `"${c}"`).join(', ')} FROM Inspection WHERE id > ? ORDER BY id LIMIT ?`);
  const defects = db.prepare(`SELECT ${DEFECT_COLUMNS.map((c) => `"${c}"`).join(', ')} FROM Defect WHERE inspectionId BETWEEN ? AND ? ORDER BY id`);
  const audit = db.prepare(`SELECT ${AUDIT_COLUMNS.map((c) => `"${c}"`).join(', ')} FROM AuditLog WHERE id > ? ORDER BY id LIMIT ?`);
  return {
    async records(after, limit) {
      const rows = (records.all(after, limit) as Record<string, unknown>[]).map(parse);
      if (rows.length === 0) return [];
      return withDefects(rows, defects.all(rows[0].id, rows[rows.length - 1].id) as Record<string, unknown>[]);
    },
    async audit(after, limit) {
      return (audit.all(after, limit) as Record<string, unknown>[]).map(parse) as unknown as StoredAudit[];
    },
  };
}

/** PostgreSQL: times as text read as UTC (pg would read a timestamp without time zone in local time), JSON parsed by pg. */
function postgresChains(c: pg.Client): ChainSource {
  const cols = (list: readonly string[]) =>
    list.map((x) => (TIMES.has(x) ? `"${x}"::text AS "${x}"` : x === 'partSeq' ? `"${x}"::text AS "${x}"` : `"${x}"`)).join(', ');
  const utc = (row: Record<string, unknown>) => {
    for (const k of TIMES) if (typeof row[k] === 'string') row[k] = new Date(`${(row[k] as string).replace(' ', 'T')}Z`);
    return row;
  };
  return {
    async records(after, limit) {
      const rows = (await c.query(`SELECT ${cols(RECORD_COLUMNS)} FROM "Inspection" WHERE id > $1 ORDER BY id LIMIT $2`, [after, limit])).rows.map(utc);
      if (rows.length === 0) return [];
      const defects = await c.query(`SELECT ${cols(DEFECT_COLUMNS)} FROM "Defect" WHERE "inspectionId" BETWEEN $1 AND $2 ORDER BY id`, [
        rows[0].id,
        rows[rows.length - 1].id,
      ]);
      return withDefects(rows, defects.rows);
    },
    async audit(after, limit) {
      return (await c.query(`SELECT ${cols(AUDIT_COLUMNS)} FROM "AuditLog" WHERE id > $1 ORDER BY id LIMIT $2`, [after, limit])).rows.map(
        utc,
      ) as unknown as StoredAudit[];
    },
  };
}

function finish(r: VerifyReport): VerifyReport {
  r.ok = r.problems.length === 0;
  if (!r.ok) r.code = r.problems[0].code;
  return r;
}

/** Read only, waiting out a writer's brief exclusive lock (checkpoints) rather than failing. */
function openReadonly(file: string): Database.Database {
  return new Database(file, { readonly: true, fileMustExist: true, timeout: 5000 });
}

function fsyncFile(p: string): void {
  const fd = openSync(p, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
