import * as bmp from 'bmp-ts';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { boxToSource, Preprocessor, YOLO_INPUT, IMAGENET_INPUT } from '../src/preprocess/index.js';

const yolo = (w = 64, h = 64) => new Preprocessor({ ...YOLO_INPUT, width: w, height: h }, { maxPixels: 50_000_000 });
const at = (p: Preprocessor, c: number, x: number, y: number) => p.tensor[c * p.spec.width * p.spec.height + y * p.spec.width + x];

describe('letterbox preprocessing', () => {
  it('scales by the shorter side, centres the image and pads with 114/255', async () => {
    const p = yolo();
    // 128x64 white: scale 0.5 → 64x32, padded 16 rows above and below.
    const img = await sharp({ create: { width: 128, height: 64, channels: 3, background: '#ffffff' } })
      .png()
      .toBuffer();
    const t = await p.run({ kind: 'encoded', data: img });
    expect(t).toMatchObject({ srcWidth: 128, srcHeight: 64, scaleX: 0.5, scaleY: 0.5, padX: 0, padY: 16 });
    expect(at(p, 0, 10, 5)).toBeCloseTo(114 / 255, 5);
    expect(at(p, 1, 10, 40)).toBeCloseTo(1, 5);
    expect(at(p, 2, 10, 60)).toBeCloseTo(114 / 255, 5);
    expect(boxToSource(t, [0, 16, 64, 48])).toEqual([0, 0, 128, 64]);
  });

  it('writes RGB planes in NCHW order (a red image fills channel 0 only)', async () => {
    const p = yolo(8, 8);
    await p.run({
      kind: 'encoded',
      data: await sharp({ create: { width: 8, height: 8, channels: 3, background: '#ff0000' } })
        .png()
        .toBuffer(),
    });
    expect([at(p, 0, 3, 3), at(p, 1, 3, 3), at(p, 2, 3, 3)]).toEqual([1, 0, 0]);
  });

  it('crops the region of interest before resizing and maps boxes back into the full frame', async () => {
    const p = new Preprocessor({ ...YOLO_INPUT, width: 32, height: 32 }, { roi: [100, 50, 64, 64], maxPixels: 1e8 });
    const t = await p.run({
      kind: 'encoded',
      data: await sharp({ create: { width: 400, height: 300, channels: 3, background: '#202020' } })
        .jpeg()
        .toBuffer(),
    });
    expect(t).toMatchObject({ roiX: 100, roiY: 50, roiWidth: 64, roiHeight: 64, scaleX: 0.5 });
    expect(boxToSource(t, [0, 0, 16, 16])).toEqual([100, 50, 132, 82]);
  });

  it('applies ImageNet normalisation when the model asks for it', async () => {
    const p = new Preprocessor({ ...IMAGENET_INPUT, width: 4, height: 4 }, { maxPixels: 1e6 });
    await p.run({
      kind: 'encoded',
      data: await sharp({ create: { width: 4, height: 4, channels: 3, background: '#000000' } })
        .png()
        .toBuffer(),
    });
    expect(at(p, 0, 0, 0)).toBeCloseTo(-0.485 / 0.229, 5);
  });
});

describe('raw camera frames (no decode)', () => {
  it('gives the same tensor for a Mono8 buffer as for the same pixels as PNG', async () => {
    const w = 96,
      h = 48;
    const data = new Uint8Array(w * h);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) % 256;
    const a = yolo(32, 32),
      b = yolo(32, 32);
    await a.run({ kind: 'raw', format: 'Mono8', width: w, height: h, data });
    await b.run({
      kind: 'encoded',
      data: await sharp(data, { raw: { width: w, height: h, channels: 1 } })
        .png()
        .toBuffer(),
    });
    expect(Array.from(a.tensor)).toEqual(Array.from(b.tensor));
  });

  it('reads BMP files (which libvips cannot) to the same tensor as the same pixels as PNG', async () => {
    const w = 40,
      h = 30;
    const rgba = Buffer.alloc(w * h * 4);
    for (let i = 0; i < w * h; i++) rgba.writeUInt32BE(0xff000000 + ((i * 37) & 0xff) * 0x010101, i * 4);
    // bmp-ts encodes ABGR; a grey ramp is the same in any channel order.
    const bmpBytes = bmp.encode({ width: w, height: h, data: rgba, bitPP: 24 } as never).data;
    const rgb = new Uint8Array(w * h * 3);
    for (let i = 0; i < w * h; i++) rgb.fill((i * 37) & 0xff, i * 3, i * 3 + 3);
    const a = yolo(16, 16),
      b = yolo(16, 16);
    await a.run({ kind: 'encoded', data: bmpBytes });
    await b.run({
      kind: 'encoded',
      data: await sharp(rgb, { raw: { width: w, height: h, channels: 3 } })
        .png()
        .toBuffer(),
    });
    expect(Array.from(a.tensor)).toEqual(Array.from(b.tensor));
  });

  it('rejects a raw frame whose size does not match its pixel format', async () => {
    await expect(yolo().run({ kind: 'raw', format: 'RGB8', width: 10, height: 10, data: new Uint8Array(100) })).rejects.toMatchObject({
      code: 'STN_ERR_IMAGE_FORMAT',
    });
  });
});

describe('bad images get stable error codes', () => {
  it('zero bytes → STN_ERR_IMAGE_EMPTY', async () => {
    await expect(yolo().run({ kind: 'encoded', data: new Uint8Array(0) })).rejects.toMatchObject({ code: 'STN_ERR_IMAGE_EMPTY' });
  });

  it('random bytes → STN_ERR_IMAGE_CORRUPT', async () => {
    await expect(yolo().run({ kind: 'encoded', data: new TextEncoder().encode('definitely not a JPEG file') })).rejects.toMatchObject({
      code: 'STN_ERR_IMAGE_CORRUPT',
    });
  });

  it('a truncated JPEG → STN_ERR_IMAGE_CORRUPT', async () => {
    const jpeg = await sharp({ create: { width: 640, height: 480, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } } })
      .jpeg()
      .toBuffer();
    await expect(yolo().run({ kind: 'encoded', data: jpeg.subarray(0, Math.floor(jpeg.length / 2)) })).rejects.toMatchObject({ code: 'STN_ERR_IMAGE_CORRUPT' });
  });

  it('a PNG whose header claims 20000x20000 pixels → STN_ERR_IMAGE_TOO_LARGE, without decoding it', async () => {
    const png = Buffer.from(
      await sharp({ create: { width: 1, height: 1, channels: 3, background: '#000' } })
        .png()
        .toBuffer(),
    );
    // IHDR width and height live at bytes 16..23; the CRC no longer matches, which must not matter.
    png.writeUInt32BE(20000, 16);
    png.writeUInt32BE(20000, 20);
    const p = new Preprocessor({ ...YOLO_INPUT, width: 64, height: 64 }, { maxPixels: 40_000_000 });
    await expect(p.run({ kind: 'encoded', data: png })).rejects.toMatchObject({ code: 'STN_ERR_IMAGE_TOO_LARGE' });
  });
});
