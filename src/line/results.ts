import { uninspected } from '../decision/index.js';
import type { DeliveryFault, InspectionResult, Timings } from './protocol.js';
import { monotonicMs } from './stats.js';

/** What is known of a part that gets no verdict: which part, under which recipe, and what was captured of it. */
export type UninspectedPart = Pick<InspectionResult, 'seq' | 'source' | 'recipe' | 'recipeVersion' | 'timestamp'> &
  Partial<Pick<InspectionResult, 'mono' | 'modelSha256' | 'image' | 'file' | 'truth' | 'requestId' | 'partId' | 'lot'>>;

/**
 * The one shape of a part answered without a verdict: uninspected with `code` (dropped, late,
 * unreadable, the worker gone), a fail-safe reject — built here for the worker and the supervisor
 * alike, so every such part is recorded and reaches the PLC the same way.
 */
export function uninspectedResult(part: UninspectedPart, code: string, timings: Timings, decidedAt = Date.now()): InspectionResult {
  const d = uninspected(code);
  return {
    seq: part.seq,
    source: part.source,
    partId: part.partId,
    lot: part.lot,
    recipe: part.recipe,
    recipeVersion: part.recipeVersion,
    modelSha256: part.modelSha256 ?? null,
    timestamp: part.timestamp,
    mono: part.mono,
    decidedAt,
    verdict: d.verdict,
    errorCode: code,
    reasons: d.reasons,
    defects: d.defects,
    maxScore: 0,
    outputs: { kind: 'none' },
    timings,
    image: part.image,
    file: part.file,
    truth: part.truth,
    requestId: part.requestId,
  };
}

/** Timings of a part that never reached a stage: all of its time, since its trigger (`mono`, monotonic), was waiting. */
export function waitedTimings(mono: number, now = monotonicMs()): Timings {
  return { queue: now - mono, preprocess: 0, inference: 0, decode: 0, decision: 0, total: now - mono };
}

/**
 * A part whose verdict did not reach the PLC in time is recorded as what happened to it: the PLC's
 * default reject took it, so it is uninspected with the fault's code, whatever the model found
 * (kept in its defects and reasons for review). A part already uninspected keeps its own code.
 */
export function undeliveredResult(r: InspectionResult, fault: DeliveryFault): InspectionResult {
  if (r.verdict === 'uninspected') return r;
  return { ...r, verdict: 'uninspected', errorCode: fault.code, reasons: [{ rule: 'uninspected', code: fault.code }, ...r.reasons] };
}
