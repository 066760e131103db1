import readline from 'node:readline';
import { type Command, Option } from 'commander';
import { type DatabaseChoice, resolveDatabase } from '../shared.js';

/** The API's pattern for user names (src/api): letters, digits and `_ . @ -`, 1 to 64 of them. */
export const USER_NAME = /^[A-Za-z0-9_.@-]{1,64}$/;

/** `--config FILE` / `--data DIR`: which station's database the user commands work on. */
const databaseOptions = (c: Command) =>
  c
    .addOption(new Option('--config <file>', 'the station file whose database to use (its storage, as `station run` opens it)').conflicts('data'))
    .addOption(new Option('--data <dir>', 'the data folder whose station.db to use (as `station demo --data`)'));

/** Opens the chosen database, runs `fn` on its accounts, and always disconnects. */
async function withAccounts<T>(choice: DatabaseChoice, fn: (accounts: import('../../store/index.js').Accounts) => Promise<T>): Promise<T> {
  const { Accounts, openDatabase } = await import('../../store/index.js');
  const database = await openDatabase(choice.url);
  try {
    return await fn(new Accounts(database));
  } finally {
    await database.$disconnect();
  }
}

/** `station user …`: people who log in to the gallery and the API. */
export function register(program: Command): void {
  const user = program
    .command('user')
    .description(
      'people who log in to the gallery and the API (each subcommand takes --config FILE or --data DIR, default DATABASE_URL, and says which database it wrote)',
    );
  databaseOptions(
    user
      .command('add')
      .description('add a user; the password comes from STATION_PASSWORD or a prompt')
      .argument('<name>', 'user name (letters, digits, _ . @ -; up to 64)')
      .requiredOption('--role <role>', 'viewer | quality | integrator | admin'),
  ).action(async (name: string, o) => {
    const [{ StationError }, { ROLES }] = await Promise.all([import('../../errors/index.js'), import('../../store/index.js')]);
    if (!USER_NAME.test(name)) throw new StationError('STN_ERR_HTTP_BAD_REQUEST', `user name "${name}" must match ${USER_NAME.source}`);
    if (!(ROLES as readonly string[]).includes(o.role)) throw new StationError('STN_ERR_HTTP_BAD_REQUEST', `--role must be one of ${ROLES.join(', ')}`);
    const choice = await resolveDatabase(o);
    const password = process.env.STATION_PASSWORD || (await promptPassword(`password for ${name}: `));
    if (password.length < 8) throw new StationError('STN_ERR_HTTP_BAD_REQUEST', 'the password needs at least 8 characters');
    await withAccounts(choice, async (accounts) => {
      if (await accounts.findUser(name)) throw new StationError('STN_ERR_HTTP_CONFLICT', `user ${name} exists in ${choice.shown}`);
      await accounts.createUser(name, o.role, password);
      await accounts.audit('station user add (command line)', 'user.create', name, { role: o.role });
    });
    process.stderr.write(`user ${name} (${o.role}) added to ${choice.shown} (from ${choice.from})\n`);
    process.stdout.write(JSON.stringify({ user: name, role: o.role, database: choice.shown }) + '\n');
  });
}

/** Reads a password from the terminal without echoing it (or one line from a pipe). */
export function promptPassword(question: string): Promise<string> {
  return new Promise((resolve) => {
    const rl = readline.createInterface({ input: process.stdin, output: process.stderr, terminal: process.stdin.isTTY });
    const out = rl as unknown as { _writeToOutput?: (s: string) => void };
    rl.question(question, (answer) => {
      rl.close();
      process.stderr.write('\n');
      resolve(answer);
    });
    out._writeToOutput = () => undefined;
  });
}
