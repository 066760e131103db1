export { Line, type LineEvents, type LineState, type SupervisionOptions } from './supervisor.js';
export { LatencyWindow, newCounters, processingMs, type LineCounters } from './stats.js';
export type { DeliveryFault, InspectionResult, ModelSummary, Timings, CompactOutputs, WorkerInit } from './protocol.js';
export { undeliveredResult } from './results.js';
export { PartViews, combineViews } from './views.js';
