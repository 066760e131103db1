// Generates the Prisma client offline. `prisma generate` does not run the schema engine, but the
// CLI refuses to start without one and would download it; any existing file satisfies the check
// (see ../shared/docs/FIELD-NOTES.md). Migrations never use the CLI: src/store/migrate.ts drives
// Prisma's WebAssembly schema engine.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const env = {
  ...process.env,
  PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? process.execPath,
  PRISMA_HIDE_UPDATE_MESSAGE: '1',
  CHECKPOINT_DISABLE: '1',
};
const r = spawnSync(process.execPath, ['node_modules/prisma/build/index.js', 'generate', '--schema', 'prisma/schema.prisma'], {
  cwd: root, env, stdio: 'inherit',
});
process.exit(r.status ?? 1);
