import * as bmp from 'bmp-ts';
import type { RawImage } from '../capture/frame.js';
import { StationError } from '../errors/index.js';

/** BMP files start with "BM". Industrial cameras and their tools write them; libvips cannot read them. */
export function isBmp(bytes: Uint8Array): boolean {
  return bytes.length > 26 && bytes[0] === 0x42 && bytes[1] === 0x4d;
}

/** Decodes a BMP (bmp-ts) into a raw RGB8 frame, refusing more than `maxPixels` before decoding. */
export function decodeBmp(bytes: Uint8Array, maxPixels: number): RawImage {
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const w = Math.abs(view.readInt32LE(18)),
    h = Math.abs(view.readInt32LE(22));
  if (w * h > maxPixels) throw new StationError('STN_ERR_IMAGE_TOO_LARGE', `the BMP is ${w}x${h} (${w * h} pixels), more than the ${maxPixels} accepted`);
  let img: { width: number; height: number; data: Buffer };
  try {
    img = bmp.decode(view, { toRGBA: true });
  } catch (err) {
    throw new StationError('STN_ERR_IMAGE_CORRUPT', `the BMP cannot be decoded: ${(err as Error).message}`, { cause: err });
  }
  const rgb = new Uint8Array(img.width * img.height * 3);
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
    rgb[i] = img.data[j];
    rgb[i + 1] = img.data[j + 1];
    rgb[i + 2] = img.data[j + 2];
  }
  return { kind: 'raw', format: 'RGB8', width: img.width, height: img.height, data: rgb };
}
