export { Line, type LineEvents, type LineState, type SupervisionOptions } from './line.js';
export { LineEngine } from './engine.js';
export { LatencyWindow, newCounters, processingMs, type LineCounters } from './stats.js';
export type { InspectionResult, ModelSummary, Timings, CompactOutputs, WorkerInit } from './protocol.js';
export { PartViews, combineViews } from './views.js';
