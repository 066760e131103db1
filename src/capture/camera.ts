import { spawn, execFile, type ChildProcessByStdio } from 'node:child_process';
import { promisify } from 'node:util';
import type { Readable } from 'node:stream';
import pRetry, { AbortError } from 'p-retry';
import { StationError } from '../errors/index.js';
import { channelsOf, monotonicMs, type Frame, type PixelFormat } from './frame.js';

const run = promisify(execFile);

/**
 * How a camera child process delivers frames: raw, tightly packed, fixed size and pixel format
 * on its stdout (no per-frame encode/decode round trip).
 */
export interface StreamSpec {
  command: string;
  args: string[];
  width: number;
  height: number;
  format: PixelFormat;
  /** The stream ends by itself (a video file played once): the source ends with it. */
  finite: boolean;
}

export interface CameraOptions {
  /** `free`: the newest frame wins, the ones the line had no time for are counted as skipped. `plc`: one frame per PLC trigger. */
  trigger: 'free' | 'plc';
  /** Watchdog: no frame for this long → the camera process is restarted (a counted stall); the first frame may take up to max(stallMs, 10 s). */
  stallMs: number;
  /** Triggered: a part whose frame has not arrived this long after its trigger is uninspected. */
  frameTimeoutMs: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
}

export interface CameraStatus {
  state: 'connecting' | 'streaming' | 'reconnecting' | 'ended' | 'stopped';
  width: number | null;
  height: number | null;
  pixelFormat: PixelFormat | null;
  frames: number;
  /** Free-run frames overwritten before the line took them. */
  skipped: number;
  /** Watchdog restarts: no frame for `stallMs`. */
  stalls: number;
  /** Camera process (re)starts after the first. */
  restarts: number;
  /** Triggered parts that got no frame in time. */
  missed: number;
  lastFrameAt: number | null;
  lastError: string | null;
  /** The capture process now running (a supervisor that gives up on a stuck line kills it). */
  pid: number | null;
}

interface Arrival {
  image: Uint8Array;
  /** Wall clock (the record's time) and monotonic clock (matching and stalls) at arrival. */
  at: number;
  mono: number;
}

/**
 * A camera as a child process streaming raw frames (ffmpeg for files, RTSP and V4L2; GStreamer's
 * aravissrc for GigE Vision), supervised: a process that exits or stalls is restarted with
 * exponential backoff, counted, and reported through `status`; while it is down a triggered
 * part gets no frame and becomes a fail-safe reject.
 */
export class CameraSource {
  readonly status: CameraStatus = {
    state: 'connecting',
    width: null,
    height: null,
    pixelFormat: null,
    frames: 0,
    skipped: 0,
    stalls: 0,
    restarts: 0,
    missed: 0,
    lastFrameAt: null,
    lastError: null,
    pid: null,
  };
  private latest: Arrival | null = null;
  private readonly waiters = new Set<() => void>();
  private readonly triggers: { seq: number; at: number; mono: number }[] = [];
  private seq = 0;
  private ended = false;
  private started = 0;

  constructor(
    readonly name: string,
    readonly uri: string,
    private readonly resolve: () => Promise<StreamSpec>,
    readonly options: CameraOptions,
    private readonly onStatus: (s: CameraStatus) => void = () => {},
  ) {}

  get paced(): boolean {
    // Free-run waits for room (the newest frame is taken when there is); triggered parts keep the line's pace.
    return this.options.trigger === 'plc';
  }

  get triggered(): boolean {
    return this.options.trigger === 'plc';
  }

  /** A part passed the photo-eye: its frame is the first one to arrive after `at`. */
  trigger(seq: number, at: number, mono: number): boolean {
    if (this.triggers.length >= 64) return false;
    this.triggers.push({ seq, at, mono });
    this.wake();
    return true;
  }

  async *frames(outer: AbortSignal): AsyncIterable<Frame> {
    // The camera process lives as long as someone reads: a reader that stops stops it too.
    const inner = new AbortController();
    const signal = inner.signal;
    const onAbort = () => {
      inner.abort();
      this.wake();
    };
    outer.addEventListener('abort', onAbort);
    if (outer.aborted) onAbort();
    const supervisor = this.supervise(signal);
    try {
      if (this.triggered) yield* this.triggeredFrames(signal);
      else yield* this.freeFrames(signal);
    } finally {
      outer.removeEventListener('abort', onAbort);
      inner.abort();
      this.wake();
      await supervisor;
    }
  }

  private async *freeFrames(signal: AbortSignal): AsyncIterable<Frame> {
    while (!signal.aborted) {
      const a = this.latest;
      if (a) {
        this.latest = null;
        yield { seq: ++this.seq, timestamp: a.at, mono: a.mono, source: this.name, image: this.raw(a.image) };
        continue;
      }
      if (this.ended) return;
      await this.wait();
    }
  }

  private async *triggeredFrames(signal: AbortSignal): AsyncIterable<Frame> {
    while (!signal.aborted) {
      const t = this.triggers[0];
      if (!t) {
        if (this.ended) return;
        await this.wait();
        continue;
      }
      const a = this.latest;
      if (a && a.mono >= t.mono) {
        this.triggers.shift();
        this.latest = null;
        yield { seq: t.seq, timestamp: t.at, mono: t.mono, source: this.name, image: this.raw(a.image) };
        continue;
      }
      const late = t.mono + this.options.frameTimeoutMs - monotonicMs();
      if (late <= 0 || this.ended) {
        this.triggers.shift();
        this.status.missed++;
        yield {
          seq: t.seq,
          timestamp: t.at,
          mono: t.mono,
          source: this.name,
          image: { kind: 'encoded', data: new Uint8Array(0) },
          error: 'STN_ERR_CAMERA_NO_FRAME',
        };
        continue;
      }
      await this.wait(late);
    }
  }

  private raw(data: Uint8Array): Frame['image'] {
    return { kind: 'raw', format: this.status.pixelFormat!, width: this.status.width!, height: this.status.height!, data };
  }

  private wake(): void {
    for (const w of this.waiters) w();
    this.waiters.clear();
  }

  private wait(ms?: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = ms === undefined ? undefined : setTimeout(done, ms);
      this.waiters.add(done);
    });
  }

  private setState(state: CameraStatus['state'], error?: string): void {
    this.status.state = state;
    if (error !== undefined) this.status.lastError = error;
    this.onStatus({ ...this.status });
  }

  /**
   * Keeps the camera process running until the stream ends or `signal` aborts. Each attempt runs
   * the process until it exits or stalls; attempts that delivered no frame back off
   * exponentially (p-retry), one that streamed restarts at once.
   */
  private async supervise(signal: AbortSignal): Promise<void> {
    try {
      for (;;) {
        const outcome = await pRetry(() => this.attempt(signal), {
          retries: Infinity,
          factor: 2,
          minTimeout: this.options.reconnectMinMs,
          maxTimeout: this.options.reconnectMaxMs,
          randomize: false,
          signal,
          onFailedAttempt: ({ error }) => {
            if (!signal.aborted) this.setState('reconnecting', error.message);
          },
        });
        if (outcome === 'ended' || signal.aborted) break;
        this.setState('reconnecting');
      }
    } catch (err) {
      if (!signal.aborted) this.status.lastError = (err as Error).message;
    } finally {
      this.ended = true;
      this.setState(signal.aborted ? 'stopped' : 'ended');
      this.wake();
    }
  }

  /** One run of the camera process: 'ended' (finite stream done), 'lost' (streamed, then died), throws if no frame came. */
  private async attempt(signal: AbortSignal): Promise<'ended' | 'lost'> {
    if (signal.aborted) throw new AbortError('stopped');
    if (this.started++ > 0) this.status.restarts++;
    const spec = await this.resolve().catch((err: Error) => {
      throw err instanceof StationError && err.code === 'STN_ERR_SOURCE_URI' ? new AbortError(err) : err;
    });
    Object.assign(this.status, { width: spec.width, height: spec.height, pixelFormat: spec.format });
    const frameBytes = spec.width * spec.height * channelsOf(spec.format);
    const child: ChildProcessByStdio<null, Readable, Readable> = spawn(spec.command, spec.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.status.pid = child.pid ?? null;
    child.once('exit', () => {
      if (this.status.pid === child.pid) this.status.pid = null;
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    let delivered = 0;
    let lastAt = monotonicMs();
    let stalled = false;
    let buf = new Uint8Array(frameBytes);
    let fill = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      let off = 0;
      while (off < chunk.length) {
        const n = Math.min(frameBytes - fill, chunk.length - off);
        buf.set(chunk.subarray(off, off + n), fill);
        fill += n;
        off += n;
        if (fill === frameBytes) {
          lastAt = monotonicMs();
          if (delivered++ === 0) this.setState('streaming');
          this.status.frames++;
          this.status.lastFrameAt = Date.now();
          if (this.latest && !this.triggered) this.status.skipped++;
          this.latest = { image: buf, at: this.status.lastFrameAt, mono: lastAt };
          buf = new Uint8Array(frameBytes);
          fill = 0;
          this.wake();
        }
      }
    });
    // Connecting (RTSP handshake, waiting for a key frame) may take longer than a stall.
    const connectMs = Math.max(this.options.stallMs, 10_000);
    const watchdog = setInterval(
      () => {
        if (monotonicMs() - lastAt > (delivered > 0 ? this.options.stallMs : connectMs)) {
          stalled = true;
          child.kill('SIGKILL');
        }
      },
      Math.max(50, Math.min(1000, this.options.stallMs / 4)),
    );
    const onAbort = () => child.kill('SIGKILL');
    signal.addEventListener('abort', onAbort);
    const exit = await new Promise<{ code: number | null; error?: Error }>((resolve) => {
      child.once('error', (error) => resolve({ code: null, error }));
      child.once('close', (code) => resolve({ code }));
    });
    clearInterval(watchdog);
    signal.removeEventListener('abort', onAbort);
    if (signal.aborted) throw new AbortError('stopped');
    if (exit.error) throw new AbortError(new StationError('STN_ERR_SOURCE_FAILED', `${spec.command}: ${exit.error.message}`));
    if (stalled) this.status.stalls++;
    const why = stalled
      ? `no frame for ${delivered > 0 ? this.options.stallMs : connectMs} ms`
      : `${spec.command} exited with ${exit.code}${stderr.trim() ? `: ${stderr.trim().split('\n').at(-1)}` : ''}`;
    if (!stalled && spec.finite && exit.code === 0) return 'ended';
    if (delivered > 0) {
      this.status.lastError = why;
      return 'lost';
    }
    throw new StationError('STN_ERR_SOURCE_FAILED', why);
  }
}

/** `ffprobe`: the size of the first video stream. */
async function probeSize(input: string[]): Promise<{ width: number; height: number }> {
  try {
    const { stdout } = await run('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height', '-of', 'json', ...input], {
      timeout: 15_000,
    });
    const s = JSON.parse(stdout).streams?.[0];
    if (!s?.width || !s?.height) throw new Error('no video stream');
    return { width: s.width, height: s.height };
  } catch (err) {
    const msg = (err as { stderr?: string }).stderr?.trim().split('\n').at(-1) || (err as Error).message;
    throw new StationError('STN_ERR_SOURCE_FAILED', `ffprobe ${input.at(-1)}: ${msg}`);
  }
}

/** GenICam features of a GigE Vision camera, through arv-tool. */
async function arvControl(camera: string, features: string[]): Promise<Record<string, string>> {
  try {
    const { stdout } = await run('arv-tool-0.8', ['-n', camera, 'control', ...features], { timeout: 10_000 });
    const out: Record<string, string> = {};
    for (const line of stdout.split('\n')) {
      const m = /^(\w+) = (\S+)/.exec(line);
      if (m) out[m[1]] = m[2];
    }
    return out;
  } catch (err) {
    const msg = (err as { stderr?: string; stdout?: string }).stderr?.trim() || (err as { stdout?: string }).stdout?.trim() || (err as Error).message;
    throw new StationError('STN_ERR_SOURCE_FAILED', `GigE Vision camera ${camera}: ${msg}`);
  }
}

const FORMATS: Record<string, PixelFormat> = { mono8: 'Mono8', gray: 'Mono8', rgb8: 'RGB8', rgb: 'RGB8' };

export interface CameraUri {
  kind: 'ffmpeg' | 'gige';
  spec: () => Promise<StreamSpec>;
  options: CameraOptions;
}

/**
 * Camera URIs. Station parameters come after `#` so that an RTSP URL keeps its own query:
 *   `file:PATH#loop=1&realtime=1`, `rtsp://host/path#transport=tcp`, `v4l2:/dev/video0`,
 *   `gige:CAMERA#format=Mono8&exposure=2000&gain=3`
 * and, for all: `format=Mono8|RGB8`, `width=&height=` (scale), `trigger=free|plc`, `stallS=`,
 * `frameTimeoutMs=`.
 */
export function parseCameraUri(uri: string, resolvePath: (p: string) => string): CameraUri | null {
  const hash = uri.indexOf('#');
  const base = hash >= 0 ? uri.slice(0, hash) : uri;
  const params = new URLSearchParams(hash >= 0 ? uri.slice(hash + 1) : '');
  const scheme = /^([a-z0-9]+):/i.exec(base)?.[1]?.toLowerCase();
  if (!scheme || !['file', 'rtsp', 'rtsps', 'v4l2', 'gige'].includes(scheme)) return null;
  const known = ['format', 'width', 'height', 'trigger', 'stallS', 'frameTimeoutMs', 'loop', 'realtime', 'transport', 'exposure', 'gain', 'fps'];
  for (const k of params.keys()) {
    if (!known.includes(k)) throw new StationError('STN_ERR_SOURCE_URI', `${uri}: unknown parameter "${k}" (known: ${known.join(', ')})`);
  }
  const num = (k: string, def: number | undefined, min = 0): number | undefined => {
    const v = params.get(k);
    if (v === null || v === '') return def;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new StationError('STN_ERR_SOURCE_URI', `${uri}: ${k}=${v} is not a number >= ${min}`);
    return n;
  };
  const formatName = (params.get('format') ?? 'Mono8').toLowerCase();
  const format = FORMATS[formatName];
  if (!format) throw new StationError('STN_ERR_SOURCE_URI', `${uri}: format=${params.get('format')} (known: Mono8, RGB8)`);
  const trigger = params.get('trigger') ?? 'free';
  if (trigger !== 'free' && trigger !== 'plc') throw new StationError('STN_ERR_SOURCE_URI', `${uri}: trigger=${trigger} (known: free, plc)`);
  const width = num('width', undefined, 1),
    height = num('height', undefined, 1);
  if ((width === undefined) !== (height === undefined)) throw new StationError('STN_ERR_SOURCE_URI', `${uri}: give both width and height, or neither`);
  const options: CameraOptions = {
    trigger,
    stallMs: num('stallS', 5, 0.1)! * 1000,
    frameTimeoutMs: num('frameTimeoutMs', 500, 1)!,
    reconnectMinMs: 250,
    reconnectMaxMs: 5000,
  };
  const pixFmt = format === 'Mono8' ? 'gray' : 'rgb24';

  if (scheme === 'gige') {
    const camera = decodeURIComponent(base.slice('gige:'.length));
    if (!camera) throw new StationError('STN_ERR_SOURCE_URI', `${uri}: gige: needs a camera name or serial`);
    const exposure = num('exposure', undefined),
      gain = num('gain', undefined);
    return {
      kind: 'gige',
      options,
      spec: async () => {
        const f = await arvControl(camera, ['Width', 'Height']);
        const w = Number(f.Width),
          h = Number(f.Height);
        if (!(w > 0 && h > 0)) throw new StationError('STN_ERR_SOURCE_FAILED', `GigE Vision camera ${camera} did not report its size`);
        // Mono8 is asked of the camera as GRAY8; colour comes as Bayer and is debayered to RGB.
        const caps =
          format === 'Mono8' ? ['video/x-raw,format=GRAY8'] : ['video/x-bayer', '!', 'bayer2rgb', '!', 'videoconvert', '!', 'video/x-raw,format=RGB'];
        const scale = width ? ['!', 'videoscale', '!', `video/x-raw,width=${width},height=${height}`] : [];
        const src = [
          'aravissrc',
          `camera-name=${camera}`,
          ...(exposure !== undefined ? [`exposure=${exposure}`] : []),
          ...(gain !== undefined ? [`gain=${gain}`] : []),
        ];
        return {
          command: 'gst-launch-1.0',
          args: ['-q', ...src, '!', ...caps, ...scale, '!', 'fdsink', 'fd=1'],
          width: width ?? w,
          height: height ?? h,
          format,
          finite: false,
        };
      },
    };
  }

  const input: string[] = [];
  let finite = false;
  let target = base;
  if (scheme === 'file') {
    target = resolvePath(decodeURIComponent(base.slice('file:'.length)));
    const loop = (num('loop', 0) ?? 0) > 0;
    // A file plays at its own frame rate, like a camera, unless realtime=0.
    if ((num('realtime', 1) ?? 1) > 0) input.push('-re');
    if (loop) input.push('-stream_loop', '-1');
    finite = !loop;
  } else if (scheme === 'v4l2') {
    target = decodeURIComponent(base.slice('v4l2:'.length)) || '/dev/video0';
    input.push('-f', 'v4l2');
    const fps = num('fps', undefined, 1);
    if (fps) input.push('-framerate', String(fps));
  } else {
    input.push('-rtsp_transport', params.get('transport') ?? 'tcp', '-timeout', String(Math.round(options.stallMs * 1000)));
  }
  // ffprobe reads the stream once for its size; it neither paces nor loops.
  const probeInput = [...input.filter((a, i, all) => a !== '-re' && a !== '-stream_loop' && all[i - 1] !== '-stream_loop'), '-i', target];
  return {
    kind: 'ffmpeg',
    options,
    spec: async () => {
      const size = width && height ? { width, height } : await probeSize(probeInput);
      const vf = width ? ['-vf', `scale=${width}:${height}`] : [];
      return {
        command: 'ffmpeg',
        args: ['-hide_banner', '-loglevel', 'error', '-nostdin', ...input, '-i', target, '-an', ...vf, '-f', 'rawvideo', '-pix_fmt', pixFmt, 'pipe:1'],
        width: size.width,
        height: size.height,
        format,
        finite,
      };
    },
  };
}
