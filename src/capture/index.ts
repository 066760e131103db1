export * from './frame.js';
export { Rng } from './random.js';
export {
  PartGenerator,
  SYNTHETIC_CLASSES,
  syntheticSerial,
  syntheticCodeRegion,
  CODE_DAMAGE_RATE,
  CODE_MISLABEL_RATE,
  type PrintedCode,
  type SyntheticClass,
  type SyntheticOptions,
  type SyntheticPart,
} from './synthetic.js';
export {
  createSource,
  DirSource,
  SyntheticSource,
  PushSource,
  readFixtureList,
  truthFromPath,
  isTriggered,
  type FrameSource,
  type SourceContext,
  type TriggeredSource,
} from './sources.js';
export { CameraSource, parseCameraUri, type CameraStatus, type CameraOptions, type StreamSpec } from './camera.js';
export { writeSyntheticDataset, type DatasetOptions } from './dataset.js';
