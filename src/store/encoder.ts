/**
 * Image encoding for records in a child process at a lower priority (nice 10): PNG originals,
 * overlays and thumbnails are CPU work that must never take the line's cores away when the
 * recorder catches up on a backlog. The station talks to it through `EncoderImageStore`.
 *
 *   recorder ──write(r)──▶ EncoderImageStore ──IPC (advanced serialisation, pixels as typed arrays)──▶
 *        child: DiskImageStore.write ──▶ files ──▶ StoredImage[] ──IPC──▶ resolved
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import type { InspectionResult } from '../line/protocol.js';
import { DiskImageStore, type ImageStore, type StoredImage } from './images.js';

interface Job {
  id: number;
  stationId: string;
  r: InspectionResult;
}
type Reply = { id: number; images: StoredImage[] } | { id: number; error: { code?: string; message: string } } | { ready: true };

/** The child's side: write what it is sent, answer with the stored images or the error (with its code). */
function serve(root: string): void {
  // A station SIGKILLed mid-write: its next life replays the journal and adopts the files it finds
  // (all three, or none). A file renamed into place after that has no row (an orphan, seen in the
  // power-cut test): so every rename first asks whether the station is still this process's parent.
  // `process.connected` is no answer: it turns false only when this (niced, busy) loop gets to it.
  const station = process.ppid;
  const store = new DiskImageStore(root, () => parentPid() === station);
  process.on('message', (job: Job) => {
    // The station is gone (killed): its journal will find (or clean up) this part's images; writing
    // them now could race with the next station's replay and leave files without a row.
    if (!process.connected) return;
    store.write(job.stationId, job.r).then(
      (images) => process.send!({ id: job.id, images } satisfies Reply),
      (err: NodeJS.ErrnoException) => process.send!({ id: job.id, error: { code: err.code, message: err.message } } satisfies Reply),
    );
  });
  // The station went away: so does its encoder.
  process.on('disconnect', () => process.exit(0));
  process.send!({ ready: true } satisfies Reply);
}

/** This process's parent now, read from /proc (Node's `process.ppid` is the parent at start); elsewhere the start's. */
function parentPid(): number {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return process.ppid;
  }
}

if (process.env.STATION_IMAGE_ENCODER && process.send) serve(process.env.STATION_IMAGE_ENCODER);

/** An ImageStore whose writes are encoded by a niced child process; reads and deletes stay here. */
export class EncoderImageStore implements ImageStore {
  private child: ChildProcess | null = null;
  private readonly pending = new Map<number, { resolve: (v: StoredImage[]) => void; reject: (e: Error) => void }>();
  private next = 1;
  restarts = 0;

  constructor(
    private readonly disk: DiskImageStore,
    private readonly niceness = 10,
  ) {}

  get location(): string {
    return this.disk.location;
  }

  private spawn(): ChildProcess {
    const fromSource = import.meta.url.endsWith('.ts');
    const child = fork(new URL(import.meta.url), [], {
      serialization: 'advanced',
      env: { ...process.env, STATION_IMAGE_ENCODER: this.disk.root },
      execArgv: fromSource ? ['--import', 'tsx'] : [],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    try {
      if (child.pid) setPriority(child.pid, this.niceness);
    } catch {
      /* not allowed to lower it: it still runs, at normal priority */
    }
    child.on('message', (m: Reply) => {
      if ('ready' in m) {
        for (const w of this.readyWaiters.splice(0)) w();
        return;
      }
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (!p) return;
      if ('error' in m) p.reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
      else p.resolve(m.images);
    });
    // A child that could not start, or whose channel closed under a send: its writes fail (their
    // rows are kept without images), never an uncaught error that takes the station down.
    child.on('error', (err) => {
      if (this.child === child) this.child = null;
      for (const p of this.pending.values()) p.reject(Object.assign(new Error(`the image encoder failed: ${err.message}`), { code: 'STN_ERR_STORE_WRITE' }));
      this.pending.clear();
    });
    child.on('exit', () => {
      if (this.child === child) this.child = null;
      // Writes in flight are lost with it: their rows are kept without images (counted by the recorder).
      for (const p of this.pending.values()) p.reject(Object.assign(new Error('the image encoder exited'), { code: 'STN_ERR_STORE_WRITE' }));
      this.pending.clear();
      this.restarts++;
    });
    return child;
  }

  private readonly readyWaiters: (() => void)[] = [];

  /**
   * Starts the child now and waits (up to `timeoutMs`) until it takes work: its start-up (a Node
   * process loading libvips) is CPU the line's first parts must not share. It starts on the first
   * write anyway when this is not called, or after it exits.
   */
  async start(timeoutMs = 15_000): Promise<void> {
    if (this.child) return;
    const ready = new Promise<void>((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      this.readyWaiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
    this.child = this.spawn();
    this.child.once('exit', () => {
      for (const w of this.readyWaiters.splice(0)) w();
    });
    await ready;
  }

  write(stationId: string, r: InspectionResult): Promise<StoredImage[]> {
    if (!r.image) return Promise.resolve([]);
    this.child ??= this.spawn();
    const id = this.next++;
    const child = this.child;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      child.send({ id, stationId, r } satisfies Job, (err) => {
        if (!err) return;
        this.pending.delete(id);
        reject(Object.assign(new Error(`the image encoder cannot be reached: ${err.message}`), { code: 'STN_ERR_STORE_WRITE' }));
      });
    });
  }

  open(rel: string) {
    return this.disk.open(rel);
  }

  localPath(rel: string) {
    return this.disk.localPath(rel);
  }

  remove(rels: readonly string[]) {
    return this.disk.remove(rels);
  }

  space() {
    return this.disk.space();
  }

  adopt(stationId: string, r: Parameters<DiskImageStore['adopt']>[1]) {
    return this.disk.adopt(stationId, r);
  }

  /** Ends the encoder once its writes are done. */
  async close(timeoutMs = 30_000): Promise<void> {
    // Writes in flight finish first; a child that hangs is killed after `timeoutMs` (its writes fail).
    const until = performance.now() + timeoutMs;
    while (this.pending.size && performance.now() < until) await new Promise((r) => setTimeout(r, 20));
    if (this.pending.size) this.child?.kill('SIGKILL');
    const c = this.child;
    this.child = null;
    if (c && c.exitCode === null) {
      await new Promise<void>((resolve) => {
        c.once('exit', () => resolve());
        c.disconnect();
      });
    }
  }
}
