import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import Database from 'better-sqlite3';
import { bindMigrationAwareSqlAdapterFactory } from '@prisma/driver-adapter-utils';
import { StationError } from '../errors/index.js';
import { PRISMA_DIR } from '../paths.js';
import { parseDatabaseUrl } from './url.js';

/** The subset of @prisma/schema-engine-wasm's SchemaEngine the station drives. */
interface WasmSchemaEngine {
  applyMigrations(input: unknown): Promise<{ appliedMigrationNames: string[] }>;
  diff(input: unknown): Promise<{ exitCode: number; stdout: string | null }>;
  free(): void;
}
interface WasmModule {
  SchemaEngine: { new: (options: unknown, log: (msg: string) => void, adapter: object) => Promise<WasmSchemaEngine> };
  __wbg_set_wasm(exports: Record<string, unknown>): void;
}
/** The part of the WebAssembly global used here (Node has it; @types/node does not declare it). */
declare const WebAssembly: {
  instantiate(bytes: Uint8Array, imports: Record<string, unknown>): Promise<{ instance: { exports: Record<string, unknown> } }>;
};

let wasmModule: Promise<WasmModule> | null = null;

/**
 * Prisma's schema engine compiled to WebAssembly: migrations with nothing downloaded. On Node 20
 * the package's entry imports the `.wasm` directly, so the bindings are loaded and instantiated
 * here by hand.
 */
function loadSchemaEngine(): Promise<WasmModule> {
  wasmModule ??= (async () => {
    const bgUrl = import.meta.resolve('@prisma/schema-engine-wasm/schema_engine_bg');
    const dir = path.dirname(fileURLToPath(bgUrl));
    const bg = (await import(bgUrl)) as WasmModule;
    const bytes = await readFile(path.join(dir, 'schema_engine_bg.wasm'));
    const { instance } = await WebAssembly.instantiate(bytes, { './schema_engine_bg.js': bg });
    bg.__wbg_set_wasm(instance.exports);
    (instance.exports.__wbindgen_start as (() => void) | undefined)?.();
    return bg;
  })();
  return wasmModule;
}

export function migrationsDir(provider: 'sqlite' | 'postgresql'): string {
  return path.join(PRISMA_DIR, provider === 'sqlite' ? 'migrations' : `migrations-${provider}`);
}

const FILTERS = { externalTables: [], externalEnums: [] };
/** The advisory lock key migrations hold on PostgreSQL (any fixed number the station owns). */
const MIGRATION_LOCK = 0x5354_4e4d; // "STNM"

function migrationsList(dir: string) {
  const lock = path.join(dir, 'migration_lock.toml');
  const dirs = existsSync(dir)
    ? readdirSync(dir, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name)
        .sort()
    : [];
  return {
    baseDir: dir,
    lockfile: { path: 'migration_lock.toml', content: existsSync(lock) ? readFileSync(lock, 'utf8') : null },
    shadowDbInitScript: '',
    migrationDirectories: dirs.map((name) => {
      const file = path.join(dir, name, 'migration.sql');
      return {
        path: name,
        migrationFile: {
          path: 'migration.sql',
          content: existsSync(file) ? { tag: 'ok', value: readFileSync(file, 'utf8') } : { tag: 'error', value: `${file} is missing` },
        },
      };
    }),
  };
}

/** The one model definition, as each provider's schema (PostgreSQL's is derived at install). */
function schemaText(provider: 'sqlite' | 'postgresql'): string {
  return readFileSync(path.join(PRISMA_DIR, provider === 'sqlite' ? 'schema.prisma' : path.join('postgresql', 'schema.prisma')), 'utf8');
}

/** What a connection of @prisma/adapter-pg holds: its pool and its error translation. */
interface PgScriptRunner {
  client: pg.Pool;
  onError(err: unknown): never;
  executeScript(script: string): Promise<void>;
}

/**
 * A migration's script sent to PostgreSQL whole, as one simple query: the server runs it in one
 * implicit transaction, so a migration applies entirely or not at all, and a function body's
 * semicolons stay inside it. (The adapter splits scripts at every ";" and runs the pieces one by
 * one, each on whichever pooled connection is free.)
 */
function wholeScripts(a: PgScriptRunner): void {
  if (typeof a.client?.query !== 'function' || typeof a.onError !== 'function') throw new Error('@prisma/adapter-pg: unexpected connection shape');
  a.executeScript = async (script: string) => {
    try {
      await a.client.query(script);
    } catch (err) {
      a.onError(err);
    }
  };
}

async function withEngine<T>(url: string, fn: (engine: WasmSchemaEngine) => Promise<T>): Promise<T> {
  const db = parseDatabaseUrl(url);
  const bg = await loadSchemaEngine();
  // The engine never disposes the connections it opens; a second engine in the same process
  // would then find the database locked. Track them and close them ourselves.
  let inner: PrismaBetterSqlite3 | PrismaPg;
  if (db.provider === 'sqlite') {
    mkdirSync(path.dirname(db.file), { recursive: true });
    inner = new PrismaBetterSqlite3({ url: `file:${db.file}` });
  } else {
    inner = new PrismaPg({ connectionString: db.url });
  }
  const opened: { dispose(): Promise<void> }[] = [];
  const tracked = Object.assign(Object.create(inner) as typeof inner, {
    connect: async () => {
      const a = await inner.connect();
      opened.push(a);
      if (db.provider === 'postgresql') wholeScripts(a as unknown as PgScriptRunner);
      return a;
    },
    connectToShadowDb: async () => {
      const a = await inner.connectToShadowDb();
      opened.push(a);
      return a;
    },
  });
  const engine = await bg.SchemaEngine.new(
    { datamodels: [['schema.prisma', schemaText(db.provider)]] },
    () => undefined,
    bindMigrationAwareSqlAdapterFactory(tracked),
  );
  try {
    return await fn(engine);
  } finally {
    engine.free();
    for (const a of opened) await a.dispose().catch(() => undefined);
  }
}

/**
 * Whether every committed migration is already applied, read without the schema engine: the
 * engine takes an exclusive lock, which a second process (a CLI command beside a running
 * station) must not need when there is nothing to do.
 */
function upToDate(file: string, dir: string): boolean {
  if (!existsSync(file)) return false;
  const db = new Database(file, { readonly: true, fileMustExist: true, timeout: 5000 });
  try {
    const table = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_prisma_migrations'").get();
    if (!table) return false;
    const applied = new Set(
      (
        db.prepare('SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL').all() as {
          migration_name: string;
        }[]
      ).map((r) => r.migration_name),
    );
    return migrationsList(dir).migrationDirectories.every((m) => applied.has(m.path));
  } finally {
    db.close();
  }
}

/**
 * Applies every migration not yet in the database; returns the names applied. Idempotent.
 * `dir` is the migrations folder, the shipped one unless given (the upgrade test applies an
 * older release's set).
 */
export async function migrate(url: string, dir?: string): Promise<string[]> {
  const target = parseDatabaseUrl(url);
  const folder = dir ?? migrationsDir(target.provider);
  if (target.provider === 'sqlite' && upToDate(target.file, folder)) return [];
  const apply = () =>
    withEngine(url, async (engine) => {
      const out = await engine.applyMigrations({ migrationsList: migrationsList(folder), filters: FILTERS });
      return out.appliedMigrationNames;
    });
  try {
    if (target.provider === 'sqlite') return await apply();
    // Several stations starting at once against one PostgreSQL: one migrates, the others wait.
    const lock = new pg.Client({ connectionString: target.url, connectionTimeoutMillis: 10_000 });
    await lock.connect();
    try {
      await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
      return await apply();
    } finally {
      await lock.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
      await lock.end().catch(() => undefined);
    }
  } catch (err) {
    if (err instanceof StationError) throw err;
    throw new StationError('STN_ERR_STORE_MIGRATION', `migrations failed on ${url}: ${(err as Error).message}`, { cause: err });
  }
}

/** SQL that takes the committed migrations to prisma/schema.prisma (development: new migrations). */
export async function diffSchema(url: string): Promise<string> {
  // The shadow-database route fails with the SQLite adapter; diff against a database that the
  // committed migrations were just applied to instead.
  const provider = parseDatabaseUrl(url).provider;
  await migrate(url);
  return withEngine(url, async (engine) => {
    const schema = schemaText(provider);
    // The first migration of a provider is the whole schema from nothing (introspecting an empty
    // PostgreSQL through the pg adapter fails on catalog columns of type "char").
    const first = migrationsList(migrationsDir(provider)).migrationDirectories.length === 0;
    const out = await engine.diff({
      from: first ? { tag: 'empty' } : { tag: 'schemaDatasource', files: [{ path: 'schema.prisma', content: schema }], configDir: PRISMA_DIR },
      to: { tag: 'schemaDatamodel', files: [{ path: 'schema.prisma', content: schema }] },
      script: true,
      exitCode: null,
      filters: FILTERS,
    });
    return out.stdout ?? '';
  });
}
