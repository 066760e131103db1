import type { Command } from 'commander';
import { resolveDatabase } from '../shared.js';

/** `station db …`: database maintenance. Loads the store only (never the line or onnxruntime-node). */
export function register(program: Command): void {
  const db = program.command('db').description('database maintenance');
  db.command('migrate')
    .description('apply pending migrations to DATABASE_URL (default file:./data/station.db)')
    .option('--config <file>', 'the station file whose database to migrate')
    .option('--data <dir>', 'the data folder whose station.db to migrate')
    .action(async (o) => {
      const { migrate } = await import('../../store/index.js');
      const choice = await resolveDatabase(o);
      const applied = await migrate(choice.url);
      process.stderr.write(`database ${choice.shown} (from ${choice.from}): ${applied.length} migration(s) applied\n`);
      process.stdout.write(JSON.stringify({ applied }) + '\n');
    });
}
