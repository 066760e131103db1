/**
 * The verdict, as a pure function of the model's compact output and the recipe's thresholds.
 * No clock, no I/O: the same inputs give the same verdict. The line decides on exactly the
 * compact form it stores with every inspection (`compactOutputs`), so what-if can replay
 * history against new thresholds and get exactly what the line would have done.
 */
import type { ClassRule, Thresholds } from '../config/schema.js';
import type { GridMap, ModelOutput } from '../inference/index.js';

export type Verdict = 'pass' | 'fail' | 'uninspected';

/**
 * Lowest score a detection is kept at. Thresholds below it cannot be replayed: the line never
 * kept what scored lower.
 */
export const DETECTION_FLOOR = 0.1;

/** Largest side of the anomaly map kept with each inspection (max-pooled, 8 bits per cell). */
export const COMPACT_MAP_SIDE = 32;

/** A downsampled anomaly map: `data` is base64 of one byte per cell (score = byte / 255). */
export type CompactMap = GridMap<string>;

/**
 * The code stage's reasons (no-read, code-mismatch), given by the recipe's code rules and not by
 * thresholds: stored with the model's outputs, so that a re-decision under other thresholds keeps
 * them (a no-read part never becomes a pass in what-if).
 */
type WithCodeReasons = { codeReasons?: Reason[] };

/** Model outputs before thresholding, compact enough to store with every inspection. */
export type CompactOutputs =
  | ({
      kind: 'detection';
      floor?: number;
      detections: { class: string; score: number; box: [number, number, number, number]; area: number }[];
    } & WithCodeReasons)
  | ({ kind: 'anomaly'; score: number; area?: number; map?: CompactMap } & WithCodeReasons)
  | ({ kind: 'classification'; scores: { class: string; score: number }[] } & WithCodeReasons)
  | { kind: 'none' };

/** What `decide` reads: a compact output of a part that was inspected. */
export type DecisionInput = Exclude<CompactOutputs, { kind: 'none' }>;

export interface Reason {
  /** no-read: the recipe's code could not be read; code-mismatch: the code read is not the PLC's PartId. */
  rule: 'class' | 'count' | 'anomaly' | 'classification' | 'uninspected' | 'no-read' | 'code-mismatch';
  class?: string;
  score?: number;
  area?: number;
  count?: number;
  /** The limit that was crossed (minScore, maxCount, anomalyScore). */
  limit?: number;
  /** Anomaly rules with a minimum area: the area limit that was reached. */
  minArea?: number;
  code?: string;
}

export interface DecidedDefect {
  class: string;
  score: number;
  box?: [number, number, number, number];
  area?: number;
  /** Whether this finding counts against the part under the recipe. */
  rejecting: boolean;
}

export interface Decision {
  verdict: Verdict;
  reasons: Reason[];
  defects: DecidedDefect[];
  maxScore: number;
}

const DEFAULT_RULE: ClassRule = { minScore: 0.5, minArea: 0, maxCount: 0 };
const DEFAULT_GOOD = ['good', 'ok', 'pass', 'normal'];

export function ruleFor(t: Thresholds, cls: string): Required<ClassRule> {
  const r = t.classes?.[cls] ?? t.default ?? DEFAULT_RULE;
  return { minScore: r.minScore, minArea: r.minArea ?? 0, maxCount: r.maxCount ?? 0 };
}

/** The verdict of a compact output under `t`: the model's findings, then the code stage's reasons stored with them. */
export function decide(output: DecisionInput, t: Thresholds): Decision {
  const d = decideFindings(output, t);
  const codes = output.codeReasons;
  if (!codes?.length || d.verdict === 'uninspected') return d;
  return { ...d, verdict: 'fail', reasons: [...codes, ...d.reasons] };
}

/**
 * The reasons a code read (`read`; null: none could be read) gives under the recipe's code rules:
 * a no-read, unless `noRead` is 'ignore'; a mismatch with the PLC's PartId when both exist and
 * `matchPartId` holds.
 */
export function codeReasons(read: string | null, partId: string | undefined, rules: { noRead: 'reject' | 'ignore'; matchPartId: boolean }): Reason[] {
  if (read === null) return rules.noRead === 'reject' ? [{ rule: 'no-read' }] : [];
  if (rules.matchPartId && partId !== undefined && read !== partId) return [{ rule: 'code-mismatch' }];
  return [];
}

function decideFindings(output: DecisionInput, t: Thresholds): Decision {
  // A score that is not a number (a model producing NaN) compares false with every threshold and
  // would pass the part: it was not truly inspected.
  if (!scoresFinite(output)) return uninspected('STN_ERR_MODEL_OUTPUT');
  switch (output.kind) {
    case 'detection': {
      const counts = new Map<string, { n: number; max: number; area: number }>();
      const defects: DecidedDefect[] = output.detections.map((d) => {
        const r = ruleFor(t, d.class);
        const counts_ = d.score >= r.minScore && d.area >= r.minArea;
        if (counts_) {
          const c = counts.get(d.class) ?? { n: 0, max: 0, area: 0 };
          c.n++;
          c.max = Math.max(c.max, d.score);
          c.area = Math.max(c.area, d.area);
          counts.set(d.class, c);
        }
        return { class: d.class, score: d.score, box: d.box, area: d.area, rejecting: false };
      });
      const reasons: Reason[] = [];
      for (const [cls, c] of counts) {
        const r = ruleFor(t, cls);
        if (c.n > r.maxCount) {
          reasons.push(
            r.maxCount === 0
              ? { rule: 'class', class: cls, score: c.max, area: c.area, count: c.n, limit: r.minScore }
              : { rule: 'count', class: cls, score: c.max, count: c.n, limit: r.maxCount },
          );
          for (const d of defects) if (d.class === cls && d.score >= r.minScore && (d.area ?? 0) >= r.minArea) d.rejecting = true;
        }
      }
      reasons.sort((a, b) => (b.score ?? 0) - (a.score ?? 0));
      const maxScore = defects.reduce((m, d) => Math.max(m, d.score), 0);
      return { verdict: reasons.length ? 'fail' : 'pass', reasons, defects, maxScore };
    }
    case 'anomaly': {
      const limit = t.anomalyScore ?? 0.5;
      const minArea = t.anomalyMinArea ?? 0;
      const area = anomalyArea(output, t.anomalyPixel ?? 0.5);
      // Without a map the area is unknown: the area rule cannot excuse the part (fail-safe).
      const fail = output.score >= limit && (minArea === 0 || (area ?? Infinity) >= minArea);
      return {
        verdict: fail ? 'fail' : 'pass',
        reasons: fail ? [{ rule: 'anomaly', class: 'anomaly', score: output.score, area, limit, ...(minArea ? { minArea } : {}) }] : [],
        defects: [{ class: 'anomaly', score: output.score, area, rejecting: fail }],
        maxScore: output.score,
      };
    }
    case 'classification': {
      const good = new Set(t.goodClasses ?? DEFAULT_GOOD);
      const top = output.scores[0];
      const r = top ? ruleFor(t, top.class) : DEFAULT_RULE;
      const fail = !!top && !good.has(top.class) && top.score >= r.minScore;
      const bad = output.scores.filter((s) => !good.has(s.class));
      return {
        verdict: fail ? 'fail' : 'pass',
        reasons: fail ? [{ rule: 'classification', class: top.class, score: top.score, limit: r.minScore }] : [],
        defects: bad.slice(0, 3).map((s) => ({ class: s.class, score: s.score, rejecting: fail && s === top })),
        maxScore: bad.reduce((m, s) => Math.max(m, s.score), 0),
      };
    }
  }
}

/** A part that could not be inspected: fail-safe, the line rejects it. */
export function uninspected(code: string): Decision {
  return { verdict: 'uninspected', reasons: [{ rule: 'uninspected', code }], defects: [], maxScore: 0 };
}

/**
 * Source pixels of the anomaly map at or above `pixel`, from the compact map (the same cells the
 * line decided on); the stored area when there is no map and the pixel threshold is the trained one.
 */
export function anomalyArea(o: { area?: number; map?: CompactMap }, pixel: number): number | undefined {
  const m = o.map;
  if (!m) return pixel === 0.5 ? o.area : undefined;
  const cells = Buffer.from(m.data, 'base64');
  // A byte b stands for b/255; compare on bytes so rounding never differs between callers.
  const min = Math.ceil(pixel * 255 - 1e-9);
  let above = 0;
  for (let i = 0; i < cells.length; i++) if (cells[i] >= min) above++;
  return Math.round((above * m.region[2] * m.region[3]) / (m.width * m.height));
}

const r4 = (x: number) => Math.round(x * 1e4) / 1e4;

/**
 * The compact form of a decoded output: scores to 4 decimals, boxes to 0.1 px, areas to whole
 * pixels, the anomaly map max-pooled to at most COMPACT_MAP_SIDE cells a side at 8 bits. The line
 * stores it and decides on it, so a later re-decision sees exactly what the line saw.
 */
export function compactOutputs(o: ModelOutput): DecisionInput;
export function compactOutputs(o: ModelOutput | null): CompactOutputs;
export function compactOutputs(o: ModelOutput | null): CompactOutputs {
  if (!o) return { kind: 'none' };
  switch (o.kind) {
    case 'detection':
      return {
        kind: 'detection',
        floor: DETECTION_FLOOR,
        detections: o.detections.map((d) => ({
          class: d.class,
          score: r4(d.score),
          box: d.box.map((v) => Math.round(v * 10) / 10) as [number, number, number, number],
          area: Math.round(d.area),
        })),
      };
    case 'anomaly':
      return { kind: 'anomaly', score: r4(o.score), area: o.area === undefined ? undefined : Math.round(o.area), map: o.map ? compactMap(o.map) : undefined };
    case 'classification':
      return { kind: 'classification', scores: o.scores.slice(0, 5).map((s) => ({ class: s.class, score: r4(s.score) })) };
  }
}

function compactMap(m: GridMap<Float32Array>): CompactMap {
  const f = Math.max(1, Math.ceil(Math.max(m.width, m.height) / COMPACT_MAP_SIDE));
  const w = Math.ceil(m.width / f),
    h = Math.ceil(m.height / f);
  const cells = new Uint8Array(w * h);
  for (let y = 0; y < m.height; y++) {
    for (let x = 0; x < m.width; x++) {
      const v = Math.round(Math.min(1, Math.max(0, m.data[y * m.width + x])) * 255);
      const k = Math.floor(y / f) * w + Math.floor(x / f);
      if (v > cells[k]) cells[k] = v;
    }
  }
  return { width: w, height: h, data: Buffer.from(cells).toString('base64'), region: [...m.region] };
}

/** What a person or the source says a part really was. */
export type PartLabel = { defective: boolean; classes: string[]; source: 'review' | 'truth' };

/**
 * A part's label from its latest review, else from the source's ground truth. `confirmed` agrees
 * with the station: a confirmed reject was defective, a confirmed pass was good.
 */
export function labelOf(
  verdict: Verdict,
  review: { label: string; class: string | null } | undefined,
  truth: { defective?: boolean; defects?: { class: string }[] } | null | undefined,
  rejectingClasses: readonly string[],
): PartLabel | null {
  if (review) {
    switch (review.label) {
      case 'false_reject':
        return { defective: false, classes: [], source: 'review' };
      case 'escape':
        return { defective: true, classes: review.class ? [review.class] : [], source: 'review' };
      case 'confirmed':
        return verdict === 'pass'
          ? { defective: false, classes: [], source: 'review' }
          : { defective: true, classes: review.class ? [review.class] : [...rejectingClasses], source: 'review' };
    }
  }
  if (truth && typeof truth.defective === 'boolean') {
    return { defective: truth.defective, classes: [...new Set((truth.defects ?? []).map((d) => d.class))], source: 'truth' };
  }
  return null;
}

function scoresFinite(o: DecisionInput): boolean {
  switch (o.kind) {
    case 'detection':
      return o.detections.every((d) => Number.isFinite(d.score) && Number.isFinite(d.area));
    case 'anomaly':
      return Number.isFinite(o.score);
    case 'classification':
      return o.scores.every((s) => Number.isFinite(s.score));
  }
}
