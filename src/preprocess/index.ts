import sharp, { type Metadata, type OutputInfo, type Sharp } from 'sharp';
import { channelsOf, type FrameImage } from '../capture/frame.js';
import { StationError } from '../errors/index.js';
import { decodeBmp, isBmp } from './bmp.js';

export { decodeBmp, isBmp };

// Frames are never the same twice: libvips' operation cache would only hold memory (it grew the
// station's RSS for the first half hour of the soak until it filled).
sharp.cache(false);

/** How a model wants its input tensor (from its manifest). */
export interface InputSpec {
  width: number;
  height: number;
  /** Ultralytics: letterbox (aspect kept, centred, padded); anomalib/classifiers: stretch. */
  resize: 'letterbox' | 'stretch';
  padValue: number;
  colorOrder: 'RGB' | 'BGR';
  /** value = (pixel * scale - mean[c]) / std[c] */
  scale: number;
  mean: [number, number, number];
  std: [number, number, number];
}

/** Maps model-input pixels back to source-image pixels. */
export interface Transform {
  srcWidth: number;
  srcHeight: number;
  /** Region of interest origin in the source. */
  roiX: number;
  roiY: number;
  roiWidth: number;
  roiHeight: number;
  scaleX: number;
  scaleY: number;
  padX: number;
  padY: number;
}

export function toSource(t: Transform, x: number, y: number): [number, number] {
  return [(x - t.padX) / t.scaleX + t.roiX, (y - t.padY) / t.scaleY + t.roiY];
}

/** Maps a box from model-input pixels to source pixels, clipped to the region of interest. */
export function boxToSource(t: Transform, b: readonly [number, number, number, number]): [number, number, number, number] {
  const [x1, y1] = toSource(t, b[0], b[1]);
  const [x2, y2] = toSource(t, b[2], b[3]);
  const cx = (v: number) => Math.min(Math.max(v, t.roiX), t.roiX + t.roiWidth);
  const cy = (v: number) => Math.min(Math.max(v, t.roiY), t.roiY + t.roiHeight);
  return [cx(x1), cy(y1), cx(x2), cy(y2)];
}

export interface PreprocessOptions {
  roi?: readonly [number, number, number, number];
  maxPixels: number;
}

/**
 * Frame → model tensor. One instance per model input; `tensor` is allocated once and filled in
 * place for every frame (the inference session wraps it once). Pure: no I/O beyond sharp's
 * in-memory decode.
 */
export class Preprocessor {
  readonly tensor: Float32Array;
  /** Per-channel lookup u8 → normalised float, built once. */
  private readonly lut: Float32Array[];

  constructor(
    readonly spec: InputSpec,
    readonly options: PreprocessOptions,
  ) {
    this.tensor = new Float32Array(3 * spec.width * spec.height);
    this.lut = [0, 1, 2].map((c) => {
      const l = new Float32Array(256);
      for (let v = 0; v < 256; v++) l[v] = (v * spec.scale - spec.mean[c]) / spec.std[c];
      return l;
    });
    this.sameLut = this.lut[1].every((v, i) => v === this.lut[0][i]) && this.lut[2].every((v, i) => v === this.lut[0][i]);
  }

  /** Decodes (or wraps raw pixels), crops, resizes and fills `tensor`. */
  async run(input: FrameImage): Promise<Transform> {
    const { spec, options } = this;
    const image = input.kind === 'encoded' && isBmp(input.data) ? decodeBmp(input.data, options.maxPixels) : input;
    let pipeline: Sharp;
    let srcWidth: number, srcHeight: number;
    /** A one-band source stays one band: no conversion to three identical channels inside libvips. */
    let grey: boolean;
    if (image.kind === 'raw') {
      const channels = channelsOf(image.format);
      grey = channels === 1;
      if (!(image.width > 0 && image.height > 0) || image.data.length !== image.width * image.height * channels) {
        throw new StationError(
          'STN_ERR_IMAGE_FORMAT',
          `raw ${image.format} frame of ${image.width}x${image.height} needs ${image.width * image.height * channels} bytes, got ${image.data.length}`,
        );
      }
      if (image.width * image.height > options.maxPixels) throw tooLarge(image.width, image.height, options.maxPixels);
      pipeline = sharp(image.data, { raw: { width: image.width, height: image.height, channels } });
      srcWidth = image.width;
      srcHeight = image.height;
    } else {
      if (image.data.length === 0) throw new StationError('STN_ERR_IMAGE_EMPTY');
      // Any decoder warning fails the part (libvips' "Corrupt JPEG data", a truncated scan): a
      // damaged frame decodes to grey fill that a model happily passes. EXIF orientation is applied
      // first, so a rotated file is seen (and mapped back) as it is shown.
      pipeline = sharp(image.data, { limitInputPixels: options.maxPixels, failOn: 'warning', sequentialRead: true, autoOrient: true });
      let meta: Metadata;
      try {
        meta = await pipeline.metadata();
      } catch (err) {
        throw decodeError(err, options.maxPixels);
      }
      const width = meta.autoOrient?.width ?? meta.width;
      const height = meta.autoOrient?.height ?? meta.height;
      if (!width || !height) throw new StationError('STN_ERR_IMAGE_CORRUPT', 'the image has no dimensions');
      if (width * height > options.maxPixels) throw tooLarge(width, height, options.maxPixels);
      srcWidth = width;
      srcHeight = height;
      grey = meta.channels === 1 || (meta.channels === 2 && meta.hasAlpha === true);
    }

    const [rx, ry, rw, rh] = clampRoi(options.roi, srcWidth, srcHeight);
    if (rx !== 0 || ry !== 0 || rw !== srcWidth || rh !== srcHeight) pipeline = pipeline.extract({ left: rx, top: ry, width: rw, height: rh });

    let scaleX: number,
      scaleY: number,
      padX = 0,
      padY = 0,
      nw: number,
      nh: number;
    if (spec.resize === 'letterbox') {
      const r = Math.min(spec.width / rw, spec.height / rh);
      nw = Math.max(1, Math.round(rw * r));
      nh = Math.max(1, Math.round(rh * r));
      // Centred padding with Ultralytics' rounding (left/top get the smaller half).
      padX = Math.floor((spec.width - nw) / 2);
      padY = Math.floor((spec.height - nh) / 2);
      scaleX = nw / rw;
      scaleY = nh / rh;
    } else {
      nw = spec.width;
      nh = spec.height;
      scaleX = nw / rw;
      scaleY = nh / rh;
    }
    // Only the picture is resized here; the letterbox border is written into the tensor once per
    // geometry and stays (frames of one camera all have the same size).
    pipeline = pipeline.resize(nw, nh, { fit: 'fill', kernel: 'linear' });
    let out: { data: Buffer; info: OutputInfo };
    try {
      out = await (grey ? pipeline.removeAlpha().toColourspace('b-w') : pipeline.removeAlpha()).raw().toBuffer({ resolveWithObject: true });
    } catch (err) {
      throw decodeError(err, options.maxPixels);
    }
    const geometry = `${nw}x${nh}+${padX}+${padY}`;
    if (geometry !== this.geometry) {
      this.padAll();
      this.geometry = geometry;
    }
    this.fill(out.data, out.info.channels, nw, nh, padX, padY);
    return { srcWidth, srcHeight, roiX: rx, roiY: ry, roiWidth: rw, roiHeight: rh, scaleX, scaleY, padX, padY };
  }

  /**
   * Runs a grey and a colour frame, raw and JPEG-encoded, through this preprocessor: libvips
   * starts its worker threads and loads its decoders now, not on the first real part (the first
   * frame otherwise took 180–330 ms here, past a 400 ms deadline with the queue behind it).
   */
  async warmUp(): Promise<void> {
    const { width, height } = this.spec;
    const colour = new Uint8Array(width * height * 3).fill(128);
    const jpeg = await sharp(colour, { raw: { width, height, channels: 3 } })
      .jpeg()
      .toBuffer();
    const frames: FrameImage[] = [
      { kind: 'raw', format: 'Mono8', width, height, data: new Uint8Array(width * height).fill(128) },
      { kind: 'raw', format: 'RGB8', width, height, data: colour },
      { kind: 'encoded', data: jpeg },
    ];
    for (const f of frames) await this.run(f);
  }

  /** The letterbox border (or the whole tensor) set to the pad value. */
  private padAll(): void {
    const n = this.spec.width * this.spec.height;
    const p = this.spec.padValue;
    for (let c = 0; c < 3; c++) this.tensor.fill(this.lut[c][p], c * n, (c + 1) * n);
  }

  private geometry = '';
  /** Every channel normalised alike (YOLO, anomalib): a grey image's three planes are copies. */
  private readonly sameLut: boolean;

  /**
   * HWC u8 (1 or 3 channels) of w×h → NCHW f32 at (x0, y0) in the tensor, in one pass through
   * the lookup tables.
   */
  private fill(hwc: Uint8Array, channels: number, w: number, h: number, x0: number, y0: number): void {
    const W = this.spec.width;
    const n = W * this.spec.height;
    const t = this.tensor;
    const bgr = this.spec.colorOrder === 'BGR';
    const [l0, l1, l2] = this.lut;
    if (channels !== 1 && channels < 3) throw new StationError('STN_ERR_IMAGE_FORMAT', `unsupported channel count ${channels}`);
    const r = bgr ? 2 : 0,
      b = bgr ? 0 : 2;
    if (channels === 1 && this.sameLut) {
      // One plane through the table, then two block copies (the border is the same in all three).
      for (let y = 0; y < h; y++) {
        for (let x = 0, j = y * w, o = (y0 + y) * W + x0; x < w; x++, j++, o++) t[o] = l0[hwc[j]];
      }
      t.copyWithin(n, 0, n);
      t.copyWithin(2 * n, 0, n);
      return;
    }
    for (let y = 0; y < h; y++) {
      let o = (y0 + y) * W + x0;
      if (channels === 1) {
        for (let x = 0, j = y * w; x < w; x++, j++, o++) {
          const v = hwc[j];
          t[o] = l0[v];
          t[n + o] = l1[v];
          t[2 * n + o] = l2[v];
        }
      } else {
        for (let x = 0, j = y * w * channels; x < w; x++, j += channels, o++) {
          t[o] = l0[hwc[j + r]];
          t[n + o] = l1[hwc[j + 1]];
          t[2 * n + o] = l2[hwc[j + b]];
        }
      }
    }
  }
}

function clampRoi(roi: readonly [number, number, number, number] | undefined, w: number, h: number): [number, number, number, number] {
  if (!roi) return [0, 0, w, h];
  const x = Math.min(roi[0], w - 1),
    y = Math.min(roi[1], h - 1);
  return [x, y, Math.max(1, Math.min(roi[2], w - x)), Math.max(1, Math.min(roi[3], h - y))];
}

function tooLarge(w: number, h: number, max: number): StationError {
  return new StationError('STN_ERR_IMAGE_TOO_LARGE', `the image is ${w}x${h} (${w * h} pixels), more than the ${max} accepted`);
}

function decodeError(err: unknown, maxPixels: number): StationError {
  const msg = err instanceof Error ? err.message : String(err);
  if (/pixel limit/i.test(msg)) return new StationError('STN_ERR_IMAGE_TOO_LARGE', `the image exceeds ${maxPixels} pixels`, { cause: err });
  return new StationError('STN_ERR_IMAGE_CORRUPT', `the image cannot be decoded: ${msg.split('\n')[0]}`, { cause: err });
}

export const YOLO_INPUT: Omit<InputSpec, 'width' | 'height'> = {
  resize: 'letterbox',
  padValue: 114,
  colorOrder: 'RGB',
  scale: 1 / 255,
  mean: [0, 0, 0],
  std: [1, 1, 1],
};
/** anomalib v1/v2 exports: RGB in [0,1], normalisation inside the graph. */
export const ANOMALIB_INPUT: Omit<InputSpec, 'width' | 'height'> = {
  resize: 'stretch',
  padValue: 0,
  colorOrder: 'RGB',
  scale: 1 / 255,
  mean: [0, 0, 0],
  std: [1, 1, 1],
};
/** torchvision/timm classifiers: ImageNet normalisation outside the graph. */
export const IMAGENET_INPUT: Omit<InputSpec, 'width' | 'height'> = {
  resize: 'stretch',
  padValue: 0,
  colorOrder: 'RGB',
  scale: 1 / 255,
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
};
