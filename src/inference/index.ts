export { readOnnxInfo, parseNamesLiteral, parseImgsz, type OnnxInfo, type TensorInfo } from './onnx-info.js';
export { loadModel, detectFamily, manifestPathFor, sha256Hex, FAMILIES, ManifestSchema, type Family, type Manifest, type LoadedModel } from './manifest.js';
export {
  decodeOutputs,
  iou,
  type Detection,
  type DetectionMask,
  type AnomalyMap,
  type GridMap,
  type ModelOutput,
  type DecodeOptions,
  type Outputs,
  type OutputTensor,
} from './decoders.js';
export { ModelRunner, sessionOptions, type RunnerOptions } from './runner.js';
