export * from './frame.js';
export { Rng } from './random.js';
export { PartGenerator, SYNTHETIC_CLASSES, type SyntheticClass, type SyntheticOptions, type SyntheticPart } from './synthetic.js';
export { createSource, DirSource, SyntheticSource, PushSource, readFixtureList, truthFromPath, type FrameSource, type SourceContext } from './sources.js';
export { writeSyntheticDataset, type DatasetOptions } from './dataset.js';
