/**
 * Threshold suggestion from labelled history: per class, the highest threshold that still
 * catches the target share of that class's labelled defective parts — so zero escapes at the
 * lowest false-reject rate each class allows — and the trade-off curves that show what each
 * choice costs. Pure; the rows come from the same scan as what-if.
 */
import type { Thresholds } from '../config/schema.js';
import { anomalyArea, DETECTION_FLOOR, ruleFor, type DecisionInput } from '../decision/index.js';
import { WhatIfTally, type WhatIfRow, type WhatIfSummary } from './tally.js';

export type SuggestTarget = { escapes: 0 } | { recall: number };

export interface CurvePoint {
  threshold: number;
  /** Labelled defective parts of the class caught at this threshold. */
  caught: number;
  /** Labelled good parts this class alone would reject at this threshold. */
  goodRejected: number;
}

export interface ClassSuggestion {
  class: string;
  /** The suggested minScore (or anomalyScore), or the current one when `kept`. */
  threshold: number;
  current: number;
  /** (lo, hi]: every threshold in it gives the same counts on this history; the suggestion is its middle. */
  sameOnHistory: [number, number] | null;
  /** Labelled defective parts attributed to this class. */
  defective: number;
  caught: number;
  /** Defective parts this class never scored above the detection floor: escapes at any threshold. */
  unreachable: number;
  goodRejected: number;
  /** No labelled defect of this class: its current threshold is kept. */
  kept: boolean;
  curve: CurvePoint[];
}

export interface Suggestion {
  thresholds: Thresholds;
  target: SuggestTarget;
  classes: ClassSuggestion[];
  /** The suggested thresholds replayed over the labelled parts. */
  result: WhatIfSummary;
  /** Overall trade-off: per-class recall targets from 0.8 to 1, replayed over the labelled parts. */
  curve: { recallTarget: number; recall: number | null; falseRejectRate: number | null; escapes: number; falseRejects: number }[];
}

type Family = 'detection' | 'anomaly' | 'classification';

/**
 * The score from which each class starts rejecting this part, the other rules (minArea,
 * maxCount, the anomaly area rule, good classes) kept as they are in `t`.
 */
export function partScores(o: DecisionInput, t: Thresholds): Map<string, number> {
  const out = new Map<string, number>();
  switch (o.kind) {
    case 'detection': {
      const byClass = new Map<string, number[]>();
      for (const d of o.detections) {
        if (d.area < ruleFor(t, d.class).minArea) continue;
        let a = byClass.get(d.class);
        if (!a) byClass.set(d.class, (a = []));
        a.push(d.score);
      }
      for (const [c, scores] of byClass) {
        const k = ruleFor(t, c).maxCount;
        if (scores.length > k) out.set(c, scores.sort((a, b) => b - a)[k]);
      }
      return out;
    }
    case 'anomaly': {
      const minArea = t.anomalyMinArea ?? 0;
      if (minArea === 0 || (anomalyArea(o, t.anomalyPixel ?? 0.5) ?? Infinity) >= minArea) out.set('anomaly', o.score);
      return out;
    }
    case 'classification': {
      const top = o.scores[0];
      const good = new Set(t.goodClasses ?? ['good', 'ok', 'pass', 'normal']);
      if (top && !good.has(top.class)) out.set(top.class, top.score);
      return out;
    }
  }
}

function currentThreshold(family: Family, t: Thresholds, cls: string): number {
  return family === 'anomaly' ? (t.anomalyScore ?? 0.5) : ruleFor(t, cls).minScore;
}

function withThresholds(family: Family, t: Thresholds, chosen: Map<string, number>): Thresholds {
  if (family === 'anomaly') return { ...t, anomalyScore: chosen.get('anomaly') ?? t.anomalyScore ?? 0.5 };
  const classes = { ...(t.classes ?? {}) };
  for (const [c, th] of chosen) classes[c] = { ...ruleFor(t, c), minScore: th };
  return { ...t, classes };
}

const r4 = (x: number) => Math.round(x * 1e4) / 1e4;

/**
 * Per-class thresholds for `target` from labelled rows. Each labelled defective part is
 * attributed to one class: among its labelled classes (or, without one, among all) the class
 * that scores it highest. A class's threshold is then the highest that catches the target share
 * of its parts; classes with no labelled defect keep their current threshold.
 */
export function suggestThresholds(rows: readonly WhatIfRow[], current: Thresholds, target: SuggestTarget): Suggestion {
  const inspected = rows.filter((r) => r.label && r.verdict !== 'uninspected' && r.outputs.kind !== 'none');
  const family: Family = (inspected.find((r) => r.outputs.kind !== 'none')?.outputs.kind as Family | undefined) ?? 'detection';
  const floor = family === 'detection' ? DETECTION_FLOOR : 0;
  const scores = inspected.map((r) => partScores(r.outputs as DecisionInput, current));

  // Defective parts per class (their score for it, -1 when never above the floor); good parts' scores per class.
  const defective = new Map<string, number[]>();
  const good = new Map<string, number[]>();
  inspected.forEach((r, i) => {
    const s = scores[i];
    if (r.label!.defective) {
      const named = family === 'anomaly' ? ['anomaly'] : r.label!.classes.length ? r.label!.classes : [...s.keys()];
      if (named.length === 0) return; // a defect no class saw and nobody named: counted in the replay only
      const best = named.reduce((b, c) => ((s.get(c) ?? -1) > (s.get(b) ?? -1) ? c : b), named[0]);
      let a = defective.get(best);
      if (!a) defective.set(best, (a = []));
      a.push(s.get(best) ?? -1);
    } else {
      for (const [c, v] of s) {
        let a = good.get(c);
        if (!a) good.set(c, (a = []));
        a.push(v);
      }
    }
  });
  for (const a of [...defective.values(), ...good.values()]) a.sort((x, y) => y - x);

  /**
   * Any threshold in (highest good score below the needed defect score, that defect score]
   * gives the same counts on history; the middle of that interval keeps the most margin on
   * both sides for the parts still to come.
   */
  const choose = (share: number) => {
    const chosen = new Map<string, number>();
    const ranges = new Map<string, [number, number]>();
    for (const [c, d] of defective) {
      const catchable = d.filter((v) => v >= floor);
      if (catchable.length === 0) continue;
      const need = Math.min(catchable.length, Math.max(1, Math.ceil(share * d.length - 1e-9)));
      const hi = Math.min(1, catchable[need - 1]);
      const below = [...(good.get(c) ?? []), ...d].filter((v) => v < hi);
      const lo = Math.max(floor, below.length ? Math.max(...below) : floor);
      ranges.set(c, [lo, hi]);
      chosen.set(c, lo < hi ? r4(Math.max(lo + 1e-4, (lo + hi) / 2)) : hi);
    }
    return { chosen, ranges };
  };
  const share = 'recall' in target ? target.recall : 1;
  const { chosen, ranges } = choose(share);
  const thresholds = withThresholds(family, current, chosen);

  const countAtLeast = (sortedDesc: readonly number[], th: number) => {
    let lo = 0,
      hi = sortedDesc.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sortedDesc[mid] >= th) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const classNames = [...new Set([...defective.keys(), ...good.keys(), ...Object.keys(current.classes ?? {})])].sort();
  const classes: ClassSuggestion[] = classNames.map((c) => {
    const d = defective.get(c) ?? [];
    const g = good.get(c) ?? [];
    const cur = currentThreshold(family, current, c);
    const th = chosen.get(c) ?? cur;
    // Thresholds worth showing: every distinct defective score, thinned to 100 points.
    const steps = [...new Set(d.filter((v) => v >= floor).map(r4))];
    const every = Math.max(1, Math.ceil(steps.length / 100));
    const curve = steps
      .filter((_, i) => i % every === 0 || i === steps.length - 1)
      .map((v) => ({ threshold: v, caught: countAtLeast(d, v), goodRejected: countAtLeast(g, v) }));
    return {
      class: c,
      threshold: r4(th),
      current: cur,
      sameOnHistory: ranges.get(c) ?? null,
      defective: d.length,
      caught: countAtLeast(d, th),
      unreachable: d.filter((v) => v < floor).length,
      goodRejected: countAtLeast(g, th),
      kept: !chosen.has(c),
      curve,
    };
  });

  const replay = (t: Thresholds) => {
    const tally = new WhatIfTally(t, 0);
    for (const r of inspected) tally.add(r);
    return tally.summary();
  };
  const curve = [0.8, 0.85, 0.9, 0.95, 0.97, 0.98, 0.99, 1].map((recallTarget) => {
    const s = replay(withThresholds(family, current, choose(recallTarget).chosen));
    const lab = s.labelled;
    return {
      recallTarget,
      escapes: s.escapesCandidate,
      falseRejects: s.falseRejectsCandidate,
      recall: lab.defective ? r4(1 - s.escapesCandidate / lab.defective) : null,
      falseRejectRate: lab.good ? r4(s.falseRejectsCandidate / lab.good) : null,
    };
  });
  return { thresholds, target, classes, result: replay(thresholds), curve };
}
