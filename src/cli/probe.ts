import sharp from 'sharp';
import { createSource, type CameraStatus, type Frame } from '../capture/index.js';
import { StationError } from '../errors/index.js';

export interface ProbeResult {
  frames: number;
  width: number | null;
  height: number | null;
  pixelFormat: string | null;
  /** Frames per second between the first and the last frame grabbed. */
  fps: number | null;
  source: string;
  camera?: CameraStatus;
}

/**
 * Grabs `count` frames from a source as the line would, and says what came: for commissioning a
 * camera (is it there, what size and format, how fast). Stops at `timeoutMs`.
 */
export async function probeSource(uri: string, count: number, timeoutMs: number, onFrame: (n: number) => void = () => {}): Promise<ProbeResult> {
  let camera: CameraStatus | undefined;
  const source = createSource('probe', uri, { baseDir: process.cwd(), onStatus: (_n, s) => (camera = s) });
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  const times: number[] = [];
  let first: Frame | null = null;
  let error: unknown = null;
  try {
    for await (const f of source.frames(abort.signal)) {
      first ??= f;
      times.push(performance.now());
      onFrame(times.length);
      if (times.length >= count) break;
    }
  } catch (err) {
    error = err;
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  if (!first) {
    const why = error instanceof Error ? error.message : (camera?.lastError ?? 'no frame');
    throw new StationError('STN_ERR_SOURCE_FAILED', `${uri}: ${why}`);
  }
  let width: number | null = null,
    height: number | null = null,
    pixelFormat: string | null = null;
  if (first.image.kind === 'raw') {
    ({ width, height } = first.image);
    pixelFormat = first.image.format;
  } else {
    const m = await sharp(first.image.data)
      .metadata()
      .catch(() => null);
    if (m) {
      width = m.width ?? null;
      height = m.height ?? null;
      pixelFormat = `${m.format}/${m.channels === 1 ? 'Mono8' : m.channels === 3 ? 'RGB8' : `${m.channels}ch`}`;
    }
  }
  const span = (times.at(-1)! - times[0]) / 1000;
  return {
    frames: times.length,
    width,
    height,
    pixelFormat,
    fps: times.length > 1 && span > 0 ? Math.round(((times.length - 1) / span) * 100) / 100 : null,
    source: uri,
    ...(camera ? { camera } : {}),
  };
}
