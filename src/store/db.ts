import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaClient } from './generated/sqlite/client.js';
import { PrismaClient as PgClient } from './generated/postgresql/client.js';
import { PrismaPg } from '@prisma/adapter-pg';
import { migrate } from './migrate.js';
import { PROVIDERS } from './provider.js';
import { parseDatabaseUrl } from './url.js';

export type Db = InstanceType<typeof PrismaClient>;

export { providerOf } from './provider.js';

/**
 * Opens the station database: applies pending migrations (offline, WebAssembly engine), then
 * returns a Prisma client on the driver adapter — better-sqlite3 for `file:` (WAL mode with a
 * busy timeout, so the gallery's reads never block the recorder's writes), pg for
 * `postgresql://`. Both clients come from the one model definition and have the same API.
 */
export async function openDatabase(url: string): Promise<Db> {
  const target = parseDatabaseUrl(url);
  if (target.provider === 'postgresql') {
    await migrate(url);
    // Same models, same API: the PostgreSQL client is generated from the same definition.
    const pg = new PgClient({ adapter: new PrismaPg({ connectionString: target.url }), queryPlanCacheMaxSize: 64 }) as unknown as Db;
    PROVIDERS.set(pg, 'postgresql');
    return pg;
  }
  mkdirSync(path.dirname(target.file), { recursive: true });
  await migrate(url);
  const adapter = new PrismaBetterSqlite3({ url: `file:${target.file}`, timeout: 5000 });
  // Prisma caches compiled query plans keyed by query shape; inserts with JSON columns make many
  // shapes, so a small cache keeps memory flat (the default of 1000 plans grew the heap for minutes).
  const db = new PrismaClient({ adapter, queryPlanCacheMaxSize: 64 });
  PROVIDERS.set(db, 'sqlite');
  await db.$queryRawUnsafe('PRAGMA journal_mode = WAL');
  await db.$queryRawUnsafe('PRAGMA busy_timeout = 5000');
  await db.$queryRawUnsafe('PRAGMA synchronous = NORMAL');
  return db;
}
