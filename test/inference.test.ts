import { writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { loadModel, ModelRunner, manifestPathFor, sha256Hex, type ModelOutput } from '../src/inference/index.js';
import { Preprocessor } from '../src/preprocess/index.js';
import { buildModel, yoloHead } from './helpers/onnx.js';
import { tmpDir } from './helpers/tmp.js';

const decodeOpts = { candidateScore: 0.1, nmsIou: 0.5, maxDetections: 100 };

/** Runs a model file through the station's own pipeline on an image; returns the decoded output. */
async function inspect(file: string, image: Uint8Array): Promise<ModelOutput> {
  const model = loadModel(file);
  const runner = await ModelRunner.create(model, { threads: 1 });
  const pre = new Preprocessor(model.input, { maxPixels: 50_000_000 });
  const t = await pre.run({ kind: 'encoded', data: image });
  const out = runner.decode(await runner.run(pre), t, decodeOpts);
  await runner.release();
  return out;
}

function save(dir: string, name: string, bytes: Uint8Array): string {
  const f = path.join(dir, name);
  writeFileSync(f, bytes);
  return f;
}

/** A 1280x720 grey JPEG: letterboxed to 640x640 it is scaled by 0.5 and padded 140 px top and bottom. */
const wideJpeg = () =>
  sharp({ create: { width: 1280, height: 720, channels: 3, background: '#808080' } })
    .jpeg()
    .toBuffer();

describe('Ultralytics detection, raw head [1, 4+nc, 8400]', () => {
  const names = "{0: 'scratch', 1: 'dent', 2: 'crack'}";

  it('reads channel-major anchors, maps letterbox boxes to source pixels and suppresses overlaps', async () => {
    const dir = tmpDir();
    // Anchor 17: a dent at letterbox (320, 240) 100x60 → source centre (640, 200), 200x120.
    // Anchor 4000: the same object, lower score (suppressed by NMS). Anchor 8000: a scratch.
    // Anchor 9 scores 0.05, below the candidate floor.
    const head = yoloHead(3, 8400, [
      { a: 17, cx: 320, cy: 240, w: 100, h: 60, scores: [0.02, 0.91, 0.05] },
      { a: 4000, cx: 322, cy: 241, w: 98, h: 62, scores: [0.0, 0.7, 0.0] },
      { a: 8000, cx: 100, cy: 400, w: 20, h: 40, scores: [0.66, 0.0, 0.3] },
      { a: 9, cx: 500, cy: 300, w: 10, h: 10, scores: [0.05, 0, 0] },
    ]);
    const file = save(
      dir,
      'yolo.onnx',
      buildModel({
        inputDims: [1, 3, 640, 640],
        outputs: [{ name: 'output0', dims: [1, 7, 8400], values: head }],
        metadata: { task: 'detect', names, imgsz: '[640, 640]', stride: '32' },
      }),
    );
    const model = loadModel(file);
    expect(model.manifestSource).toBe('detected');
    expect(model.manifest.family).toBe('yolo-detect');
    expect(model.manifest.labels).toEqual(['scratch', 'dent', 'crack']);
    expect(model.input).toMatchObject({ width: 640, height: 640, resize: 'letterbox', padValue: 114 });

    const out = await inspect(file, await wideJpeg());
    expect(out.kind).toBe('detection');
    if (out.kind !== 'detection') return;
    expect(out.detections.map((d) => d.class)).toEqual(['dent', 'scratch']);
    const [dent, scratch] = out.detections;
    expect(dent.score).toBeCloseTo(0.91, 5);
    expect(dent.box[0]).toBeCloseTo(540, 3);
    expect(dent.box[1]).toBeCloseTo(140, 3);
    expect(dent.box[2]).toBeCloseTo(740, 3);
    expect(dent.box[3]).toBeCloseTo(260, 3);
    expect(dent.area).toBeCloseTo(200 * 120, 0);
    // (100±10, 400±20) letterbox → x 180..220, y (380-140)/0.5 = 480 .. (420-140)/0.5 = 560
    expect(scratch.box.map((v) => Math.round(v))).toEqual([180, 480, 220, 560]);
  });

  it('recognises a transposed head [1, A, 4+nc] by its shape', async () => {
    const dir = tmpDir();
    const A = 100;
    const v = new Float32Array(A * 7);
    v.set([320, 320, 64, 64, 0.2, 0.8, 0], 42 * 7);
    const file = save(
      dir,
      't.onnx',
      buildModel({
        inputDims: [1, 3, 640, 640],
        outputs: [{ name: 'output0', dims: [1, A, 7], values: v }],
        metadata: { task: 'detect', names: "{0: 'a', 1: 'b', 2: 'c'}" },
      }),
    );
    const out = await inspect(
      file,
      await sharp({ create: { width: 640, height: 640, channels: 3, background: '#000' } })
        .png()
        .toBuffer(),
    );
    expect(out.kind === 'detection' && out.detections.map((d) => [d.class, Math.round(d.box[0])])).toEqual([['b', 288]]);
  });
});

describe('Ultralytics end-to-end / NMS export [1, 300, 6]', () => {
  it('reads x1,y1,x2,y2,score,class rows and maps them to source pixels', async () => {
    const dir = tmpDir();
    const rows = new Float32Array(300 * 6);
    rows.set([100, 200, 300, 260, 0.88, 1], 0);
    rows.set([10, 150, 20, 160, 0.03, 0], 6);
    const file = save(
      dir,
      'e2e.onnx',
      buildModel({
        inputDims: [1, 3, 640, 640],
        outputs: [{ name: 'output0', dims: [1, 300, 6], values: rows }],
        metadata: { task: 'detect', names: "{0: 'scratch', 1: 'dent'}", imgsz: '[640, 640]' },
      }),
    );
    expect(loadModel(file).manifest.family).toBe('yolo-detect-nms');
    const out = await inspect(file, await wideJpeg());
    if (out.kind !== 'detection') throw new Error(out.kind);
    expect(out.detections).toHaveLength(1);
    expect(out.detections[0].class).toBe('dent');
    expect(out.detections[0].box).toEqual([200, 120, 600, 240]);
  });
});

describe('Ultralytics segmentation: [1, 4+nc+32, A] and protos [1, 32, 160, 160]', () => {
  it('builds each mask from coefficients · protos inside its box and reports its area in source pixels', async () => {
    const dir = tmpDir();
    const A = 8400,
      nc = 2,
      nm = 32;
    const coeffs = new Array(nm).fill(0);
    coeffs[0] = 4;
    const head = yoloHead(nc, A, [{ a: 5, cx: 320, cy: 320, w: 160, h: 160, scores: [0.1, 0.95], coeffs }], nm);
    // Proto 0 is positive on a 20x20 block of the 160x160 grid (proto cells 70..89), negative elsewhere.
    const protos = new Float32Array(nm * 160 * 160).fill(0);
    for (let y = 0; y < 160; y++) for (let x = 0; x < 160; x++) protos[y * 160 + x] = x >= 70 && x < 90 && y >= 70 && y < 90 ? 1 : -1;
    const file = save(
      dir,
      'seg.onnx',
      buildModel({
        inputDims: [1, 3, 640, 640],
        outputs: [
          { name: 'output0', dims: [1, 4 + nc + nm, A], values: head },
          { name: 'output1', dims: [1, nm, 160, 160], values: protos },
        ],
        metadata: { task: 'segment', names: "{0: 'scratch', 1: 'pit'}" },
      }),
    );
    expect(loadModel(file).manifest.family).toBe('yolo-segment');
    const out = await inspect(file, await wideJpeg());
    if (out.kind !== 'detection') throw new Error(out.kind);
    const [d] = out.detections;
    expect(d.class).toBe('pit');
    // 400 proto cells, each 4x4 letterbox px = 16 px, each letterbox px = 4 source px.
    expect(d.area).toBeCloseTo(400 * 16 * 4, 0);
    expect(d.mask!.data.reduce((a, b) => a + b, 0)).toBe(400);
    // letterbox 240..400 on both axes → source x 480..800, y (240-140)/0.5 = 200 .. 520
    expect(d.box.map(Math.round)).toEqual([480, 200, 800, 520]);
  });
});

describe('anomalib v2 export', () => {
  it('takes pred_score as is (0.5 = trained threshold) and keeps a downsampled anomaly map', async () => {
    const dir = tmpDir();
    const map = new Float32Array(256 * 256).fill(0.1);
    for (let y = 100; y < 140; y++) for (let x = 30; x < 70; x++) map[y * 256 + x] = 0.9;
    const file = save(
      dir,
      'patchcore.onnx',
      buildModel({
        inputName: 'input',
        inputDims: [1, 3, 256, 256],
        outputs: [
          { name: 'pred_score', dims: [1], meanOfInput: true },
          { name: 'pred_label', dims: [1], greaterThan: { of: 'pred_score', threshold: 0.5 } },
          { name: 'anomaly_map', dims: [1, 1, 256, 256], values: map },
        ],
      }),
    );
    const model = loadModel(file);
    expect(model.manifest.family).toBe('anomalib-v2');
    expect(model.input).toMatchObject({ resize: 'stretch', scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1] });
    // A white image: mean input 1.0 → score 1.0 (no second normalisation in the station).
    const white = await sharp({ create: { width: 512, height: 512, channels: 3, background: '#ffffff' } })
      .png()
      .toBuffer();
    const out = await inspect(file, white);
    if (out.kind !== 'anomaly') throw new Error(out.kind);
    expect(out.score).toBeCloseTo(1, 5);
    expect(out.map!.width).toBe(64);
    expect(out.map!.region).toEqual([0, 0, 512, 512]);
    // 40x40 map cells above 0.5 of 256x256, over a 512x512 source.
    expect(out.area).toBeCloseTo(1600 * 4, 0);
    const grey = await sharp({ create: { width: 512, height: 512, channels: 3, background: '#404040' } })
      .png()
      .toBuffer();
    const low = await inspect(file, grey);
    expect(low.kind === 'anomaly' && low.score).toBeCloseTo(0x40 / 255, 4);
  });
});

describe('anomalib v1 export with metadata.json', () => {
  it('normalises the raw score and map with the sidecar thresholds and min/max', async () => {
    const dir = tmpDir();
    const raw = new Float32Array(64 * 64).fill(2);
    raw[0] = 30;
    const file = save(
      dir,
      'model.onnx',
      buildModel({
        inputName: 'input',
        inputDims: [1, 3, 64, 64],
        outputs: [
          { name: 'output', dims: [1, 1, 64, 64], values: raw },
          { name: '1287', dims: [1], values: new Float32Array([24]) },
        ],
      }),
    );
    writeFileSync(path.join(dir, 'metadata.json'), JSON.stringify({ image_threshold: 20, pixel_threshold: 10, min: 0, max: 40 }));
    const model = loadModel(file);
    expect(model.manifest.family).toBe('anomalib-v1');
    const out = await inspect(
      file,
      await sharp({ create: { width: 64, height: 64, channels: 3, background: '#000' } })
        .png()
        .toBuffer(),
    );
    if (out.kind !== 'anomaly') throw new Error(out.kind);
    // (24 - 20) / (40 - 0) + 0.5 = 0.6
    expect(out.score).toBeCloseTo(0.6, 5);
    // the map's one hot pixel: (30 - 10) / 40 + 0.5 = 1.0 (clipped); the rest (2-10)/40+.5 = 0.3
    expect(out.map!.data[0]).toBeCloseTo(1, 5);
    expect(out.map!.data[1]).toBeCloseTo(0.3, 5);
  });
});

describe('classifiers', () => {
  it('applies softmax to logits', async () => {
    const dir = tmpDir();
    const file = save(
      dir,
      'cls.onnx',
      buildModel({
        inputName: 'input',
        inputDims: [1, 3, 224, 224],
        outputs: [{ name: 'logits', dims: [1, 3], values: new Float32Array([0, 2, 0]) }],
        metadata: { task: 'classify', names: "{0: 'good', 1: 'crack', 2: 'stain'}" },
      }),
    );
    const model = loadModel(file);
    expect(model.manifest).toMatchObject({ family: 'classifier', softmax: true });
    expect(model.input.mean).toEqual([0.485, 0.456, 0.406]);
    const out = await inspect(file, await wideJpeg());
    if (out.kind !== 'classification') throw new Error(out.kind);
    const e = Math.exp(2) / (Math.exp(2) + 2);
    expect(out.scores[0].class).toBe('crack');
    expect(out.scores[0].score).toBeCloseTo(e, 5);
  });

  it('does not apply softmax twice when the graph ends in Softmax', async () => {
    const dir = tmpDir();
    const file = save(
      dir,
      'cls-sm.onnx',
      buildModel({
        inputName: 'input',
        inputDims: [1, 3, 224, 224],
        outputs: [{ name: 'probs', dims: [1, 2], values: new Float32Array([1, 0]), softmax: true }],
      }),
    );
    const model = loadModel(file);
    expect(model.manifest).toMatchObject({ family: 'classifier', softmax: false, labels: ['class0', 'class1'] });
    const out = await inspect(file, await wideJpeg());
    if (out.kind !== 'classification') throw new Error(out.kind);
    expect(out.scores[0].score).toBeCloseTo(Math.E / (Math.E + 1), 5);
  });
});

describe('model files and manifests', () => {
  it('refuses a file that is not ONNX with STN_ERR_MODEL_INVALID', () => {
    const dir = tmpDir();
    const file = save(dir, 'junk.onnx', new TextEncoder().encode('this is not a model at all, just text'));
    expect(() => loadModel(file)).toThrow(expect.objectContaining({ code: 'STN_ERR_MODEL_INVALID' }));
  });

  it('refuses a missing file with STN_ERR_MODEL_NOT_FOUND', () => {
    expect(() => loadModel('/nonexistent/model.onnx')).toThrow(expect.objectContaining({ code: 'STN_ERR_MODEL_NOT_FOUND' }));
  });

  it('refuses a model whose bytes do not match the manifest sha256', () => {
    const dir = tmpDir();
    const bytes = buildModel({
      inputDims: [1, 3, 64, 64],
      outputs: [{ name: 'output0', dims: [1, 6, 10] }],
      metadata: { task: 'detect', names: "{0: 'a', 1: 'b'}" },
    });
    const file = save(dir, 'm.onnx', bytes);
    const manifest = {
      name: 'm',
      family: 'yolo-detect',
      sha256: sha256Hex(bytes).replace(/^./, (c) => (c === '0' ? '1' : '0')),
      labels: ['a', 'b'],
      input: { name: 'images', width: 64, height: 64, resize: 'letterbox' },
    };
    writeFileSync(manifestPathFor(file), JSON.stringify(manifest));
    expect(() => loadModel(file)).toThrow(expect.objectContaining({ code: 'STN_ERR_MODEL_CHECKSUM' }));
    writeFileSync(manifestPathFor(file), JSON.stringify({ ...manifest, sha256: sha256Hex(bytes) }));
    expect(loadModel(file).manifestSource).toBe('file');
    writeFileSync(manifestPathFor(file), JSON.stringify({ ...manifest, sha256: sha256Hex(bytes), family: 'mystery' }));
    expect(() => loadModel(file)).toThrow(expect.objectContaining({ code: 'STN_ERR_MODEL_MANIFEST' }));
  });
});
