import { access, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { watch } from 'chokidar';
import { StationError } from '../errors/index.js';
import { monotonicMs, type Frame, type FrameImage, type GroundTruth } from './frame.js';
import { PartGenerator, SYNTHETIC_CLASSES } from './synthetic.js';
import { CameraSource, parseCameraUri, type CameraStatus } from './camera.js';

/**
 * A frame source yields frames until it is exhausted or `signal` aborts. Each frame carries its
 * part sequence number, trigger timestamp and source name.
 */
export interface FrameSource {
  readonly name: string;
  readonly uri: string;
  /**
   * A paced source runs at the line's speed whether or not the station keeps up (a camera, a
   * conveyor): when the queue is full its oldest frame is dropped (a fail-safe reject). An
   * unpaced one (offline replay, HTTP push) waits for room instead.
   */
  readonly paced: boolean;
  frames(signal: AbortSignal): AsyncIterable<Frame>;
}

export interface SourceContext {
  /** Resolves relative `dir:` paths (the configuration file's folder). */
  baseDir: string;
  /** Camera sources report their state changes here (health, metrics). */
  onStatus?: (source: string, status: CameraStatus) => void;
}

/** A source whose parts are PLC triggers (one frame per PartSeq). */
export interface TriggeredSource extends FrameSource {
  readonly triggered: boolean;
  /** `at`: the photo-eye, ms since the epoch; `mono`: the same moment on the monotonic clock. */
  trigger(seq: number, at: number, mono: number): boolean;
}

export function isTriggered(s: FrameSource): s is TriggeredSource {
  return (s as Partial<TriggeredSource>).triggered === true && typeof (s as Partial<TriggeredSource>).trigger === 'function';
}

const IMAGE_EXT = /\.(png|jpe?g|bmp|tiff?|webp)$/i;

/**
 * Parses a source URI: `dir:PATH?loop=1&rate=5` (`list=FILE`: only the images a fixture list
 * names, one path relative to the folder per line, `#` comments), `synthetic:?seed=1&defectRate=0.2&rate=10`
 * (`serials=RUN`: each part carries its serial as a DataMatrix label), `http:`. */
export function createSource(name: string, uri: string, ctx: SourceContext): FrameSource {
  const camera = parseCameraUri(uri, (p) => path.resolve(ctx.baseDir, p));
  if (camera) return new CameraSource(name, uri, camera.spec, camera.options, ctx.onStatus ? (st) => ctx.onStatus!(name, st) : undefined);
  const colon = uri.indexOf(':');
  const scheme = colon > 0 ? uri.slice(0, colon) : '';
  const rest = uri.slice(colon + 1);
  const q = rest.indexOf('?');
  const target = decodeURIComponent(q >= 0 ? rest.slice(0, q) : rest);
  const params = new URLSearchParams(q >= 0 ? rest.slice(q + 1) : '');
  const num = (key: string, def: number, min = 0): number => {
    const v = params.get(key);
    if (v === null || v === '') return def;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new StationError('STN_ERR_SOURCE_URI', `${uri}: ${key}=${v} is not a number >= ${min}`);
    return n;
  };
  const allowed = PARAMETERS[scheme];
  if (!allowed)
    throw new StationError('STN_ERR_SOURCE_URI', `${uri}: unknown scheme "${scheme}" (known: dir:, synthetic:, http:, file:, rtsp://, v4l2:, gige:)`);
  for (const key of params.keys()) {
    if (!allowed.includes(key))
      throw new StationError('STN_ERR_SOURCE_URI', `${uri}: unknown parameter "${key}"${allowed.length ? ` (known: ${allowed.join(', ')})` : ''}`);
  }
  switch (scheme) {
    case 'dir':
      if (!target) throw new StationError('STN_ERR_SOURCE_URI', `${uri}: dir: needs a folder`);
      return new DirSource(name, uri, path.resolve(ctx.baseDir, target), {
        loop: num('loop', 0) > 0,
        rate: num('rate', 0),
        recursive: num('recursive', 1) > 0,
        list: params.get('list') ? path.resolve(ctx.baseDir, params.get('list')!) : undefined,
        watch: num('watch', 0) > 0,
        settleMs: num('settleMs', 500, 10),
      });
    case 'synthetic': {
      const trigger = params.get('trigger');
      if (trigger !== null && trigger !== 'plc') throw new StationError('STN_ERR_SOURCE_URI', `${uri}: trigger=${trigger} (known: plc)`);
      return new SyntheticSource(name, uri, {
        seed: num('seed', 1),
        defectRate: num('defectRate', 0.2),
        rate: num('rate', 10),
        count: num('count', Infinity),
        start: num('start', 0),
        triggered: trigger === 'plc',
        serials: params.get('serials') || undefined,
      });
    }
    case 'http':
      return new PushSource(name, uri);
    default:
      throw new StationError('STN_ERR_SOURCE_URI', `${uri}: unknown scheme "${scheme}" (known: dir:, synthetic:, http:, file:, rtsp://, v4l2:, gige:)`);
  }
}

/** The query parameters each scheme of this module takes (cameras parse their own). */
const PARAMETERS: Record<string, readonly string[] | undefined> = {
  dir: ['loop', 'rate', 'recursive', 'list', 'watch', 'settleMs'],
  synthetic: ['seed', 'defectRate', 'rate', 'count', 'start', 'trigger', 'serials'],
  http: [],
};

/** Paces a loop at `rate` per second; returns the scheduled trigger time of tick k. */
class Pacer {
  // Scheduled on the monotonic clock: a wall clock stepped back would stall the line for the
  // step, stepped forward would burst every tick it skipped.
  private readonly t0 = monotonicMs();
  constructor(private readonly rate: number) {}
  /** Waits for tick k; its trigger time, on the wall clock (the record) and the monotonic one (deadlines). */
  async tick(k: number, signal: AbortSignal): Promise<{ timestamp: number; mono: number }> {
    if (!(this.rate > 0)) return { timestamp: Date.now(), mono: monotonicMs() };
    const mono = this.t0 + (k * 1000) / this.rate;
    const wait = mono - monotonicMs();
    if (wait > 0) await sleep(wait, undefined, { signal }).catch(() => undefined);
    return { timestamp: Date.now() - Math.max(0, monotonicMs() - mono), mono };
  }
}

/** Replays a folder of images in name order, once or looping, at a rate or as fast as possible. */
export class DirSource implements FrameSource {
  constructor(
    readonly name: string,
    readonly uri: string,
    readonly dir: string,
    readonly options: {
      loop: boolean;
      rate: number;
      recursive: boolean;
      list?: string;
      /** A hot folder: after the files present at start, every image added later, once, when it is completely written. */
      watch?: boolean;
      /** Hot folder: a new file counts as written once its size has not changed for this long. */
      settleMs?: number;
    },
  ) {
    if (options.watch && (options.loop || options.list)) throw new StationError('STN_ERR_SOURCE_URI', `${uri}: watch=1 goes with neither loop nor list`);
  }

  get paced(): boolean {
    return this.options.rate > 0;
  }

  async listFiles(): Promise<string[]> {
    if (this.options.list) return this.listedFiles(this.options.list);
    let entries: string[];
    try {
      entries = (await readdir(this.dir, { recursive: this.options.recursive })) as string[];
    } catch (err) {
      throw new StationError('STN_ERR_SOURCE_FAILED', `cannot read folder ${this.dir}: ${(err as Error).message}`, { cause: err });
    }
    // Masks beside a labelled folder are ground truth, not parts.
    return entries.filter(isPart).sort();
  }

  /** A fixture list must match the folder: a listed image that is not there is an error, not a skip. */
  private async listedFiles(list: string): Promise<string[]> {
    let text: string;
    try {
      text = await readFile(list, 'utf8');
    } catch (err) {
      throw new StationError('STN_ERR_SOURCE_FAILED', `cannot read the list ${list}: ${(err as Error).message}`, { cause: err });
    }
    const files = readFixtureList(text);
    const missing: string[] = [];
    for (const f of files) {
      if (path.isAbsolute(f) || f.split(path.sep).includes('..'))
        throw new StationError('STN_ERR_SOURCE_URI', `${list}: ${f} must be a path inside ${this.dir}`);
      await access(path.join(this.dir, f)).catch(() => missing.push(f));
    }
    if (missing.length)
      throw new StationError('STN_ERR_SOURCE_FAILED', `${missing.length} image(s) of ${list} are not in ${this.dir}, e.g. ${missing.slice(0, 3).join(', ')}`);
    return files;
  }

  async *frames(signal: AbortSignal): AsyncIterable<Frame> {
    if (this.options.watch) {
      yield* this.watched(signal);
      return;
    }
    const files = await this.listFiles();
    const pacer = new Pacer(this.options.rate);
    let seq = 0;
    do {
      for (const file of files) {
        if (signal.aborted) return;
        const { timestamp, mono } = await pacer.tick(seq, signal);
        if (signal.aborted) return;
        let data: Uint8Array;
        try {
          data = await readFile(path.join(this.dir, file));
        } catch {
          data = new Uint8Array(0); // vanished file: an empty image, which becomes an uninspected part
        }
        yield { seq: ++seq, timestamp, mono, source: this.name, file, image: { kind: 'encoded', data }, truth: truthFromPath(file) };
      }
    } while (this.options.loop && files.length > 0 && !signal.aborted);
  }

  /**
   * The hot folder: the watcher starts first, then the files already there are read in name
   * order, then each file that appears, once its size has settled (a writer still copying it is
   * waited for). A file is read once; its name is forgotten when it is removed, so a folder that
   * its producer (or a clean-up job) empties keeps the memory bounded.
   *
   *   watcher ready ──▶ existing files (sorted) ──▶ each 'add' after settleMs ──▶ frame
   *                                        seen: names read, until 'unlink'
   */
  private async *watched(signal: AbortSignal): AsyncIterable<Frame> {
    const seen = new Set<string>();
    const arrived = new WakeQueue<string>(Number.POSITIVE_INFINITY);
    const failed: { error: unknown } = { error: null };
    const relative = (p: string) => path.relative(this.dir, p);
    const watcher = watch(this.dir, {
      ignoreInitial: true,
      depth: this.options.recursive ? undefined : 0,
      awaitWriteFinish: { stabilityThreshold: this.options.settleMs ?? 500, pollInterval: Math.min(100, this.options.settleMs ?? 500) },
      ignored: (p, stats) => Boolean(stats?.isFile() && !isPart(relative(p))),
    });
    watcher.on('add', (p) => arrived.push(relative(p)));
    watcher.on('unlink', (p) => seen.delete(relative(p)));
    watcher.on('error', (err) => {
      failed.error = err;
      arrived.push('');
    });
    try {
      await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
      for (const file of await this.listFiles()) arrived.push(file);
      let seq = 0;
      for await (const file of arrived.drain(signal)) {
        if (failed.error)
          throw new StationError('STN_ERR_SOURCE_FAILED', `watching ${this.dir} failed: ${(failed.error as Error).message}`, { cause: failed.error });
        if (seen.has(file)) continue;
        seen.add(file);
        let data: Uint8Array;
        try {
          data = await readFile(path.join(this.dir, file));
        } catch {
          data = new Uint8Array(0); // removed between its arrival and now: an uninspected part, not a silent skip
        }
        yield { seq: ++seq, timestamp: Date.now(), source: this.name, file, image: { kind: 'encoded', data }, truth: truthFromPath(file) };
      }
    } finally {
      await watcher.close();
    }
  }
}

/** An image of a part (masks beside a labelled folder are ground truth, not parts). */
function isPart(file: string): boolean {
  return IMAGE_EXT.test(file) && !file.split(path.sep).includes('masks');
}

/** One relative path per line; blank lines and `#` comments ignored; `/` separators on every OS. */
export function readFixtureList(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean)
    .map((l) => l.split('/').join(path.sep));
}

/** Ground truth from the evaluation layout: `good/...` or `defect/<class>/...`. */
export function truthFromPath(file: string): GroundTruth | undefined {
  const parts = file.split(/[\\/]/);
  const i = parts.findIndex((p) => p === 'good' || p === 'defect');
  if (i < 0) return undefined;
  if (parts[i] === 'good') return { defective: false, defects: [] };
  return { defective: true, defects: parts[i + 1] && i + 2 < parts.length ? [{ class: parts[i + 1], box: [0, 0, 0, 0] }] : [] };
}

/**
 * The synthetic line: parts made by PartGenerator, raw Mono8 like an industrial camera. Free-run
 * at `rate`, or triggered by the PLC (`trigger=plc`): one frame per PartSeq, part index = PartSeq,
 * so the line simulator knows each frame's ground truth.
 */
export class SyntheticSource implements FrameSource {
  readonly generator: PartGenerator;
  private readonly triggers = new WakeQueue<{ seq: number; at: number; mono: number }>(64);
  constructor(
    readonly name: string,
    readonly uri: string,
    /** `serials`: the run tag of the serial labels printed on the parts (see PartGenerator). */
    readonly options: { seed: number; defectRate: number; rate: number; count: number; start: number; triggered?: boolean; serials?: string },
  ) {
    this.generator = new PartGenerator({ seed: options.seed, defectRate: options.defectRate, serials: options.serials });
  }

  get paced(): boolean {
    return this.options.triggered === true || this.options.rate > 0;
  }

  get triggered(): boolean {
    return this.options.triggered === true;
  }

  /** A part passed the photo-eye (PLC PartSeq). Returns false when triggers pile up beyond the queue. */
  trigger(seq: number, at: number, mono: number): boolean {
    return this.triggers.push({ seq, at, mono });
  }

  async *frames(signal: AbortSignal): AsyncIterable<Frame> {
    if (this.triggered) {
      for await (const t of this.triggers.drain(signal)) {
        const part = this.generator.part(t.seq);
        yield { seq: t.seq, timestamp: t.at, mono: t.mono, source: this.name, image: part.image, truth: part.truth };
      }
      return;
    }
    const pacer = new Pacer(this.options.rate);
    for (let k = 0; k < this.options.count && !signal.aborted; k++) {
      const { timestamp, mono } = await pacer.tick(k, signal);
      if (signal.aborted) return;
      const part = this.generator.part(this.options.start + k);
      yield { seq: k + 1, timestamp, mono, source: this.name, image: part.image, truth: part.truth };
    }
  }
}

/** A small bounded hand-off between a producer (HTTP, PLC triggers) and a source's frame loop. */
class WakeQueue<T> {
  private readonly items: T[] = [];
  private wake: (() => void) | null = null;
  constructor(readonly capacity: number) {}

  push(item: T): boolean {
    if (this.items.length >= this.capacity) return false;
    this.items.push(item);
    this.wake?.();
    return true;
  }

  async *drain(signal: AbortSignal): AsyncIterable<T> {
    const onAbort = () => this.wake?.();
    signal.addEventListener('abort', onAbort);
    try {
      while (!signal.aborted) {
        const item = this.items.shift();
        if (item !== undefined) {
          yield item;
          continue;
        }
        await new Promise<void>((r) => (this.wake = r));
        this.wake = null;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }
}

export const SYNTHETIC_LABELS: readonly string[] = SYNTHETIC_CLASSES;

/**
 * Frames pushed from outside (`POST /api/frames`). A bounded hand-off: when the line has not
 * taken the previous frame yet, pushes wait in a small queue; beyond it they are refused.
 */
export class PushSource implements FrameSource {
  private readonly queue: WakeQueue<Frame & { requestId?: number }>;
  private seq = 0;
  readonly paced = false;
  constructor(
    readonly name: string,
    readonly uri: string,
    capacity = 16,
  ) {
    this.queue = new WakeQueue(capacity);
  }

  /** Queues a pushed image as the next part; throws when the queue is full. */
  push(image: FrameImage, timestamp = Date.now(), requestId?: number): Frame & { requestId?: number } {
    const frame = { seq: this.seq + 1, timestamp, source: this.name, image, requestId };
    if (!this.queue.push(frame)) throw new StationError('STN_ERR_LINE_DROPPED', 'the push queue is full');
    this.seq++;
    return frame;
  }

  frames(signal: AbortSignal): AsyncIterable<Frame> {
    return this.queue.drain(signal);
  }
}
