import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { PartGenerator } from '../../src/capture/index.js';
import { Rng } from '../../src/capture/random.js';

/** One file of the corpus: its bytes, and the undamaged original it was made from. */
export interface CorpusFile {
  name: string;
  data: Buffer;
  /** The name of the undamaged original (itself for originals). */
  original: string;
  /** valid: must get its original's verdict; damaged: bytes broken on purpose. */
  kind: 'original' | 'valid' | 'damaged';
}

/** A synthetic plate (512 × 384 Mono8) as an sRGB picture sharp can re-encode. */
function plate(gen: PartGenerator, index: number) {
  const p = gen.part(index);
  if (p.image.kind !== 'raw') throw new Error('synthetic parts are raw frames');
  return sharp(Buffer.from(p.image.data), { raw: { width: p.image.width, height: p.image.height, channels: 1 } }).toColourspace('srgb');
}

/** Offset of the first byte after a JPEG's start-of-scan header: the entropy-coded data. */
function jpegScanStart(jpg: Buffer): number {
  for (let i = 2; i + 3 < jpg.length; ) {
    if (jpg[i] !== 0xff) throw new Error('not a JPEG marker stream');
    const marker = jpg[i + 1];
    const len = jpg.readUInt16BE(i + 2);
    if (marker === 0xda) return i + 2 + len;
    i += 2 + len;
  }
  throw new Error('no start of scan');
}

/** A PNG whose IHDR declares `width` × `height` (CRC recomputed, so only the size is absurd). */
function pngWithSize(png: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(png);
  out.writeUInt32BE(width, 16);
  out.writeUInt32BE(height, 20);
  out.writeUInt32BE(crc32(out.subarray(12, 29)) >>> 0, 29);
  return out;
}

/** A JPEG whose frame header (SOF0/SOF2) declares `width` × `height`. */
function jpegWithSize(jpg: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(jpg);
  for (let i = 2; i + 3 < out.length; ) {
    const marker = out[i + 1];
    const len = out.readUInt16BE(i + 2);
    if (marker === 0xc0 || marker === 0xc2) {
      out.writeUInt16BE(height, i + 5);
      out.writeUInt16BE(width, i + 7);
      return out;
    }
    i += 2 + len;
  }
  throw new Error('no frame header');
}

function flipBits(data: Buffer, rng: Rng, from: number, bits: number): Buffer {
  const out = Buffer.from(data);
  for (let k = 0; k < bits; k++) {
    const at = rng.int(from, out.length - 3);
    out[at] ^= 1 << rng.int(0, 7);
  }
  return out;
}

/**
 * A seeded corpus of damaged images and valid edge cases, made from synthetic plates encoded as
 * JPEG and PNG: bits flipped at many positions of the compressed data, truncations at several
 * lengths (some flipped too), wrong magic bytes, zero bytes, absurd declared sizes; and valid
 * progressive JPEG, CMYK JPEG, 16-bit PNG and EXIF-rotated JPEG of the same pictures.
 */
export async function damagedCorpus(seed: number, parts: number[]): Promise<CorpusFile[]> {
  const gen = new PartGenerator({ seed: 5, defectRate: 0.5 });
  const rng = new Rng(seed);
  const files: CorpusFile[] = [];
  for (const index of parts) {
    const p = `p${index}`;
    const jpg = await plate(gen, index).jpeg({ quality: 92 }).toBuffer();
    const png = await plate(gen, index).png().toBuffer();
    const add = (name: string, data: Buffer, original: string, kind: CorpusFile['kind']) =>
      files.push({ name: `${p}-${name}`, data, original: `${p}-${original}`, kind });
    add('original.jpg', jpg, 'original.jpg', 'original');
    add('original.png', png, 'original.png', 'original');

    add('progressive.jpg', await plate(gen, index).jpeg({ quality: 92, progressive: true }).toBuffer(), 'original.jpg', 'valid');
    add('cmyk.jpg', await plate(gen, index).toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer(), 'original.jpg', 'valid');
    add('depth16.png', await plate(gen, index).toColourspace('rgb16').png().toBuffer(), 'original.png', 'valid');
    // Stored rotated by a quarter turn, with the EXIF orientation (8) that turns it back for display.
    const rotated = await plate(gen, index).rotate(90).jpeg({ quality: 92 }).withMetadata({ orientation: 8 }).toBuffer();
    add('exif-rotated.jpg', rotated, 'original.jpg', 'valid');

    const scan = jpegScanStart(jpg);
    for (let k = 0; k < 8; k++) add(`flip${k}.jpg`, flipBits(jpg, rng, scan, 1 + (k % 3)), 'original.jpg', 'damaged');
    // Bits flipped so that a byte of the scan reads 0xFF: a spurious marker, which libvips only
    // warns about ("Corrupt JPEG data: premature end of data segment") and decodes to grey fill.
    for (let k = 0; k < 6; k++) {
      const marker = Buffer.from(jpg);
      marker[rng.int(scan, jpg.length - 3)] |= 0xff;
      add(`marker${k}.jpg`, marker, 'original.jpg', 'damaged');
    }
    for (let k = 0; k < 6; k++) add(`flip${k}.png`, flipBits(png, rng, 64, 1 + (k % 3)), 'original.png', 'damaged');
    for (const share of [0.1, 0.3, 0.6, 0.9, 0.99]) {
      add(`cut${Math.round(share * 100)}.jpg`, jpg.subarray(0, Math.round(jpg.length * share)), 'original.jpg', 'damaged');
      add(`cut${Math.round(share * 100)}.png`, png.subarray(0, Math.round(png.length * share)), 'original.png', 'damaged');
    }
    add('cut60-flip.jpg', flipBits(jpg.subarray(0, Math.round(jpg.length * 0.6)), rng, scan, 2), 'original.jpg', 'damaged');
    add('magic.jpg', Buffer.concat([Buffer.from([0x00, 0x00, 0x00, 0x00]), jpg.subarray(4)]), 'original.jpg', 'damaged');
    add('magic.png', Buffer.concat([Buffer.from('GIF89a'), png.subarray(6)]), 'original.png', 'damaged');
    add('empty.jpg', Buffer.alloc(0), 'original.jpg', 'damaged');
    add('huge.png', pngWithSize(png, 0x7fff_ffff, 0x7fff_ffff), 'original.png', 'damaged');
    add('huge.jpg', jpegWithSize(jpg, 65_000, 65_000), 'original.jpg', 'damaged');
  }
  return files;
}

/**
 * Whether libvips, the decoder the station uses, reports a file as damaged: any error or
 * warning while reading its header or decoding its pixels (asked with `failOn: 'warning'`).
 */
export async function decoderReportsDamage(data: Buffer, maxPixels = 40_000_000): Promise<boolean> {
  if (data.length === 0) return true;
  try {
    await sharp(data, { failOn: 'warning', limitInputPixels: maxPixels }).raw().toBuffer();
    return false;
  } catch {
    return true;
  }
}
