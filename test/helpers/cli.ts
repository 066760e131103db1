import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
/** tsx by its path, so that a command run in any working directory finds it. */
export const TSX = path.join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  lines: string[];
  /** Milliseconds from spawn to the process's exit (its output may close later). */
  exitMs: number;
  pid: number;
}

/** Runs the `station` command from source (tsx) as a child process, as a user would. */
export function station(
  args: string[],
  opts: {
    cwd?: string;
    env?: Record<string, string>;
    timeoutMs?: number;
    onStderr?: (s: string) => void;
    onSpawn?: (child: ChildProcess) => void;
    /** Extra `node` flags before the script (e.g. `--import` a loader hook). */
    nodeArgs?: string[];
    /** Its own process group (pgid = its pid), so a test can look for children it left behind. */
    detached?: boolean;
  } = {},
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), '--import', TSX, path.join(ROOT, 'src/cli/index.ts'), ...args], {
      cwd: opts.cwd ?? ROOT,
      env: { ...process.env, LOG_LEVEL: 'warn', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: opts.detached ?? false,
    });
    opts.onSpawn?.(child);
    const spawned = Date.now();
    let exitMs = Number.NaN;
    child.on('exit', () => (exitMs = Date.now() - spawned));
    let stdout = '',
      stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      opts.onStderr?.(String(d));
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`station ${args.join(' ')} did not finish in time\n${stderr}`));
    }, opts.timeoutMs ?? 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, lines: stdout.split('\n').filter(Boolean), exitMs, pid: child.pid ?? 0 });
    });
  });
}
