// Generates the Prisma clients offline, one per database, from the one model definition in
// prisma/schema.prisma (SQLite, the embedded default). The PostgreSQL schema is derived from it
// here (provider and output changed, nothing else) into prisma/postgresql/schema.prisma.
// `prisma generate` does not run the schema engine, but the CLI refuses to start without one and
// would download it; any existing file satisfies the check (see ../shared/docs/FIELD-NOTES.md).
// Migrations never use the CLI: src/store/migrate.ts drives Prisma's WebAssembly schema engine.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const env = {
  ...process.env,
  PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? process.execPath,
  PRISMA_HIDE_UPDATE_MESSAGE: '1',
  CHECKPOINT_DISABLE: '1',
};

const sqlite = readFileSync(`${root}prisma/schema.prisma`, 'utf8');
const postgresql = sqlite
  .replace('provider = "sqlite"', 'provider = "postgresql"')
  .replace('output   = "../src/store/generated/sqlite"', 'output   = "../../src/store/generated/postgresql"');
if (postgresql === sqlite || !postgresql.includes('generated/postgresql'))
  throw new Error('prisma/schema.prisma: cannot derive the PostgreSQL schema (provider or output line changed?)');
mkdirSync(`${root}prisma/postgresql`, { recursive: true });
writeFileSync(
  `${root}prisma/postgresql/schema.prisma`,
  `// GENERATED from ../schema.prisma by scripts/prisma-generate.mjs — edit that file instead.\n${postgresql}`,
);

for (const schema of ['prisma/schema.prisma', 'prisma/postgresql/schema.prisma']) {
  // Quiet unless it fails: an install prints only what the user needs.
  const r = spawnSync(process.execPath, ['node_modules/prisma/build/index.js', 'generate', '--schema', schema], { cwd: root, env, encoding: 'utf8' });
  if (r.status !== 0) {
    process.stderr.write(`${r.stdout ?? ''}${r.stderr ?? ''}`);
    process.exit(r.status ?? 1);
  }
}
