export { Line, type LineEvents, type LineState, type SupervisionOptions } from './supervisor.js';
export { LatencyWindow, newCounters, processingMs, type LineCounters } from './stats.js';
export type { InspectionResult, ModelSummary, Timings, CompactOutputs, WorkerInit } from './protocol.js';
export { PartViews, combineViews } from './views.js';
