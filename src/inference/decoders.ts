import { StationError } from '../errors/index.js';
import { boxToSource, type Transform } from '../preprocess/index.js';
import type { Manifest } from './manifest.js';

/** A raw output tensor as onnxruntime returns it. */
export interface OutputTensor {
  data: Float32Array | Uint8Array | BigInt64Array | Int32Array | Float64Array;
  dims: readonly number[];
}

/** A small binary mask of one detection, covering `box` (source pixels) at its own resolution. */
export interface DetectionMask {
  width: number;
  height: number;
  data: Uint8Array;
}

export interface Detection {
  classId: number;
  class: string;
  score: number;
  /** x1, y1, x2, y2 in source-image pixels. */
  box: [number, number, number, number];
  /** Source pixels: mask pixels for segmentation models, box area otherwise. */
  area: number;
  mask?: DetectionMask;
}

/** A grid of scores over a region of the source image, row-major. */
export interface GridMap<D> {
  width: number;
  height: number;
  data: D;
  /** The source region the map covers [x, y, w, h] (source pixels). */
  region: [number, number, number, number];
}

/** The anomaly map as decoded: normalised scores (0.5 = the trained pixel threshold). */
export type AnomalyMap = GridMap<Float32Array>;

export type ModelOutput =
  | { kind: 'detection'; detections: Detection[] }
  | { kind: 'anomaly'; score: number; map?: AnomalyMap; area?: number }
  | { kind: 'classification'; scores: { class: string; score: number }[] };

export interface DecodeOptions {
  /** Detections below this are not kept at all (what-if can lower thresholds down to here). */
  candidateScore: number;
  nmsIou: number;
  maxDetections: number;
}

export type Outputs = Record<string, OutputTensor>;

/** Decodes one image's outputs (batch 1) for the model's family into source coordinates. */
export function decodeOutputs(m: Manifest, outputNames: readonly string[], outputs: Outputs, t: Transform, o: DecodeOptions): ModelOutput {
  switch (m.family) {
    case 'yolo-detect':
      return { kind: 'detection', detections: decodeYoloRaw(m, outputs[outputNames[0]], undefined, t, o) };
    case 'yolo-segment':
      return { kind: 'detection', detections: decodeYoloRaw(m, outputs[outputNames[0]], outputs[outputNames[1]], t, o) };
    case 'yolo-detect-nms':
      return { kind: 'detection', detections: decodeYoloNms(m, outputs[outputNames[0]], t, o) };
    case 'anomalib-v2':
      return decodeAnomalibV2(outputs, t);
    case 'anomalib-v1':
      return decodeAnomalibV1(m, outputNames, outputs, t);
    case 'classifier':
      return decodeClassifier(m, outputs[outputNames[0]]);
  }
}

function floats(t: OutputTensor | undefined, what: string): Float32Array {
  if (!t) throw new StationError('STN_ERR_MODEL_OUTPUT', `the model did not return ${what}`);
  if (t.data instanceof Float32Array) return t.data;
  if (t.data instanceof BigInt64Array) return Float32Array.from(t.data, Number);
  return Float32Array.from(t.data as ArrayLike<number>);
}

/**
 * Ultralytics raw head: [1, 4+nc(+nm), A], channel-major (value of row r for anchor a at
 * `r*A + a`); rows 0–3 are cx, cy, w, h in letterbox pixels, then class scores (no
 * objectness), then mask coefficients for segmentation. Transposed exports ([1, A, 4+nc]) are
 * recognised by their shape.
 */
function decodeYoloRaw(m: Manifest, out: OutputTensor | undefined, protos: OutputTensor | undefined, t: Transform, o: DecodeOptions): Detection[] {
  const data = floats(out, 'the detection head');
  const dims = out!.dims;
  if (dims.length !== 3 || dims[0] !== 1) throw new StationError('STN_ERR_MODEL_OUTPUT', `detection head has shape [${dims}], expected [1, 4+nc, anchors]`);
  const nc = m.labels.length;
  const nm = protos ? protos.dims[1] : 0;
  const rows = 4 + nc + nm;
  let A: number, rowStride: number, anchorStride: number;
  if (dims[1] === rows) {
    A = dims[2];
    rowStride = A;
    anchorStride = 1;
  } else if (dims[2] === rows) {
    A = dims[1];
    rowStride = 1;
    anchorStride = rows;
  } else
    throw new StationError(
      'STN_ERR_MODEL_OUTPUT',
      `detection head has shape [${dims}], expected ${rows} rows for ${nc} classes${nm ? ` and ${nm} mask coefficients` : ''}`,
    );

  const candidates: { a: number; c: number; score: number; box: [number, number, number, number] }[] = [];
  for (let a = 0; a < A; a++) {
    const base = a * anchorStride;
    let best = -1,
      bestC = 0;
    for (let c = 0; c < nc; c++) {
      const s = data[base + (4 + c) * rowStride];
      if (s > best) {
        best = s;
        bestC = c;
      }
    }
    if (!(best >= o.candidateScore)) continue;
    const cx = data[base],
      cy = data[base + rowStride],
      w = data[base + 2 * rowStride],
      h = data[base + 3 * rowStride];
    candidates.push({ a, c: bestC, score: best, box: [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2] });
  }
  const kept = nms(candidates, o.nmsIou, o.maxDetections);
  return kept.map((k) => {
    const box = boxToSource(t, k.box);
    const det: Detection = { classId: k.c, class: m.labels[k.c] ?? `class${k.c}`, score: k.score, box, area: boxArea(box) };
    if (protos) {
      const coeffs = new Float32Array(nm);
      for (let j = 0; j < nm; j++) coeffs[j] = data[k.a * anchorStride + (4 + nc + j) * rowStride];
      const mask = segmentMask(floats(protos, 'mask prototypes'), protos.dims, coeffs, k.box, m, t);
      det.mask = mask.mask;
      det.area = mask.area;
    }
    return det;
  });
}

/**
 * Mask of one detection: sigmoid(coeffs · protos) over the proto grid, cropped to the box
 * (in letterbox pixels), thresholded at 0.5. Area is converted to source pixels.
 */
function segmentMask(
  protos: Float32Array,
  dims: readonly number[],
  coeffs: Float32Array,
  box: [number, number, number, number],
  m: Manifest,
  t: Transform,
): { mask: DetectionMask; area: number } {
  const [, nm, mh, mw] = dims;
  const sx = mw / m.input.width,
    sy = mh / m.input.height;
  const x0 = Math.max(0, Math.floor(box[0] * sx)),
    x1 = Math.min(mw, Math.ceil(box[2] * sx));
  const y0 = Math.max(0, Math.floor(box[1] * sy)),
    y1 = Math.min(mh, Math.ceil(box[3] * sy));
  const w = Math.max(0, x1 - x0),
    h = Math.max(0, y1 - y0);
  const data = new Uint8Array(w * h);
  let count = 0;
  const plane = mh * mw;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = (y0 + y) * mw + (x0 + x);
      let v = 0;
      for (let j = 0; j < nm; j++) v += coeffs[j] * protos[j * plane + p];
      if (v > 0) {
        data[y * w + x] = 1;
        count++;
      } // sigmoid(v) > 0.5  <=>  v > 0
    }
  }
  // One proto cell covers (1/sx) x (1/sy) model pixels, i.e. that over scale² source pixels.
  const area = count / (sx * sy) / (t.scaleX * t.scaleY);
  return { mask: { width: w, height: h, data }, area };
}

/** End-to-end / nms=True exports: [1, N, 6] rows of x1, y1, x2, y2, score, class. */
function decodeYoloNms(m: Manifest, out: OutputTensor | undefined, t: Transform, o: DecodeOptions): Detection[] {
  const data = floats(out, 'the detection output');
  const dims = out!.dims;
  if (dims.length !== 3 || dims[2] < 6) throw new StationError('STN_ERR_MODEL_OUTPUT', `NMS output has shape [${dims}], expected [1, N, 6]`);
  const dets: Detection[] = [];
  for (let i = 0; i < dims[1] && dets.length < o.maxDetections; i++) {
    const r = i * dims[2];
    const score = data[r + 4];
    if (!(score >= o.candidateScore)) continue;
    const c = Math.round(data[r + 5]);
    const box = boxToSource(t, [data[r], data[r + 1], data[r + 2], data[r + 3]]);
    dets.push({ classId: c, class: m.labels[c] ?? `class${c}`, score, box, area: boxArea(box) });
  }
  return dets.sort((a, b) => b.score - a.score);
}

/** anomalib v2: `pred_score` [N] already normalised (0.5 = trained threshold), `anomaly_map` [N,1,h,w]. */
function decodeAnomalibV2(outputs: Outputs, t: Transform): ModelOutput {
  const map = outputs.anomaly_map;
  const scoreT = outputs.pred_score;
  let score: number;
  if (scoreT) score = floats(scoreT, 'pred_score')[0];
  else if (map) score = Math.max(...floats(map, 'anomaly_map'));
  else throw new StationError('STN_ERR_MODEL_OUTPUT', 'anomalib v2 model returned neither pred_score nor anomaly_map');
  if (!map) return { kind: 'anomaly', score };
  const data = floats(map, 'anomaly_map');
  return anomalyResult(score, data, map.dims, t);
}

/** anomalib v1: raw map `output` and an unnamed raw score; normalised with metadata.json's min/max. */
function decodeAnomalibV1(m: Manifest, names: readonly string[], outputs: Outputs, t: Transform): ModelOutput {
  const n = m.normalization;
  if (!n) throw new StationError('STN_ERR_MODEL_MANIFEST', 'anomalib v1 model without normalisation (metadata.json)');
  const norm = (x: number, thr: number, lo: number, hi: number) => Math.min(1, Math.max(0, (x - thr) / (hi - lo) + 0.5));
  const mapName = names.includes('output') ? 'output' : names[0];
  const map = outputs[mapName];
  const raw = floats(map, 'the anomaly map');
  const scoreName = names.find((x) => x !== mapName);
  const rawScore = scoreName ? floats(outputs[scoreName], 'the anomaly score')[0] : Math.max(...raw);
  const normMap = new Float32Array(raw.length);
  for (let i = 0; i < raw.length; i++) normMap[i] = norm(raw[i], n.pixelThreshold, n.mapMin, n.mapMax);
  return anomalyResult(norm(rawScore, n.imageThreshold, n.scoreMin, n.scoreMax), normMap, map!.dims, t);
}

const MAP_KEEP = 64;

function anomalyResult(score: number, data: Float32Array, dims: readonly number[], t: Transform): ModelOutput {
  const h = dims[dims.length - 2],
    w = dims[dims.length - 1];
  // Area above the pixel threshold, in source pixels (the map spans the model input).
  let above = 0;
  for (let i = 0; i < h * w; i++) if (data[i] >= 0.5) above++;
  const area = (above * (t.roiWidth * t.roiHeight)) / (h * w);
  // Keep a downsampled copy (max-pooled) for overlays and re-deciding; never the full map.
  const f = Math.max(1, Math.ceil(Math.max(w, h) / MAP_KEEP));
  const kw = Math.ceil(w / f),
    kh = Math.ceil(h / f);
  const small = new Float32Array(kw * kh);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const k = Math.floor(y / f) * kw + Math.floor(x / f);
      if (data[y * w + x] > small[k]) small[k] = data[y * w + x];
    }
  return { kind: 'anomaly', score, area, map: { width: kw, height: kh, data: small, region: [t.roiX, t.roiY, t.roiWidth, t.roiHeight] } };
}

function decodeClassifier(m: Manifest, out: OutputTensor | undefined): ModelOutput {
  const data = floats(out, 'class scores');
  let p: Float32Array = data;
  if (m.softmax !== false) {
    const max = Math.max(...data);
    const e = data.map((v) => Math.exp(v - max));
    const sum = e.reduce((a, b) => a + b, 0);
    p = e.map((v) => v / sum);
  }
  const scores = Array.from(p, (score, i) => ({ class: m.labels[i] ?? `class${i}`, score }));
  return { kind: 'classification', scores: scores.sort((a, b) => b.score - a.score) };
}

function boxArea(b: readonly number[]): number {
  return Math.max(0, b[2] - b[0]) * Math.max(0, b[3] - b[1]);
}

export function iou(a: readonly number[], b: readonly number[]): number {
  const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / (boxArea(a) + boxArea(b) - inter);
}

/** Greedy per-class non-maximum suppression, highest score first. */
function nms<T extends { c: number; score: number; box: [number, number, number, number] }>(items: T[], thr: number, max: number): T[] {
  items.sort((a, b) => b.score - a.score);
  const kept: T[] = [];
  for (const it of items) {
    if (kept.length >= max) break;
    if (kept.every((k) => k.c !== it.c || iou(k.box, it.box) <= thr)) kept.push(it);
  }
  return kept;
}
