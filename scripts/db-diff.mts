// Development: writes prisma/migrations/<timestamp>_<name>/migration.sql with the SQL that takes
// the committed migrations to prisma/schema.prisma. Run: node --import tsx scripts/db-diff.mts NAME
import { mkdirSync, writeFileSync, rmSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { diffSchema, migrationsDir } from '../src/store/migrate.ts';

const name = process.argv[2];
if (!name) throw new Error('usage: db-diff.mts NAME');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'station-diff-'));
try {
  const sql = await diffSchema(`file:${path.join(tmp, 'diff.db')}`);
  if (!sql.trim() || /empty migration/i.test(sql)) { console.log('schema and migrations agree; nothing to write'); process.exit(0); }
  const stamp = new Date().toISOString().replace(/\D/g, '').slice(0, 14);
  const dir = path.join(migrationsDir('sqlite'), `${stamp}_${name}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'migration.sql'), sql);
  console.log(`wrote ${dir}`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
