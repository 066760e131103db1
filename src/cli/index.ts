/**
 * The `station` command: one commander program built from one module per command
 * (src/cli/commands/). Importing this file, or any command module, runs nothing: `main` parses
 * the arguments, and each command loads what it needs inside its action, so that
 * `station db migrate` never loads the line or onnxruntime-node.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { VERSION } from '../station/version.js';
import * as bench from './commands/bench.js';
import * as db from './commands/db.js';
import * as demo from './commands/demo.js';
import * as evalCommand from './commands/eval.js';
import * as pki from './commands/pki.js';
import * as plcSim from './commands/plc-sim.js';
import * as probe from './commands/probe.js';
import * as replay from './commands/replay.js';
import * as report from './commands/report.js';
import * as run from './commands/run.js';
import * as synth from './commands/synth.js';
import * as user from './commands/user.js';
import * as whatif from './commands/whatif.js';

/** The commands in the order `station --help` lists them. */
const COMMANDS = [demo, plcSim, pki, run, probe, replay, evalCommand, bench, whatif, report, user, db, synth];

/** The `station` program, every command registered, nothing parsed yet. */
export function buildProgram(): Command {
  const program = new Command().name('station').description('Computer-vision quality inspection station').version(VERSION).showHelpAfterError();
  for (const c of COMMANDS) c.register(program);
  return program;
}

/** After its command, the process should end by itself; if a handle keeps it alive this long, it is ended. */
const EXIT_GRACE_MS = 10_000;

/**
 * Parses `argv` and runs the command. A StationError (or any error with a registered code) ends
 * the process with exit code 2 and one line `station: CODE: message` on stderr; anything else
 * with code 1 and its stack. The process is not cut short: it ends when the command has let go
 * of everything (a leaked timer or socket shows, and is ended after EXIT_GRACE_MS).
 */
export async function main(argv: string[] = process.argv): Promise<void> {
  // Everything the station writes (database, images, certificates, spool) is the owner's only.
  process.umask(0o077);
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    const code = (err as { code?: unknown })?.code;
    const name = (err as { name?: unknown })?.name;
    if (typeof code === 'string' && code.startsWith('STN_ERR_')) {
      process.stderr.write(`station: ${code}: ${(err as Error).message}\n`);
      process.exitCode = 2;
    } else if (typeof name === 'string' && name.startsWith('PrismaClient')) {
      // The database refused or timed out (a busy line, a locked file): said in one line with a code, not a stack.
      const first =
        String((err as Error).message)
          .trim()
          .split('\n')
          .pop() ?? '';
      process.stderr.write(`station: STN_ERR_STORE_WRITE: the database did not take the change (${first.trim()}); try again\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`station: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exitCode = 1;
    }
  } finally {
    // The command is over (done, or failed): a handle that keeps the process alive beyond the
    // grace time (a stop that missed a timer or a socket) is named and the process ends anyway.
    const guard = setTimeout(() => {
      const left = (process as unknown as { getActiveResourcesInfo?: () => string[] }).getActiveResourcesInfo?.() ?? [];
      process.stderr.write(`station: still running ${EXIT_GRACE_MS / 1000} s after the command ended (${left.join(', ')}); exiting\n`);
      process.exit();
    }, EXIT_GRACE_MS);
    guard.unref();
  }
}

/** Run directly (`node --import tsx src/cli/index.ts …`, as the tests do): parse the command line. */
function isEntry(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}
if (isEntry()) void main();
