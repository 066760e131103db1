import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, statfs, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp, { type Metadata, type Sharp } from 'sharp';
import { Canvas, drawOverlay } from './overlay.js';
import { channelsOf, type FrameImage } from '../capture/index.js';
import { decodeBmp, isBmp } from '../preprocess/index.js';
import type { InspectionResult } from '../line/protocol.js';
import { sha256Hex } from './chain.js';

export type ImageVariant = 'original' | 'overlay' | 'thumb';
export const IMAGE_VARIANTS: readonly ImageVariant[] = ['original', 'overlay', 'thumb'];

export interface StoredImage {
  variant: ImageVariant;
  /** Relative to the image root. */
  path: string;
  mime: string;
  width: number;
  height: number;
  bytes: number;
  /** SHA-256 (hex) of the file's bytes (absent in spool lines from before the records' hash chain). */
  sha256?: string;
}

const THUMB_WIDTH = 256;

// Frames are never the same twice: libvips' operation cache would only hold memory (it grew the
// station's RSS for the first half hour of the soak until it filled).
sharp.cache(false);

/**
 * Where inspection images live. Paths are made by the store, relative to it, and stored in the
 * database; clients address images by inspection id only. The station ships a store on a file
 * system (a local disk, or a network share that several stations mount: `storage.imagesDir`);
 * object storage can implement the same interface.
 */
export interface ImageStore {
  /** Where the store is, for messages. */
  readonly location: string;
  /** The original, the overlay and the thumbnail of a part; all or nothing. */
  write(stationId: string, r: InspectionResult): Promise<StoredImage[]>;
  /** A stored image to send; null when it is gone. */
  open(rel: string): Promise<{ stream: NodeJS.ReadableStream; size: number } | null>;
  /** A stored image as a local file (for the line to read it again, or to copy it). */
  localPath(rel: string): Promise<string | null>;
  remove(rels: readonly string[]): Promise<void>;
  /** Free and total bytes where new images go (null when the store cannot tell). */
  space(): Promise<{ freeBytes: number; totalBytes: number } | null>;
  /**
   * The images a process that died had written for this part before its row was committed: all
   * three variants found again under their names, or none (a partial set is removed: no file is
   * left without a row).
   */
  adopt?(stationId: string, r: Pick<InspectionResult, 'timestamp' | 'source' | 'seq'>): Promise<StoredImage[]>;
}

/**
 * Images on a file system under `root`: the original as captured (encoded bytes kept byte for
 * byte; raw camera frames as lossless PNG), an annotated overlay (boxes, masks, heat map,
 * labels) and a thumbnail of the overlay, in `<station>/<day>/` folders.
 */
export class DiskImageStore implements ImageStore {
  /**
   * @param wanted asked just before each file is renamed into place (synchronously, so nothing runs
   *   in between): false abandons the write. The encoder child passes "my station is alive".
   */
  constructor(
    readonly root: string,
    private readonly wanted: () => boolean = () => true,
  ) {}

  get location(): string {
    return this.root;
  }

  resolve(rel: string): string {
    const full = path.resolve(this.root, rel);
    if (!full.startsWith(path.resolve(this.root) + path.sep)) throw new Error('image path escapes the image root');
    return full;
  }

  async open(rel: string) {
    const file = this.resolve(rel);
    const st = await stat(file).catch(() => null);
    return st ? { stream: createReadStream(file), size: st.size } : null;
  }

  async localPath(rel: string): Promise<string | null> {
    const file = this.resolve(rel);
    return (await stat(file).catch(() => null)) ? file : null;
  }

  async space() {
    const fs = await statfs(this.root).catch(() => null);
    return fs ? { freeBytes: fs.bavail * fs.bsize, totalBytes: fs.blocks * fs.bsize } : null;
  }

  /**
   * Writes the three variants. All or nothing: if one fails (a full disk), the files already
   * written are removed again, so nothing on disk lacks its row.
   */
  /** Where a part's images go: `<station>/<day>/<timestamp>-<source>-<seq>-<variant>.<ext>`. */
  private placeOf(stationId: string, r: Pick<InspectionResult, 'timestamp' | 'source' | 'seq'>) {
    return { dir: path.join(sanitize(stationId), new Date(r.timestamp).toISOString().slice(0, 10)), base: `${r.timestamp}-${sanitize(r.source)}-${r.seq}` };
  }

  async adopt(stationId: string, r: Pick<InspectionResult, 'timestamp' | 'source' | 'seq'>): Promise<StoredImage[]> {
    const { dir, base } = this.placeOf(stationId, r);
    const found: StoredImage[] = [];
    const candidates: [ImageVariant, string][] = [
      ...Object.entries(ORIGINAL_MIME).map(([ext]) => ['original', `${base}-original.${ext}`] as [ImageVariant, string]),
      ['overlay', `${base}-overlay.jpg`],
      ['thumb', `${base}-thumb.jpg`],
    ];
    for (const [variant, name] of candidates) {
      const rel = path.join(dir, name);
      const st = await stat(path.join(this.root, rel)).catch(() => null);
      if (!st) continue;
      const ext = name.slice(name.lastIndexOf('.') + 1);
      const data = await readFile(path.join(this.root, rel)).catch(() => null);
      if (!data) continue;
      const meta = await sharp(path.join(this.root, rel), { failOn: 'none' })
        .metadata()
        .catch(() => ({}) as Metadata);
      found.push({
        variant,
        path: rel,
        mime: ORIGINAL_MIME[ext] ?? 'application/octet-stream',
        // As write() records them: the size as shown (EXIF orientation applied).
        width: meta.autoOrient?.width ?? meta.width ?? 0,
        height: meta.autoOrient?.height ?? meta.height ?? 0,
        bytes: st.size,
        sha256: sha256Hex(data),
      });
    }
    // A write cut short left its `.part` file: it never became an image.
    await Promise.all(candidates.map(([, name]) => rm(path.join(this.root, dir, `${name}.part`), { force: true }).catch(() => undefined)));
    if (found.length === 3 && new Set(found.map((f) => f.variant)).size === 3) return found;
    await this.remove(found.map((f) => f.path));
    return [];
  }

  async write(stationId: string, r: InspectionResult): Promise<StoredImage[]> {
    if (!r.image) return [];
    const { dir, base } = this.placeOf(stationId, r);
    await mkdir(path.join(this.root, dir), { recursive: true });
    const written: string[] = [];
    // Each file appears whole or not at all (written aside, then renamed): a process killed
    // mid-write leaves no torn image that a later start would take for a complete one.
    const put = async (rel: string, data: Buffer) => {
      written.push(rel);
      const file = path.join(this.root, rel);
      await writeFile(`${file}.part`, data);
      if (!this.wanted()) throw Object.assign(new Error('the station that asked for this image is gone'), { code: 'STN_ERR_STORE_WRITE' });
      await rename(`${file}.part`, file);
    };
    try {
      const out: StoredImage[] = [];
      const original = await encodeOriginal(r.image);
      const origRel = path.join(dir, `${base}-original.${original.ext}`);
      await put(origRel, original.data);
      out.push({
        variant: 'original',
        path: origRel,
        mime: original.mime,
        width: original.width,
        height: original.height,
        bytes: original.data.length,
        sha256: sha256Hex(original.data),
      });

      const { overlay, thumb } = await renderOverlay(r.image, r, original.width, original.height);
      const ovRel = path.join(dir, `${base}-overlay.jpg`);
      await put(ovRel, overlay);
      out.push({
        variant: 'overlay',
        path: ovRel,
        mime: 'image/jpeg',
        width: original.width,
        height: original.height,
        bytes: overlay.length,
        sha256: sha256Hex(overlay),
      });

      const thRel = path.join(dir, `${base}-thumb.jpg`);
      await put(thRel, thumb.data);
      out.push({
        variant: 'thumb',
        path: thRel,
        mime: 'image/jpeg',
        width: thumb.width,
        height: thumb.height,
        bytes: thumb.data.length,
        sha256: sha256Hex(thumb.data),
      });
      return out;
    } catch (err) {
      await Promise.all(written.flatMap((rel) => [rel, `${rel}.part`]).map((rel) => rm(path.join(this.root, rel), { force: true }).catch(() => undefined)));
      throw err;
    }
  }

  async remove(rels: readonly string[]): Promise<void> {
    await Promise.all(rels.map((rel) => rm(this.resolve(rel), { force: true })));
  }
}

/** The file endings an original is stored under, with their types (overlays and thumbnails are JPEG). */
const ORIGINAL_MIME: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  bmp: 'image/bmp',
  webp: 'image/webp',
  tiff: 'image/tiff',
  gif: 'image/gif',
  bin: 'application/octet-stream',
};

/** The folder under the image root that holds a station's images (every stored path starts with it and a slash). */
export function stationFolder(stationId: string): string {
  return sanitize(stationId);
}

function sanitize(s: string): string {
  return s.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 64) || '_';
}

function input(original: FrameImage): Sharp {
  const image = original.kind === 'encoded' && isBmp(original.data) ? decodeBmp(original.data, 1e9) : original;
  return image.kind === 'raw'
    ? sharp(image.data, { raw: { width: image.width, height: image.height, channels: channelsOf(image.format) } })
    : sharp(image.data, { failOn: 'none', autoOrient: true });
}

async function encodeOriginal(image: FrameImage): Promise<{ data: Buffer; ext: string; mime: string; width: number; height: number }> {
  if (image.kind === 'raw') {
    const data = await input(image).png({ compressionLevel: 1, adaptiveFiltering: false }).toBuffer();
    return { data, ext: 'png', mime: 'image/png', width: image.width, height: image.height };
  }
  if (isBmp(image.data)) {
    const view = Buffer.from(image.data);
    return { data: view, ext: 'bmp', mime: 'image/bmp', width: Math.abs(view.readInt32LE(18)), height: Math.abs(view.readInt32LE(22)) };
  }
  // The bytes as received, whatever they are (a damaged or empty frame is kept for traceability).
  const meta = image.data.length
    ? await sharp(image.data, { failOn: 'none' })
        .metadata()
        .catch(() => ({}) as Metadata)
    : ({} as Metadata);
  // Named by what the bytes are; anything else is kept as received under .bin.
  const ext = meta.format === 'jpeg' ? 'jpg' : meta.format && Object.hasOwn(ORIGINAL_MIME, meta.format) ? meta.format : 'bin';
  return {
    data: Buffer.from(image.data),
    ext,
    mime: ORIGINAL_MIME[ext],
    width: meta.autoOrient?.width ?? meta.width ?? 0,
    height: meta.autoOrient?.height ?? meta.height ?? 0,
  };
}

/** The image as 8-bit RGB pixels, to draw the overlay into. */
async function rgbOf(image: FrameImage): Promise<Canvas> {
  if (image.kind === 'raw') {
    const n = image.width * image.height;
    if (image.format === 'RGB8') return new Canvas(new Uint8Array(image.data), image.width, image.height);
    const rgb = new Uint8Array(n * 3);
    for (let i = 0, j = 0; i < n; i++, j += 3) rgb[j] = rgb[j + 1] = rgb[j + 2] = image.data[i];
    return new Canvas(rgb, image.width, image.height);
  }
  const { data, info } = await input(image).toColourspace('srgb').removeAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.channels === 3) return new Canvas(data, info.width, info.height);
  const rgb = new Uint8Array(info.width * info.height * 3);
  for (let i = 0, j = 0; j < rgb.length; i += info.channels, j += 3) rgb[j] = rgb[j + 1] = rgb[j + 2] = data[i];
  return new Canvas(rgb, info.width, info.height);
}

/**
 * The overlay and its thumbnail: every finding the model reported with its score, rejecting ones
 * solid and the rest dashed (honest about what the station saw but did not count), masks tinted,
 * the anomaly heat map blended, and a verdict banner — drawn into the pixels, then encoded once
 * as JPEG and once as a small JPEG.
 */
async function renderOverlay(
  image: FrameImage,
  r: InspectionResult,
  width: number,
  height: number,
): Promise<{ overlay: Buffer; thumb: { data: Buffer; width: number; height: number } }> {
  // Undecodable original (empty, garbage, damaged beyond what the decoder salvages): the overlay
  // is a plain card saying why, and the original keeps the bytes as received.
  let cv = width && height ? await rgbOf(image).catch(() => null) : null;
  if (cv) drawOverlay(cv, r);
  else {
    cv = new Canvas(new Uint8Array(320 * 240 * 3).fill(34), 320, 240);
    cv.text(12, 112, r.errorCode ?? 'unreadable image', [255, 255, 255], 1, false);
  }
  const raw = { raw: { width: cv.width, height: cv.height, channels: 3 as const } };
  const [overlay, thumb] = await Promise.all([
    sharp(cv.data, raw).jpeg({ quality: 85 }).toBuffer(),
    sharp(cv.data, raw).resize({ width: THUMB_WIDTH, withoutEnlargement: true }).jpeg({ quality: 80 }).toBuffer({ resolveWithObject: true }),
  ]);
  return { overlay, thumb: { data: thumb.data, width: thumb.info.width, height: thumb.info.height } };
}
