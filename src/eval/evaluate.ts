import { existsSync, readFileSync } from 'node:fs';
import { decodeBmp, isBmp } from '../preprocess/index.js';
import path from 'node:path';
import sharp from 'sharp';
import * as vega from 'vega';
import { compile } from 'vega-lite';
import { processingMs, type InspectionResult } from '../line/index.js';
import { averagePrecision, curves, f1, frrAtFullRecall, operatingPoints, recallAtFrr, rocAuc, type Curves, type OperatingPoint } from './metrics.js';

/** Pixel metrics are computed on this grid per image (cheap, and fair to coarse anomaly maps). */
const GRID = 64;

export interface EvalSummary {
  images: number;
  imageAuroc: number | null;
  ap: number | null;
  f1: number | null;
  frrAtFullRecall: number | null;
  recallAt1pctFrr: number | null;
  pixelAuroc: number | null;
  perClassRecall: Record<string, number>;
  latencyMsP50: number;
  uninspected: number;
}

/**
 * A saved evaluation (`station eval --report`): what the gallery shows beside a recipe so a
 * quality engineer sees what a threshold costs before choosing it. Listed in the model's
 * manifest under `reports`.
 */
export interface EvalReport {
  kind: 'station-eval';
  createdAt: string;
  model: { name: string; sha256: string };
  /** Which images: a description for people, and the counts. */
  dataset: { name: string; description?: string; good: number; defective: number; classes: Record<string, number> };
  summary: EvalSummary;
  curves: Curves;
  /** Recall and false-reject rate per image-score threshold (see `operatingPoints`). */
  operatingPoints: OperatingPoint[] | null;
}

const r4 = (x: number | null) => (x === null ? null : Math.round(x * 1e4) / 1e4);

/**
 * Scores a labelled folder from the station's own results: image-level score is the recipe
 * decision's highest finding (`maxScore`), the verdict is the recipe's, masks give pixel AUROC.
 * Folder layout: good/, defect/<class>/, optional masks/<class>/ with the same base names
 * (mask value ≥ 128 = defect).
 */
export async function evaluate(
  dir: string,
  results: InspectionResult[],
): Promise<{ summary: EvalSummary; curves: Curves; points: OperatingPoint[] | null; classCounts: Record<string, number> }> {
  const scores: number[] = [],
    labels: number[] = [],
    predicted: number[] = [],
    latency: number[] = [];
  const perClass = new Map<string, { n: number; caught: number }>();
  const pixScores: number[] = [],
    pixLabels: number[] = [];
  let anyMask = false,
    uninspected = 0;
  for (const r of results) {
    const cls = r.truth?.defective ? (r.truth.defects[0]?.class ?? 'defect') : null;
    if (!r.truth) continue;
    const label = r.truth.defective ? 1 : 0;
    if (r.verdict === 'uninspected') uninspected++;
    scores.push(r.maxScore);
    labels.push(label);
    predicted.push(r.verdict === 'pass' ? 0 : 1);
    latency.push(processingMs(r.timings));
    if (cls) {
      const c = perClass.get(cls) ?? { n: 0, caught: 0 };
      c.n++;
      if (r.verdict !== 'pass') c.caught++;
      perClass.set(cls, c);
    }
    // Pixel level: the ground-truth mask and the model's map on a GRID×GRID raster.
    const maskFile = cls && r.file ? findMask(dir, cls, r.file) : null;
    const hasMask = maskFile !== null;
    if (!hasMask && label === 1) continue; // a defect without a mask says nothing about pixels
    const truth = hasMask ? await maskGrid(maskFile!) : new Uint8Array(GRID * GRID);
    // Nor does an empty mask on a defective image (some datasets have them): image level only.
    if (label === 1 && !truth.includes(1)) continue;
    anyMask ||= hasMask;
    const pred = predictionGrid(r);
    if (!pred) continue;
    for (let i = 0; i < GRID * GRID; i++) {
      pixScores.push(pred[i]);
      pixLabels.push(truth[i]);
    }
  }
  latency.sort((a, b) => a - b);
  const summary: EvalSummary = {
    images: labels.length,
    imageAuroc: r4(rocAuc(scores, labels)),
    ap: r4(averagePrecision(scores, labels)),
    f1: r4(f1(predicted, labels)),
    frrAtFullRecall: r4(frrAtFullRecall(scores, labels)),
    recallAt1pctFrr: r4(recallAtFrr(scores, labels, 0.01)),
    pixelAuroc: anyMask ? r4(rocAuc(pixScores, pixLabels)) : null,
    perClassRecall: Object.fromEntries([...perClass].sort(([a], [b]) => a.localeCompare(b)).map(([c, v]) => [c, r4(v.caught / v.n)!])),
    latencyMsP50: latency.length ? Math.round(latency[Math.floor((latency.length - 1) / 2)] * 100) / 100 : 0,
    uninspected,
  };
  const classCounts = Object.fromEntries([...perClass].sort(([a], [b]) => a.localeCompare(b)).map(([c, v]) => [c, v.n]));
  return { summary, curves: curves(scores, labels), points: operatingPoints(scores, labels), classCounts };
}

/** masks/<class>/<same base name>.<any image extension> */
function findMask(dir: string, cls: string, file: string): string | null {
  const base = path.basename(file).replace(/\.[^.]+$/, '');
  for (const ext of ['.png', '.bmp', '.jpg', '.jpeg', '.tif', '.tiff']) {
    const f = path.join(dir, 'masks', cls, base + ext);
    if (existsSync(f)) return f;
  }
  return null;
}

async function maskGrid(file: string): Promise<Uint8Array> {
  const bytes = readFileSync(file);
  const input = isBmp(bytes)
    ? (() => {
        const r = decodeBmp(bytes, 1e9);
        return sharp(r.data, { raw: { width: r.width, height: r.height, channels: 3 } });
      })()
    : sharp(bytes);
  // Area-averaged down to the grid: a cell is defective when a quarter of it is.
  const { data } = await input.greyscale().resize(GRID, GRID, { fit: 'fill', kernel: 'linear' }).raw().toBuffer({ resolveWithObject: true });
  return Uint8Array.from(data, (v) => (v >= 64 ? 1 : 0));
}

/** The model's per-pixel belief on the grid: the anomaly map, or the best detection covering a cell. */
function predictionGrid(r: InspectionResult): Float32Array | null {
  const out = new Float32Array(GRID * GRID);
  const m = r.anomalyMap;
  if (m) {
    for (let y = 0; y < GRID; y++)
      for (let x = 0; x < GRID; x++) {
        out[y * GRID + x] = m.data[Math.floor((y * m.height) / GRID) * m.width + Math.floor((x * m.width) / GRID)];
      }
    return out;
  }
  if (r.outputs.kind !== 'detection' || !r.imageSize) return null;
  const size = { w: r.imageSize[0], h: r.imageSize[1] };
  for (const d of r.outputs.detections) {
    const [x1, y1, x2, y2] = d.box.map((v, i) => Math.floor((i % 2 === 0 ? v / size.w : v / size.h) * GRID));
    for (let y = Math.max(0, y1); y <= Math.min(GRID - 1, y2); y++)
      for (let x = Math.max(0, x1); x <= Math.min(GRID - 1, x2); x++) {
        out[y * GRID + x] = Math.max(out[y * GRID + x], d.score);
      }
  }
  return out;
}

/** ROC and precision–recall curves side by side, as a PNG (Vega-Lite, rendered without a browser). */
export async function plotCurves(c: Curves, summary: EvalSummary, title: string): Promise<Buffer> {
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    background: 'white',
    hconcat: [
      {
        title: `ROC (image AUROC ${summary.imageAuroc ?? '–'})`,
        width: 320,
        height: 320,
        data: { values: c.roc },
        mark: { type: 'line', interpolate: 'step-after', point: false },
        encoding: {
          x: { field: 'fpr', type: 'quantitative', title: 'false-reject rate', scale: { domain: [0, 1] } },
          y: { field: 'tpr', type: 'quantitative', title: 'recall', scale: { domain: [0, 1] } },
        },
      },
      {
        title: `Precision–recall (AP ${summary.ap ?? '–'})`,
        width: 320,
        height: 320,
        data: { values: c.pr },
        mark: { type: 'line', interpolate: 'step-before', color: '#d62728' },
        encoding: {
          x: { field: 'recall', type: 'quantitative', scale: { domain: [0, 1] } },
          y: { field: 'precision', type: 'quantitative', scale: { domain: [0, 1] } },
        },
      },
    ],
  };
  const view = new vega.View(vega.parse(compile(spec as never).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return sharp(Buffer.from(svg)).png().toBuffer();
}
