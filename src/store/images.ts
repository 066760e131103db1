import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp, { type Metadata, type OutputInfo, type OverlayOptions, type Sharp } from 'sharp';
import { channelsOf, type FrameImage } from '../capture/index.js';
import { decodeBmp, isBmp } from '../preprocess/index.js';
import type { InspectionResult } from '../line/protocol.js';

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
}

const THUMB_WIDTH = 256;

/**
 * Writes an inspection's images under `root`: the original as captured (encoded bytes kept
 * byte for byte; raw camera frames as lossless PNG), an annotated overlay (boxes, masks, heat
 * map, labels) and a thumbnail of the overlay. Paths are made here, never taken from a client.
 */
export class ImageStore {
  constructor(readonly root: string) {}

  resolve(rel: string): string {
    const full = path.resolve(this.root, rel);
    if (!full.startsWith(path.resolve(this.root) + path.sep)) throw new Error('image path escapes the image root');
    return full;
  }

  /**
   * Writes the three variants. All or nothing: if one fails (a full disk), the files already
   * written are removed again, so nothing on disk lacks its row.
   */
  async write(stationId: string, r: InspectionResult): Promise<StoredImage[]> {
    if (!r.image) return [];
    const day = new Date(r.timestamp).toISOString().slice(0, 10);
    const base = `${r.timestamp}-${sanitize(r.source)}-${r.seq}`;
    const dir = path.join(sanitize(stationId), day);
    await mkdir(path.join(this.root, dir), { recursive: true });
    const written: string[] = [];
    const put = async (rel: string, data: Buffer) => {
      written.push(rel);
      await writeFile(path.join(this.root, rel), data);
    };
    try {
      const out: StoredImage[] = [];
      const original = await encodeOriginal(r.image);
      const origRel = path.join(dir, `${base}-original.${original.ext}`);
      await put(origRel, original.data);
      out.push({ variant: 'original', path: origRel, mime: original.mime, width: original.width, height: original.height, bytes: original.data.length });

      const overlay = await renderOverlay(r.image, r, original.width, original.height);
      const ovRel = path.join(dir, `${base}-overlay.jpg`);
      await put(ovRel, overlay);
      out.push({ variant: 'overlay', path: ovRel, mime: 'image/jpeg', width: original.width, height: original.height, bytes: overlay.length });

      const thumb = await sharp(overlay).resize({ width: THUMB_WIDTH, withoutEnlargement: true }).jpeg({ quality: 80 }).toBuffer({ resolveWithObject: true });
      const thRel = path.join(dir, `${base}-thumb.jpg`);
      await put(thRel, thumb.data);
      out.push({ variant: 'thumb', path: thRel, mime: 'image/jpeg', width: thumb.info.width, height: thumb.info.height, bytes: thumb.data.length });
      return out;
    } catch (err) {
      await Promise.all(written.map((rel) => rm(path.join(this.root, rel), { force: true }).catch(() => undefined)));
      throw err;
    }
  }

  /** Removes stored image files (a record that could not be written keeps no orphans). */
  async remove(images: readonly StoredImage[]): Promise<void> {
    await Promise.all(images.map((i) => rm(this.resolve(i.path), { force: true }).catch(() => undefined)));
  }
}

function sanitize(s: string): string {
  return s.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 64) || '_';
}

function input(original: FrameImage): Sharp {
  const image = original.kind === 'encoded' && isBmp(original.data) ? decodeBmp(original.data, 1e9) : original;
  return image.kind === 'raw'
    ? sharp(image.data, { raw: { width: image.width, height: image.height, channels: channelsOf(image.format) } })
    : sharp(image.data, { failOn: 'none' });
}

async function encodeOriginal(image: FrameImage): Promise<{ data: Buffer; ext: string; mime: string; width: number; height: number }> {
  if (image.kind === 'raw') {
    const data = await input(image).png({ compressionLevel: 1 }).toBuffer();
    return { data, ext: 'png', mime: 'image/png', width: image.width, height: image.height };
  }
  if (isBmp(image.data)) {
    const view = Buffer.from(image.data);
    return { data: view, ext: 'bmp', mime: 'image/bmp', width: Math.abs(view.readInt32LE(18)), height: Math.abs(view.readInt32LE(22)) };
  }
  const meta = await sharp(image.data, { failOn: 'none' }).metadata().catch(() => ({} as Metadata));
  const fmt = meta.format ?? 'bin';
  const mime = ({ jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp', tiff: 'image/tiff', gif: 'image/gif' } as Record<string, string>)[fmt] ?? 'application/octet-stream';
  return { data: Buffer.from(image.data), ext: fmt === 'jpeg' ? 'jpg' : fmt, mime, width: meta.width ?? 0, height: meta.height ?? 0 };
}

const COLORS = ['#ff3b30', '#ff9500', '#ffcc00', '#34c759', '#00c7be', '#007aff', '#af52de', '#ff2d55'];

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

/**
 * The overlay: every finding the model reported with its score, rejecting ones in solid colour
 * and the rest dashed (honest about what the station saw but did not count), masks tinted,
 * the anomaly heat map blended, and a verdict banner.
 */
async function renderOverlay(image: FrameImage, r: InspectionResult, width: number, height: number): Promise<Buffer> {
  if (!width || !height) {
    // Undecodable original: the overlay is a plain card saying why.
    return sharp({ create: { width: 320, height: 240, channels: 3, background: '#222' } })
      .composite([{ input: Buffer.from(`<svg width="320" height="240"><text x="12" y="120" fill="#fff" font-size="16" font-family="sans-serif">${escapeXml(r.errorCode ?? 'unreadable image')}</text></svg>`) }])
      .jpeg().toBuffer();
  }
  const layers: OverlayOptions[] = [];
  const classes = [...new Set(r.defects.map((d) => d.class))];
  const colorOf = (c: string) => COLORS[classes.indexOf(c) % COLORS.length];

  if (r.anomalyMap) {
    const m = r.anomalyMap;
    const rgba = Buffer.alloc(m.width * m.height * 4);
    for (let i = 0; i < m.width * m.height; i++) {
      const v = Math.max(0, Math.min(1, m.data[i]));
      const [cr, cg, cb] = heat(v);
      rgba[i * 4] = cr; rgba[i * 4 + 1] = cg; rgba[i * 4 + 2] = cb;
      rgba[i * 4 + 3] = Math.round(40 + 150 * v);
    }
    const [rx, ry, rw, rh] = m.region.map(Math.round);
    const w = Math.max(1, Math.min(rw, width - rx)), h = Math.max(1, Math.min(rh, height - ry));
    const tile = await sharp(rgba, { raw: { width: m.width, height: m.height, channels: 4 } }).resize(w, h, { fit: 'fill', kernel: 'linear' }).png().toBuffer();
    layers.push({ input: tile, left: rx, top: ry });
  }

  if (r.masks) {
    for (let k = 0; k < r.defects.length; k++) {
      const mask = r.masks[k];
      const box = r.defects[k].box;
      if (!mask || !box || mask.width === 0 || mask.height === 0) continue;
      const [x1, y1, x2, y2] = box.map(Math.round);
      const w = Math.max(1, Math.min(x2 - x1, width - x1)), h = Math.max(1, Math.min(y2 - y1, height - y1));
      if (x1 < 0 || y1 < 0 || x1 >= width || y1 >= height) continue;
      const hex = colorOf(r.defects[k].class);
      const [cr, cg, cb] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
      const rgba = Buffer.alloc(mask.width * mask.height * 4);
      for (let i = 0; i < mask.data.length; i++) if (mask.data[i]) { rgba[i * 4] = cr; rgba[i * 4 + 1] = cg; rgba[i * 4 + 2] = cb; rgba[i * 4 + 3] = 110; }
      const tile = await sharp(rgba, { raw: { width: mask.width, height: mask.height, channels: 4 } }).resize(w, h, { fit: 'fill', kernel: 'nearest' }).png().toBuffer();
      layers.push({ input: tile, left: x1, top: y1 });
    }
  }

  const font = Math.max(11, Math.round(width / 45));
  const parts: string[] = [];
  for (const d of r.defects) {
    if (!d.box) continue;
    const [x1, y1, x2, y2] = d.box;
    const c = colorOf(d.class);
    const dash = d.rejecting ? '' : ' stroke-dasharray="5,4"';
    parts.push(`<rect x="${x1.toFixed(1)}" y="${y1.toFixed(1)}" width="${Math.max(1, x2 - x1).toFixed(1)}" height="${Math.max(1, y2 - y1).toFixed(1)}" fill="none" stroke="${c}" stroke-width="2"${dash}/>`);
    const ty = y1 > font + 4 ? y1 - 4 : y2 + font + 2;
    parts.push(`<text x="${x1.toFixed(1)}" y="${ty.toFixed(1)}" fill="${c}" font-size="${font}" font-family="sans-serif" font-weight="bold" stroke="#000" stroke-width="0.6">${escapeXml(d.class)} ${d.score.toFixed(2)}</text>`);
  }
  const banner = r.verdict === 'pass' ? '#1f9d55' : r.verdict === 'fail' ? '#d64545' : '#b7791f';
  const label = `${r.verdict.toUpperCase()}  #${r.seq}${r.errorCode ? '  ' + r.errorCode : ''}`;
  parts.push(`<rect x="0" y="0" width="${Math.min(width, font * (label.length * 0.62) + 16)}" height="${font + 10}" fill="${banner}" opacity="0.85"/>`);
  parts.push(`<text x="8" y="${font + 3}" fill="#fff" font-size="${font}" font-family="sans-serif" font-weight="bold">${escapeXml(label)}</text>`);
  layers.push({ input: Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${parts.join('')}</svg>`), left: 0, top: 0 });

  return input(image).toColourspace('srgb').composite(layers).jpeg({ quality: 85 }).toBuffer();
}

/** A perceptually ordered blue → yellow → red ramp for anomaly scores in [0, 1]. */
function heat(v: number): [number, number, number] {
  const stops: [number, number, number][] = [[0, 0, 160], [0, 160, 255], [255, 230, 0], [255, 40, 0]];
  const x = v * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  return [0, 1, 2].map((k) => Math.round(stops[i][k] + (stops[i + 1][k] - stops[i][k]) * f)) as [number, number, number];
}
