/**
 * Builds small, real ONNX models with the exact output contracts of the families the station
 * decodes (Ultralytics, anomalib, classifiers), using the ONNX protobuf definitions. The graphs
 * run in onnxruntime like any exported model; outputs are constants plus a term computed from
 * the input, so the input really flows through the graph.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
const FLOAT = 1;
const BOOL = 9;

export interface OutputSpec {
  name: string;
  dims: number[];
  /** Constant values (row-major) added to 0 × mean(input). */
  values?: Float32Array;
  /** Instead of a constant: `mean(input)` reshaped to dims (1 element), e.g. an image score. */
  meanOfInput?: boolean;
  /** Bool output: `Greater(<other output>, threshold)`. */
  greaterThan?: { of: string; threshold: number };
  /** Put a Softmax on this output (classifiers exported with softmax in the graph). */
  softmax?: boolean;
}

export interface ModelSpec {
  inputName?: string;
  inputDims: (number | string)[];
  outputs: OutputSpec[];
  metadata?: Record<string, string>;
  opset?: number;
}

function tensor(name: string, dims: number[], values: Float32Array): onnxProto.onnx.TensorProto {
  return onnx.TensorProto.create({ name, dims, dataType: FLOAT, rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) });
}

function valueInfo(name: string, dims: (number | string)[], elemType = FLOAT) {
  return onnx.ValueInfoProto.create({
    name,
    type: onnx.TypeProto.create({
      tensorType: onnx.TypeProto.Tensor.create({
        elemType,
        shape: onnx.TensorShapeProto.create({
          dim: dims.map((d) =>
            typeof d === 'number' ? onnx.TensorShapeProto.Dimension.create({ dimValue: d }) : onnx.TensorShapeProto.Dimension.create({ dimParam: d }),
          ),
        }),
      }),
    }),
  });
}

function node(opType: string, inputs: string[], outputs: string[], attrs: onnxProto.onnx.IAttributeProto[] = []) {
  return onnx.NodeProto.create({ opType, input: inputs, output: outputs, name: outputs[0] + '_' + opType, attribute: attrs });
}

export function buildModel(spec: ModelSpec): Uint8Array {
  const inputName = spec.inputName ?? 'images';
  const nodes: onnxProto.onnx.NodeProto[] = [];
  const inits: onnxProto.onnx.TensorProto[] = [];
  // mean over the whole input, as a scalar, and zero times it (ties constants to the input)
  nodes.push(
    node('ReduceMean', [inputName], ['input_mean'], [onnx.AttributeProto.create({ name: 'keepdims', type: onnx.AttributeProto.AttributeType.INT, i: 0 })]),
  );
  inits.push(tensor('zero', [], new Float32Array([0])));
  nodes.push(node('Mul', ['input_mean', 'zero'], ['input_zero']));
  const outputs = spec.outputs.map((o) => {
    if (o.greaterThan) {
      inits.push(tensor(`${o.name}_thr`, [], new Float32Array([o.greaterThan.threshold])));
      nodes.push(node('Greater', [o.greaterThan.of, `${o.name}_thr`], [o.name]));
      return valueInfo(o.name, o.dims, BOOL);
    }
    const target = o.softmax ? `${o.name}_logits` : o.name;
    if (o.meanOfInput) {
      inits.push(onnx.TensorProto.create({ name: `${o.name}_shape`, dims: [o.dims.length], dataType: 7, int64Data: o.dims }));
      nodes.push(node('Reshape', ['input_mean', `${o.name}_shape`], [target]));
    } else {
      const n = o.dims.reduce((a, b) => a * b, 1);
      const values = o.values ?? new Float32Array(n);
      if (values.length !== n) throw new Error(`${o.name}: ${values.length} values for dims ${o.dims}`);
      inits.push(tensor(`${o.name}_const`, o.dims, values));
      nodes.push(node('Add', [`${o.name}_const`, 'input_zero'], [target]));
    }
    if (o.softmax)
      nodes.push(node('Softmax', [target], [o.name], [onnx.AttributeProto.create({ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: -1 })]));
    return valueInfo(o.name, o.dims);
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'station-tests',
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: spec.opset ?? 17 })],
    metadataProps: Object.entries(spec.metadata ?? {}).map(([key, value]) => onnx.StringStringEntryProto.create({ key, value })),
    graph: onnx.GraphProto.create({
      name: 'test',
      node: nodes,
      initializer: inits,
      input: [valueInfo(inputName, spec.inputDims)],
      output: outputs,
    }),
  });
  return onnx.ModelProto.encode(model).finish();
}

/**
 * An Ultralytics raw head [1, 4+nc(+nm), A] with the given anchors set (channel-major:
 * row r of anchor a at r*A + a); every other anchor scores 0.
 */
export function yoloHead(
  nc: number,
  A: number,
  anchors: { a: number; cx: number; cy: number; w: number; h: number; scores: number[]; coeffs?: number[] }[],
  nm = 0,
): Float32Array {
  const rows = 4 + nc + nm;
  const v = new Float32Array(rows * A);
  for (const an of anchors) {
    const vals = [an.cx, an.cy, an.w, an.h, ...an.scores, ...(an.coeffs ?? new Array(nm).fill(0))];
    vals.forEach((x, r) => {
      v[r * A + an.a] = x;
    });
  }
  return v;
}

/**
 * An anomalib-v2-shaped model (`input` [1,3,size,size] → `pred_score` [1] = mean of the input)
 * that blocks its thread for seconds on bright images: when the input's mean exceeds
 * `stallAbove`, an `If` branch multiplies `n`×`n` matrices `repeats` times. A real hung model
 * run, for the watchdog: nothing in the station is stubbed. The warm-up (an all-zero tensor)
 * stays fast.
 */
export function buildStallingModel(o: { size: number; stallAbove: number; n: number; repeats: number }): Uint8Array {
  const INT = onnx.AttributeProto.AttributeType.INT;
  const GRAPH = onnx.AttributeProto.AttributeType.GRAPH;
  const TENSOR = onnx.AttributeProto.AttributeType.TENSOR;
  const heavy: onnxProto.onnx.NodeProto[] = [
    // Entries mean/n: powers of the matrix stay finite however many times it is multiplied.
    node(
      'ConstantOfShape',
      ['mat_shape'],
      ['mat_base'],
      [onnx.AttributeProto.create({ name: 'value', type: TENSOR, t: tensor('v', [1], new Float32Array([1 / o.n])) })],
    ),
    node('Mul', ['mat_base', 'input_mean'], ['mat0']),
  ];
  for (let i = 1; i <= o.repeats; i++) heavy.push(node('MatMul', [`mat${i - 1}`, 'mat0'], [`mat${i}`]));
  heavy.push(node('ReduceMean', [`mat${o.repeats}`], ['heavy_out'], [onnx.AttributeProto.create({ name: 'keepdims', type: INT, i: 0 })]));
  const thenBranch = onnx.GraphProto.create({
    name: 'stall',
    node: heavy,
    initializer: [onnx.TensorProto.create({ name: 'mat_shape', dims: [2], dataType: 7, int64Data: [o.n, o.n] })],
    output: [valueInfo('heavy_out', [])],
  });
  const elseBranch = onnx.GraphProto.create({
    name: 'fast',
    node: [node('Identity', ['zero'], ['light_out'])],
    output: [valueInfo('light_out', [])],
  });
  const nodes = [
    node('ReduceMean', ['input'], ['input_mean'], [onnx.AttributeProto.create({ name: 'keepdims', type: INT, i: 0 })]),
    node('Greater', ['input_mean', 'stall_above'], ['bright']),
    node(
      'If',
      ['bright'],
      ['branch_out'],
      [
        onnx.AttributeProto.create({ name: 'then_branch', type: GRAPH, g: thenBranch }),
        onnx.AttributeProto.create({ name: 'else_branch', type: GRAPH, g: elseBranch }),
      ],
    ),
    node('Mul', ['branch_out', 'zero'], ['branch_zero']),
    node('Add', ['input_mean', 'branch_zero'], ['score_scalar']),
    node('Reshape', ['score_scalar', 'one_shape'], ['pred_score']),
  ];
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'station-tests',
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: 17 })],
    graph: onnx.GraphProto.create({
      name: 'stalling',
      node: nodes,
      initializer: [
        tensor('zero', [], new Float32Array([0])),
        tensor('stall_above', [], new Float32Array([o.stallAbove])),
        onnx.TensorProto.create({ name: 'one_shape', dims: [1], dataType: 7, int64Data: [1] }),
      ],
      input: [valueInfo('input', [1, 3, o.size, o.size])],
      output: [valueInfo('pred_score', [1])],
    }),
  });
  return onnx.ModelProto.encode(model).finish();
}
