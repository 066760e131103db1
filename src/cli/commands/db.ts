import { type Command, InvalidArgumentError } from 'commander';
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
  db.command('backup')
    .argument('<file>', 'where the copy goes (written to FILE.tmp, then renamed)')
    .description('a consistent copy of the SQLite database while the line runs (PostgreSQL: use pg_dump)')
    .option('--config <file>', 'the station file whose database to back up')
    .option('--data <dir>', 'the data folder whose station.db to back up')
    .action(async (file: string, o) => {
      const { backupDatabase } = await import('../../store/index.js');
      const choice = await resolveDatabase(o);
      const r = await backupDatabase(choice.url, file);
      process.stderr.write(`database ${choice.shown} (from ${choice.from}) backed up to ${r.backup}\n`);
      process.stdout.write(JSON.stringify(r) + '\n');
    });
  db.command('verify')
    .argument('[file]', "a database file (a backup); without it, the station's database")
    .description("integrity, foreign keys, migration history, rows and the records' and audit log's hash chains of a database; exit 0 when intact")
    .option('--config <file>', 'the station file whose database to verify (without FILE)')
    .option('--data <dir>', 'the data folder whose station.db to verify (without FILE)')
    .option(
      '--head <id:hash>',
      'a chain head a lot report printed (record ID and its hash): the record must still have that hash (repeatable)',
      (v: string, all: { id: number; hash: string }[]) => {
        const m = /^#?(\d+):([0-9a-fA-F]{64})$/.exec(v.trim());
        if (!m) throw new InvalidArgumentError(`expected ID:HASH (a record id, a colon and its 64 hex digits), as a lot report prints it`);
        return [...all, { id: Number(m[1]), hash: m[2] }];
      },
      [] as { id: number; hash: string }[],
    )
    .action(async (file: string | undefined, o) => {
      const { verifyDatabase, verifyPostgres, parseDatabaseUrl } = await import('../../store/index.js');
      const { StationError } = await import('../../errors/index.js');
      const heads = o.head as { id: number; hash: string }[];
      let r: Awaited<ReturnType<typeof verifyPostgres>>;
      if (file !== undefined) r = await verifyDatabase(file, { heads });
      else {
        const choice = await resolveDatabase(o);
        const db = parseDatabaseUrl(choice.url);
        // PostgreSQL: the migration history and the rows; the server keeps its pages sound itself.
        r = db.provider === 'sqlite' ? await verifyDatabase(db.file) : await verifyPostgres(choice.url);
      }
      process.stdout.write(JSON.stringify(r) + '\n');
      if (!r.ok && r.code) throw new StationError(r.code, r.problems.map((p) => p.message).join('; '));
    });
}
