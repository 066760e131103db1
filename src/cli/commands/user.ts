import readline from 'node:readline';
import { type Command, Option } from 'commander';
import { USERNAME_PATTERN } from '../../store/accounts.js';
import { type DatabaseChoice, resolveDatabase } from '../shared.js';

/** The API's pattern for user names (one definition, src/store/accounts.ts): letters, digits and `_ . @ -`, 1 to 64 of them. */
export const USER_NAME = new RegExp(USERNAME_PATTERN);

/** Refuses a name the API would refuse (exit code 2, nothing written). */
async function checkName(name: string): Promise<void> {
  const { StationError } = await import('../../errors/index.js');
  if (!USER_NAME.test(name)) throw new StationError('STN_ERR_HTTP_BAD_REQUEST', `user name "${name}" must match ${USER_NAME.source}`);
}

/** The one JSON line a user command ends with, and a sentence on stderr naming the database. */
function report(choice: DatabaseChoice, said: string, json: object): void {
  process.stderr.write(`${said} in ${choice.shown} (from ${choice.from})\n`);
  process.stdout.write(`${JSON.stringify({ ...json, database: choice.shown })}\n`);
}

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
      'people who log in to the gallery and the API (each subcommand takes --config FILE or --data DIR; DATABASE_URL wins when set, ./data/station.db is the default; it says which database it wrote)',
    );
  databaseOptions(
    user
      .command('add')
      .description('add a user; the password comes from STATION_PASSWORD or a prompt')
      .argument('<name>', 'user name (letters, digits, _ . @ -; up to 64)')
      .requiredOption('--role <role>', 'viewer | quality | integrator | admin'),
  ).action(async (name: string, o) => {
    const [{ StationError }, { ROLES }] = await Promise.all([import('../../errors/index.js'), import('../../store/index.js')]);
    await checkName(name);
    if (!(ROLES as readonly string[]).includes(o.role)) throw new StationError('STN_ERR_HTTP_BAD_REQUEST', `--role must be one of ${ROLES.join(', ')}`);
    const choice = await resolveDatabase(o);
    const password = process.env.STATION_PASSWORD || (await promptPassword(`password for ${name}: `));
    const { checkNewPassword } = await import('../../store/index.js');
    checkNewPassword(name, password);
    await withAccounts(choice, async (accounts) => {
      if (await accounts.findUser(name)) throw new StationError('STN_ERR_HTTP_CONFLICT', `user ${name} exists in ${choice.shown}`);
      await accounts.createUser(name, o.role, password);
      await accounts.audit('station user add (command line)', 'user.create', name, { role: o.role });
    });
    process.stderr.write(`user ${name} (${o.role}) added to ${choice.shown} (from ${choice.from})\n`);
    process.stdout.write(JSON.stringify({ user: name, role: o.role, database: choice.shown }) + '\n');
  });

  databaseOptions(user.command('list').description('every user (name, role, created, disabled) and every API key (never the key)')).action(async (o) => {
    const choice = await resolveDatabase(o);
    const { users, keys } = await withAccounts(choice, async (accounts) => ({ users: await accounts.listUsers(), keys: await accounts.listApiKeys() }));
    for (const u of users) process.stderr.write(`${u.username}\t${u.role}\t${u.disabledAt ? `disabled ${u.disabledAt.toISOString()}` : 'enabled'}\n`);
    report(choice, `${users.length} users, ${keys.length} API keys`, { users, keys });
  });

  /** A change to one existing user: audited as the command line, exit 2 when there is no such user. */
  const change =
    (verb: string, action: string, fn: (accounts: import('../../store/index.js').Accounts, name: string) => Promise<boolean>) =>
    async (name: string, choice: DatabaseChoice, details: object) => {
      const { StationError } = await import('../../errors/index.js');
      await withAccounts(choice, async (accounts) => {
        if (!(await fn(accounts, name))) throw new StationError('STN_ERR_HTTP_NOT_FOUND', `no user ${name} in ${choice.shown}`);
        await accounts.audit(`station user ${verb} (command line)`, action, name, details);
      });
    };

  for (const [verb, disabled] of [
    ['disable', true],
    ['enable', false],
  ] as const) {
    databaseOptions(
      user
        .command(verb)
        .description(
          disabled ? 'disable a user: its sessions end and its API keys are revoked at once' : 'let a disabled user log in again (revoked keys stay revoked)',
        )
        .argument('<name>', 'user name'),
    ).action(async (name: string, o) => {
      await checkName(name);
      const choice = await resolveDatabase(o);
      await change(verb, `user.${verb}`, (a, n) => a.setDisabled(n, disabled))(name, choice, {});
      report(choice, `user ${name} ${disabled ? 'disabled (sessions ended, keys revoked)' : 'enabled'}`, { user: name, disabled });
    });
  }

  databaseOptions(
    user
      .command('role')
      .description("change a user's role: its sessions end and its API keys are revoked at once")
      .argument('<name>', 'user name')
      .argument('<role>', 'viewer | quality | integrator | admin'),
  ).action(async (name: string, role: string, o) => {
    const [{ StationError }, { ROLES }] = await Promise.all([import('../../errors/index.js'), import('../../store/index.js')]);
    await checkName(name);
    if (!(ROLES as readonly string[]).includes(role)) throw new StationError('STN_ERR_HTTP_BAD_REQUEST', `the role must be one of ${ROLES.join(', ')}`);
    const choice = await resolveDatabase(o);
    await change('role', 'user.role', (a, n) => a.setRole(n, role as (typeof ROLES)[number]))(name, choice, { role });
    report(choice, `user ${name} is now ${role} (sessions ended, keys revoked)`, { user: name, role });
  });

  databaseOptions(
    user
      .command('reset-password')
      .description("set a user's password (from STATION_PASSWORD or a prompt; at least 12 characters, not the name); its sessions end")
      .argument('<name>', 'user name'),
  ).action(async (name: string, o) => {
    await checkName(name);
    const choice = await resolveDatabase(o);
    const password = process.env.STATION_PASSWORD || (await promptPassword(`new password for ${name}: `));
    const { checkNewPassword } = await import('../../store/index.js');
    checkNewPassword(name, password);
    await change('reset-password', 'user.password', (a, n) => a.setPassword(n, password))(name, choice, {});
    report(choice, `password of ${name} reset (sessions ended)`, { user: name });
  });
}

/** Reads a password from the terminal without echoing it (or one line from a pipe). */
export function promptPassword(question: string): Promise<string> {
  return new Promise((resolve) => {
    const rl = readline.createInterface({ input: process.stdin, output: process.stderr, terminal: process.stdin.isTTY });
    const out = rl as unknown as { _writeToOutput?: (s: string) => void };
    let answered = false;
    rl.question(question, (answer) => {
      answered = true;
      rl.close();
      process.stderr.write('\n');
      resolve(answer);
    });
    // No terminal and nothing on stdin (`< /dev/null`): an empty password, which the policy refuses with its code.
    rl.on('close', () => {
      if (!answered) resolve('');
    });
    out._writeToOutput = () => undefined;
  });
}
