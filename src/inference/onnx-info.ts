import onnxProto from 'onnx-proto';
import { StationError } from '../errors/index.js';

const { onnx } = onnxProto;

export interface TensorInfo {
  name: string;
  /** Fixed sizes as numbers, symbolic ones (batch, anchors) as their names or null. */
  dims: (number | string | null)[];
}

/** What the station needs to know about a graph without running it. */
export interface OnnxInfo {
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  /** `metadata_props` (Ultralytics writes names, task, imgsz, stride here as Python literals). */
  metadata: Record<string, string>;
  /** The op type that produces each graph output (e.g. `Softmax`). */
  producers: Record<string, string>;
  opset: number;
}

/**
 * Reads an ONNX model's interface with the ONNX protobuf definitions (onnx-proto), because
 * onnxruntime-node does not expose `metadata_props`.
 */
export function readOnnxInfo(bytes: Uint8Array): OnnxInfo {
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new StationError('STN_ERR_MODEL_INVALID', `not an ONNX model: ${(err as Error).message}`, { cause: err });
  }
  const graph = model.graph;
  if (!graph?.output?.length || !graph.input?.length) {
    throw new StationError('STN_ERR_MODEL_INVALID', 'not an ONNX model: no graph with inputs and outputs');
  }
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  const toInfo = (v: onnxProto.onnx.IValueInfoProto): TensorInfo => ({
    name: v.name ?? '',
    dims: (v.type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimValue != null && Number(d.dimValue) > 0 ? Number(d.dimValue) : d.dimParam || null)),
  });
  const producers: Record<string, string> = {};
  for (const node of graph.node ?? []) for (const o of node.output ?? []) producers[o] = node.opType ?? '';
  const metadata: Record<string, string> = {};
  for (const p of model.metadataProps ?? []) if (p.key) metadata[p.key] = p.value ?? '';
  const opset = Math.max(0, ...(model.opsetImport ?? []).filter((o) => !o.domain).map((o) => Number(o.version ?? 0)));
  return {
    inputs: graph.input.filter((i) => !initializers.has(i.name ?? '')).map(toInfo),
    outputs: graph.output.map(toInfo),
    metadata,
    producers,
    opset,
  };
}

/** Parses Ultralytics' `names` metadata, a Python dict literal: `{0: 'scratch', 1: "a 'b'"}`. */
export function parseNamesLiteral(text: string): string[] {
  const names: string[] = [];
  const re = /(\d+)\s*:\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")/g;
  for (let m = re.exec(text); m; m = re.exec(text)) names[Number(m[1])] = (m[2] ?? m[3]).replace(/\\(.)/g, '$1');
  for (let i = 0; i < names.length; i++) names[i] ??= `class${i}`;
  return names;
}

/** Parses `imgsz` metadata (`[640, 640]` or `640`) to [height, width]. */
export function parseImgsz(text: string | undefined): [number, number] | undefined {
  if (!text) return undefined;
  const nums = text.match(/\d+/g)?.map(Number) ?? [];
  if (nums.length === 1) return [nums[0], nums[0]];
  if (nums.length >= 2) return [nums[0], nums[1]];
  return undefined;
}
