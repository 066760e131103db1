import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { StationError } from '../errors/index.js';
import { ANOMALIB_INPUT, IMAGENET_INPUT, YOLO_INPUT, type InputSpec } from '../preprocess/index.js';
import { parseImgsz, parseNamesLiteral, readOnnxInfo, type OnnxInfo } from './onnx-info.js';

export const FAMILIES = ['yolo-detect', 'yolo-detect-nms', 'yolo-segment', 'anomalib-v1', 'anomalib-v2', 'classifier'] as const;
export type Family = (typeof FAMILIES)[number];

const Triple = Type.Tuple([Type.Number(), Type.Number(), Type.Number()]);

/** `<model>.manifest.json` beside each `.onnx`: how to feed and read the model. */
export const ManifestSchema = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    version: Type.String({ default: '1' }),
    family: Type.Union(FAMILIES.map((f) => Type.Literal(f))),
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    labels: Type.Array(Type.String({ minLength: 1 })),
    input: Type.Object(
      {
        name: Type.String({ minLength: 1 }),
        width: Type.Integer({ minimum: 1 }),
        height: Type.Integer({ minimum: 1 }),
        resize: Type.Union([Type.Literal('letterbox'), Type.Literal('stretch')]),
        padValue: Type.Integer({ minimum: 0, maximum: 255, default: 114 }),
        colorOrder: Type.Union([Type.Literal('RGB'), Type.Literal('BGR')], { default: 'RGB' }),
        scale: Type.Number({ default: 1 / 255 }),
        mean: Type.Optional(Triple),
        std: Type.Optional(Triple),
      },
      { additionalProperties: false },
    ),
    /** Classifiers: whether the station applies softmax (false when the graph ends in Softmax). */
    softmax: Type.Optional(Type.Boolean()),
    /** anomalib v1: the export's metadata.json normalisation. */
    normalization: Type.Optional(
      Type.Object({
        imageThreshold: Type.Number(),
        pixelThreshold: Type.Number(),
        scoreMin: Type.Number(),
        scoreMax: Type.Number(),
        mapMin: Type.Number(),
        mapMax: Type.Number(),
      }),
    ),
    /** Free text for people: data, metrics, licence; the model card's file name. */
    card: Type.Optional(Type.String()),
    /** Saved evaluations (`station eval --report`), file names beside the manifest. */
    reports: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
  },
  { additionalProperties: true },
);
export type Manifest = Static<typeof ManifestSchema>;

export interface LoadedModel {
  file: string;
  bytes: Uint8Array;
  manifest: Manifest;
  info: OnnxInfo;
  input: InputSpec;
  /** Where the manifest came from: the file beside the model, or detection from the graph. */
  manifestSource: 'file' | 'detected';
}

export function manifestPathFor(modelFile: string): string {
  return modelFile.replace(/\.onnx$/i, '') + '.manifest.json';
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Loads a model file and its manifest, checking the checksum and that the manifest matches the
 * graph. Without a manifest the family, labels and input are detected from the graph.
 */
export function loadModel(file: string): LoadedModel {
  if (!existsSync(file)) throw new StationError('STN_ERR_MODEL_NOT_FOUND', `no model file at ${file}`);
  const bytes = new Uint8Array(readFileSync(file));
  const info = readOnnxInfo(bytes);
  const sha = sha256Hex(bytes);
  const mpath = manifestPathFor(file);
  let manifest: Manifest;
  let manifestSource: LoadedModel['manifestSource'];
  if (existsSync(mpath)) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(mpath, 'utf8'));
    } catch (err) {
      throw new StationError('STN_ERR_MODEL_MANIFEST', `${mpath} is not JSON: ${(err as Error).message}`);
    }
    const withDefaults = Value.Default(ManifestSchema, raw);
    const first = Value.Errors(ManifestSchema, withDefaults).First();
    if (first) throw new StationError('STN_ERR_MODEL_MANIFEST', `${mpath}: ${first.path || '(root)'}: ${first.message}`);
    manifest = withDefaults as Manifest;
    if (manifest.sha256 !== sha) {
      throw new StationError('STN_ERR_MODEL_CHECKSUM', `${path.basename(file)} has sha256 ${sha}, its manifest says ${manifest.sha256}`);
    }
    if (!info.inputs.some((i) => i.name === manifest.input.name)) {
      throw new StationError('STN_ERR_MODEL_MANIFEST', `${mpath}: the graph has no input named "${manifest.input.name}"`);
    }
    manifestSource = 'file';
  } else {
    manifest = detectManifest(file, info, sha);
    manifestSource = 'detected';
  }
  return { file, bytes, manifest, info, input: inputSpecOf(manifest), manifestSource };
}

function inputSpecOf(m: Manifest): InputSpec {
  const base = m.family.startsWith('yolo') ? YOLO_INPUT : m.family.startsWith('anomalib') ? ANOMALIB_INPUT : IMAGENET_INPUT;
  return {
    ...base,
    width: m.input.width,
    height: m.input.height,
    resize: m.input.resize,
    padValue: m.input.padValue,
    colorOrder: m.input.colorOrder,
    scale: m.input.scale,
    mean: m.input.mean ?? base.mean,
    std: m.input.std ?? base.std,
  };
}

/** The family from the graph's outputs and metadata, following each project's export contract. */
export function detectFamily(info: OnnxInfo, hasV1Metadata = false): Family {
  const names = info.outputs.map((o) => o.name);
  if (names.includes('pred_score') || names.includes('anomaly_map')) return 'anomalib-v2';
  if (names.includes('output') && hasV1Metadata) return 'anomalib-v1';
  const task = info.metadata.task;
  const first = info.outputs[0].dims;
  if (task === 'classify' || (!task && info.outputs.length === 1 && first.length === 2)) return 'classifier';
  if (task === 'segment' || (info.outputs.length === 2 && info.outputs[1].dims.length === 4 && first.length === 3)) return 'yolo-segment';
  // [1, N, 6] is an NMS export (x1,y1,x2,y2,score,class) unless it is a transposed raw head of a
  // two-class model (4 + 2 = 6 columns); Ultralytics' NMS exports keep at most 300 rows.
  const nc = info.metadata.names ? parseNamesLiteral(info.metadata.names).length : -1;
  const isNms = first.length === 3 && first[2] === 6 && typeof first[1] === 'number' && (nc !== 2 ? first[1] <= 1000 : first[1] <= 300);
  if (isNms) return 'yolo-detect-nms';
  if (first.length === 3 && (task === 'detect' || task === 'obb' || info.metadata.names || !task)) return 'yolo-detect';
  throw new StationError('STN_ERR_MODEL_FAMILY', `cannot tell the model family from outputs ${JSON.stringify(info.outputs)}; add a manifest`);
}

function readV1Metadata(file: string): Manifest['normalization'] | undefined {
  const p = path.join(path.dirname(file), 'metadata.json');
  if (!existsSync(p)) return undefined;
  const m = JSON.parse(readFileSync(p, 'utf8')) as Record<string, number>;
  const pick = (...keys: string[]) => keys.map((k) => m[k]).find((v) => typeof v === 'number');
  const n = {
    imageThreshold: pick('image_threshold'),
    pixelThreshold: pick('pixel_threshold', 'image_threshold'),
    scoreMin: pick('pred_scores.min', 'min'),
    scoreMax: pick('pred_scores.max', 'max'),
    mapMin: pick('anomaly_maps.min', 'min'),
    mapMax: pick('anomaly_maps.max', 'max'),
  };
  if (Object.values(n).some((v) => v === undefined)) {
    throw new StationError('STN_ERR_MODEL_MANIFEST', `${p} lacks image_threshold, pixel_threshold or min/max`);
  }
  return n as Manifest['normalization'];
}

function detectManifest(file: string, info: OnnxInfo, sha256: string): Manifest {
  const normalization = readV1Metadata(file);
  const family = detectFamily(info, normalization !== undefined);
  const input = info.inputs[0];
  const imgsz = parseImgsz(info.metadata.imgsz);
  const h = typeof input.dims[2] === 'number' ? input.dims[2] : imgsz?.[0];
  const w = typeof input.dims[3] === 'number' ? input.dims[3] : imgsz?.[1];
  if (!h || !w) throw new StationError('STN_ERR_MODEL_MANIFEST', `${path.basename(file)}: the input size is dynamic; add a manifest with input.width/height`);
  let labels = info.metadata.names ? parseNamesLiteral(info.metadata.names) : [];
  if (labels.length === 0) {
    if (family.startsWith('anomalib')) labels = ['anomaly'];
    else {
      const d = info.outputs[0].dims;
      const n = family === 'classifier' ? d[1] : family === 'yolo-detect' ? (typeof d[1] === 'number' ? d[1] - 4 : 0) : 0;
      labels = Array.from({ length: typeof n === 'number' ? n : 0 }, (_, i) => `class${i}`);
    }
  }
  const base = family.startsWith('yolo') ? YOLO_INPUT : family.startsWith('anomalib') ? ANOMALIB_INPUT : IMAGENET_INPUT;
  return {
    name: path.basename(file, '.onnx'),
    version: info.metadata.version ?? '1',
    family,
    sha256,
    labels,
    input: {
      name: input.name,
      width: w,
      height: h,
      resize: base.resize,
      padValue: base.padValue,
      colorOrder: base.colorOrder,
      scale: base.scale,
      mean: base.mean,
      std: base.std,
    },
    softmax: family === 'classifier' ? info.producers[info.outputs[0].name] !== 'Softmax' : undefined,
    normalization,
  };
}
