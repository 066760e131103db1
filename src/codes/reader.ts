/**
 * Codes read from the part: a DataMatrix, QR or Code 128 code in a recipe's region of the frame,
 * decoded with zxing-wasm (ZXing-C++ compiled to WebAssembly), reader-only build.
 *
 * The station runs air-gapped. zxing-wasm's default fetches its .wasm from jsDelivr; here the
 * module is always prepared first from the file that ships in node_modules/zxing-wasm, given as
 * `wasmBinary`. With `wasmBinary` set, Emscripten's loader neither streams nor fetches (it
 * instantiates those bytes), and on Node it has no fetcher of its own anyway.
 *
 *   frame ─▶ sharp: extract(region) → grey ─▶ RGBA (zxing's pixel input) ─▶ readBarcodes ─▶ text | null
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import sharp from 'sharp';
import { prepareZXingModule, readBarcodes, type ReaderOptions } from 'zxing-wasm/reader';
import { channelsOf, type FrameImage, type RawImage } from '../capture/index.js';
import type { CodeSpec } from '../config/schema.js';
import { StationError } from '../errors/index.js';

/** The reader's WebAssembly module, as installed with the package (never a download). */
export const ZXING_READER_WASM: string = createRequire(import.meta.url).resolve('zxing-wasm/reader/zxing_reader.wasm');

export type Symbology = CodeSpec['symbology'];

/** The module is one per thread (zxing-wasm caches it); prepared once, from `wasmFile`. */
let prepared: { file: string; ready: Promise<unknown> } | null = null;

/**
 * Loads zxing's reader from `wasmFile` (default: the package's own). Call before any read; the
 * line worker does at start, so the first part never waits for it.
 */
export function prepareCodeReader(wasmFile = ZXING_READER_WASM): Promise<unknown> {
  if (prepared?.file === wasmFile) return prepared.ready;
  const bytes = readFileSync(wasmFile);
  const wasmBinary = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  // locateFile too: whatever the loader would name, it names the local file, never the CDN.
  const ready = prepareZXingModule({ overrides: { wasmBinary, locateFile: () => wasmFile }, fireImmediately: true }).then(async (module) => {
    // Warm-up: the module's first reads compile and grow its memory; none of it may land on a part.
    for (const s of ['DataMatrix', 'QRCode', 'Code128'] as const) await readBarcodes(pixels(new Uint8Array(64 * 64).fill(255), 64, 64), readerOptions(s));
    return module;
  });
  prepared = { file: wasmFile, ready };
  return ready;
}

/** Whether `region` [x, y, w, h] lies wholly inside a frame of `width` × `height`. */
export function regionFits(region: readonly [number, number, number, number], width: number, height: number): boolean {
  const [x, y, w, h] = region;
  return x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= width && y + h <= height;
}

/**
 * The text of the `symbology` code in `region` of the frame, or null when none can be read.
 * `size` is the frame's width and height (as preprocessing found them, EXIF orientation applied).
 * A region outside the frame throws STN_ERR_CODE_REGION; a reader failure STN_ERR_CODE_READER.
 */
export async function readCode(image: FrameImage, size: [number, number], spec: Pick<CodeSpec, 'symbology' | 'region'>): Promise<string | null> {
  if (!regionFits(spec.region, size[0], size[1])) {
    throw new StationError('STN_ERR_CODE_REGION', `code region [${spec.region.join(', ')}] does not fit inside the ${size[0]}x${size[1]} frame`);
  }
  if (!prepared) throw new StationError('STN_ERR_CODE_READER', 'the code reader was not prepared from its local WebAssembly file');
  const [left, top, width, height] = spec.region;
  try {
    // A camera's raw frame: the region's rows, copied on this thread (a trip through libvips'
    // threads would queue behind the next part's preprocessing). An encoded one: libvips decodes.
    const input =
      image.kind === 'raw'
        ? rawRegion(image, spec.region)
        : pixels(
            await sharp(image.data, { failOn: 'warning', autoOrient: true }).extract({ left, top, width, height }).greyscale().raw().toBuffer(),
            width,
            height,
          );
    await prepared.ready;
    const found = await readBarcodes(input, readerOptions(spec.symbology));
    const valid = found.find((r) => r.isValid);
    // The text as read (a NUL included: the store keeps it as U+FFFD, where PostgreSQL needs it).
    return valid ? valid.text : null;
  } catch (err) {
    throw new StationError('STN_ERR_CODE_READER', `reading the ${spec.symbology} code failed: ${(err as Error).message ?? err}`, { cause: err });
  }
}

/** The region of a raw Mono8 or RGB8 frame as RGBA. */
function rawRegion(image: RawImage, [left, top, width, height]: readonly [number, number, number, number]): Parameters<typeof readBarcodes>[0] {
  const ch = channelsOf(image.format);
  // Mono8: the one band three times; RGB8: its bands.
  const g = ch === 1 ? 0 : 1,
    b = ch === 1 ? 0 : 2;
  const d = image.data;
  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let y = 0, j = 0; y < height; y++) {
    let i = ((top + y) * image.width + left) * ch;
    for (let x = 0; x < width; x++, i += ch, j += 4) {
      rgba[j] = d[i];
      rgba[j + 1] = d[i + g];
      rgba[j + 2] = d[i + b];
      rgba[j + 3] = 255;
    }
  }
  return { data: rgba, width, height, colorSpace: 'srgb' } as unknown as Parameters<typeof readBarcodes>[0];
}

/** Grey pixels as zxing-wasm takes them: RGBA (ImageData), which it makes grey again itself. */
function pixels(grey: Uint8Array, width: number, height: number): Parameters<typeof readBarcodes>[0] {
  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let i = 0, j = 0; i < grey.length; i++, j += 4) {
    rgba[j] = rgba[j + 1] = rgba[j + 2] = grey[i];
    rgba[j + 3] = 255;
  }
  return { data: rgba, width, height, colorSpace: 'srgb' } as unknown as Parameters<typeof readBarcodes>[0];
}

/** One symbology, one symbol: the reader looks for nothing else in the region (zxing's other defaults: try harder, rotated, inverted). */
const OPTIONS = new Map<Symbology, ReaderOptions>();
function readerOptions(s: Symbology): ReaderOptions {
  let o = OPTIONS.get(s);
  if (!o) OPTIONS.set(s, (o = { formats: [s], maxNumberOfSymbols: 1 }));
  return o;
}
