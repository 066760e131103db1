import type { ErrorCode } from '../errors/index.js';

/** Pixel layouts a frame can arrive in without decoding (what industrial cameras deliver). */
export type PixelFormat = 'Mono8' | 'RGB8';

export interface RawImage {
  kind: 'raw';
  format: PixelFormat;
  width: number;
  height: number;
  /** Row-major, tightly packed (stride = width * channels). */
  data: Uint8Array;
}

export interface EncodedImage {
  kind: 'encoded';
  /** JPEG, PNG, WebP, TIFF … as bytes; decoded by preprocessing. */
  data: Uint8Array;
}

export type FrameImage = RawImage | EncodedImage;

/** What a source knows about a part when it made it (synthetic line, labelled folders). */
export interface GroundTruth {
  defective: boolean;
  defects: { class: string; box: [number, number, number, number] }[];
}

export interface Frame {
  /** Part sequence number, monotonic per source (the PLC's PartSeq once a PLC drives it). */
  seq: number;
  /** When the part was triggered, ms since the epoch (the record's time). */
  timestamp: number;
  /** The same moment on the process's monotonic clock (ms): what deadlines count from. Set by the line when a source has none. */
  mono?: number;
  /** Source name from the configuration. */
  source: string;
  image: FrameImage;
  /** File name for replays, for reports. */
  file?: string;
  /** The part cannot be inspected (no image came, its identity from the PLC is unusable): it is uninspected with this code. */
  error?: ErrorCode;
  /** The part's serial and lot from the PLC (set by the line from its trigger). */
  partId?: string;
  lot?: string;
  truth?: GroundTruth;
}

export function channelsOf(format: PixelFormat): 1 | 3 {
  return format === 'Mono8' ? 1 : 3;
}

/**
 * The process's monotonic clock in ms (CLOCK_MONOTONIC, the same in every thread): deadlines and
 * latencies count on it, so a wall clock stepped by NTP makes no part late and none early.
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** The wall clock and the monotonic clock read together: at load, and again once a forward step has held. */
const anchor = { wall: Date.now(), mono: monotonicMs(), aheadSince: null as number | null };
/** A wall clock ahead of the anchored one for this long (monotonic) is believed: a corrected RTC, not a glitch. */
const TRUST_FORWARD_MS = 3_600_000;

/**
 * "Now" for deciding what is old enough to delete: the earlier of the wall clock and the wall
 * clock at the anchor plus the monotonic time since. A wall clock stepped forward (an hour, a
 * wrong RTC corrected by NTP) makes nothing older than it is until the step has held for an hour
 * of monotonic time; then it is believed and becomes the new anchor, so deletions by age are
 * late by at most an hour, never early. Stepped back, the wall clock itself is the earlier one.
 */
export function cautiousNowMs(): number {
  const wall = Date.now();
  const mono = monotonicMs();
  const anchored = anchor.wall + (mono - anchor.mono);
  if (wall <= anchored + 1000) {
    anchor.aheadSince = null;
    return Math.min(wall, anchored);
  }
  anchor.aheadSince ??= mono;
  if (mono - anchor.aheadSince >= TRUST_FORWARD_MS) {
    Object.assign(anchor, { wall, mono, aheadSince: null });
    return wall;
  }
  return anchored;
}
