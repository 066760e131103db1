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
  /** The part was triggered but no image came (camera down, frame late): it is uninspected with this code. */
  error?: ErrorCode;
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

/** The wall clock and the monotonic clock read together when this module loaded. */
const anchor = { wall: Date.now(), mono: monotonicMs() };

/**
 * "Now" for deciding what is old enough to delete: the earlier of the wall clock and the wall
 * clock at start plus the monotonic time since. A wall clock stepped forward (an hour, a wrong
 * RTC corrected by NTP) then makes nothing older than it is; stepped back, the wall clock itself
 * is the earlier one. Either way a deletion waits rather than comes early.
 */
export function cautiousNowMs(): number {
  return Math.min(Date.now(), anchor.wall + (monotonicMs() - anchor.mono));
}
