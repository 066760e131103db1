/**
 * What the `station` commands share: option parsers, the logger, the database every command
 * agrees on, the stop signal. Light on purpose: importing this loads no native module.
 */
import path from 'node:path';
import { InvalidArgumentError } from 'commander';
import { type Logger, pino } from 'pino';
import type { InspectionResult } from '../line/index.js';
import { redact } from '../store/url.js';
import { allocator } from '../station/allocator.js';

/** Secrets never reach the log: passwords, tokens, keys and credentials are censored wherever they appear. */
export const REDACT = [
  'password',
  '*.password',
  '*.*.password',
  'token',
  '*.token',
  'key',
  '*.key',
  'passwordHash',
  '*.passwordHash',
  'authorization',
  '*.authorization',
  '*.headers.authorization',
  '*.headers.cookie',
  'cookie',
  '*.cookie',
  'csrfToken',
  '*.csrfToken',
];

/** The command's logger: JSON lines on stderr, secrets censored. Created by a command, never at import. */
export function createLogger(level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: undefined, redact: { paths: REDACT, censor: '[redacted]' } }, pino.destination(2));
}

export function int(name: string, min = 0) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
    return n;
  };
}

export function num(name: string, min = 0) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new InvalidArgumentError(`${name} must be a number >= ${min}`);
    return n;
  };
}

export function isoDate(name: string) {
  return (v: string) => {
    const d = new Date(v);
    if (Number.isNaN(d.getTime())) throw new InvalidArgumentError(`${name} must be an ISO 8601 time`);
    return d;
  };
}

export const DEFAULT_DATABASE_URL = 'file:./data/station.db';

/** The database a command works on, and why that one. */
export interface DatabaseChoice {
  url: string;
  /** Where it came from: `DATABASE_URL`, `--config FILE` (storage), `--data DIR`, or the default. */
  from: string;
  /** The URL without its password, for messages. */
  shown: string;
}

/**
 * The one rule for which database a command or station uses, the same one `station run` and
 * `station demo` follow: DATABASE_URL when set; else the station file's `storage.databaseUrl`,
 * else `<dataDir>/station.db` of that file (`--config`) or of `--data DIR`; else
 * `file:./data/station.db`.
 */
export async function resolveDatabase(o: { config?: string; data?: string }, env: Record<string, string | undefined> = process.env): Promise<DatabaseChoice> {
  const choose = (url: string, from: string): DatabaseChoice => ({ url, from, shown: redact(url) });
  if (env.DATABASE_URL) return choose(env.DATABASE_URL, 'DATABASE_URL');
  if (o.config) {
    const { loadConfigFile } = await import('../config/index.js');
    const c = loadConfigFile(o.config);
    if (c.storage.databaseUrl) return choose(c.storage.databaseUrl, `--config ${o.config} (storage.databaseUrl)`);
    return choose(`file:${path.join(path.resolve(c.baseDir, c.storage.dataDir), 'station.db')}`, `--config ${o.config} (storage.dataDir)`);
  }
  if (o.data) return choose(`file:${path.join(path.resolve(o.data), 'station.db')}`, `--data ${o.data}`);
  return choose(`file:${path.resolve('data', 'station.db')}`, 'default');
}

/**
 * Resolves when SIGINT/SIGTERM arrives, after `seconds` (when given), or — started by npm
 * (`npm start`) — when the parent process is gone: npm 11 passes SIGTERM to the script's shell,
 * not to the station, and the station must stop with the command that started it.
 */
export function untilStopped(seconds?: number, followParent = process.env.npm_lifecycle_event !== undefined): Promise<string> {
  return new Promise((resolve) => {
    const parent = process.ppid;
    let stopping = false;
    const done = (why: string) => {
      if (stopping) return;
      stopping = true;
      if (timer) clearTimeout(timer);
      if (watch) clearInterval(watch);
      resolve(why);
    };
    const timer = seconds !== undefined ? setTimeout(() => done('duration'), seconds * 1000) : null;
    // Polled (unref'd, so it never keeps the process alive): Linux has no portable "parent died" event for node.
    const watch = followParent
      ? setInterval(() => {
          if (process.ppid !== parent) done('parent gone');
        }, 500)
      : null;
    watch?.unref();
    // The handlers stay for the life of the process: Ctrl-C under `npm start` reaches the station
    // twice (from the terminal, and forwarded by npm), and a second signal with no handler would
    // kill it mid-drain. Stopping takes the first; a third one ends the process at once.
    let signals = 0;
    const on = (sig: string) => () => {
      if (++signals >= 3) {
        process.stderr.write(`station: ${sig} three times: exiting without waiting for the parts in flight\n`);
        process.exit(130);
      }
      done(sig);
    };
    process.on('SIGINT', on('SIGINT'));
    process.on('SIGTERM', on('SIGTERM'));
  });
}

export const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;

/** Compares verdicts with the ground truth a source knows (synthetic line, labelled folders). */
export class TruthTally {
  defective = 0;
  good = 0;
  caught = 0;
  falseRejects = 0;
  add(r: InspectionResult): void {
    if (!r.truth) return;
    const rejected = r.verdict !== 'pass';
    if (r.truth.defective) {
      this.defective++;
      if (rejected) this.caught++;
    } else {
      this.good++;
      if (rejected) this.falseRejects++;
    }
  }
  summary() {
    if (this.defective + this.good === 0) return {};
    return {
      defective: this.defective,
      good: this.good,
      recall: this.defective ? round(this.caught / this.defective, 4) : null,
      falseRejectRate: this.good ? round(this.falseRejects / this.good, 4) : null,
    };
  }
}

/**
 * A long-running station on glibc's allocator (node started without bin/station, or no
 * libjemalloc2) says so once: its native memory grows with the parts made (issue #18).
 */
export function warnIfGlibcAllocator(log: Logger): void {
  if (allocator === 'glibc')
    log.warn(
      { allocator },
      "running on glibc's memory allocator (libjemalloc2 not installed, or node started without bin/station): native memory grows with the parts made; install libjemalloc2 and start bin/station",
    );
}
