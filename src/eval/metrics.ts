/**
 * Detection-quality metrics for labelled image sets. Pure functions over (score, label) pairs,
 * label 1 = defective. Conventions follow scikit-learn's: ties in score move together, AUROC is
 * the Mann–Whitney probability (ties count one half), AP is the step integral of precision over
 * recall at each distinct score.
 */

export interface Curves {
  roc: { fpr: number; tpr: number }[];
  pr: { recall: number; precision: number }[];
}

/** Distinct-score thresholds, highest first, with cumulative true and false positives. */
function sweep(scores: ArrayLike<number>, labels: ArrayLike<number>) {
  const idx = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b] - scores[a]);
  const out: { threshold: number; tp: number; fp: number }[] = [];
  let tp = 0,
    fp = 0;
  for (let k = 0; k < idx.length; k++) {
    const i = idx[k];
    if (labels[i]) tp++;
    else fp++;
    if (k === idx.length - 1 || scores[idx[k + 1]] !== scores[i]) out.push({ threshold: scores[i], tp, fp });
  }
  return out;
}

function counts(labels: ArrayLike<number>) {
  let p = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i]) p++;
  return { p, n: labels.length - p };
}

/** Area under the ROC curve; null when one class is absent. */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number | null {
  const { p, n } = counts(labels);
  if (p === 0 || n === 0) return null;
  // Rank-sum with average ranks for ties.
  const idx = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let rankSum = 0;
  for (let k = 0; k < idx.length; ) {
    let j = k;
    while (j + 1 < idx.length && scores[idx[j + 1]] === scores[idx[k]]) j++;
    const avg = (k + j) / 2 + 1;
    for (let m = k; m <= j; m++) if (labels[idx[m]]) rankSum += avg;
    k = j + 1;
  }
  return (rankSum - (p * (p + 1)) / 2) / (p * n);
}

/** Average precision (area under the precision–recall steps); null without positives. */
export function averagePrecision(scores: ArrayLike<number>, labels: ArrayLike<number>): number | null {
  const { p } = counts(labels);
  if (p === 0) return null;
  let ap = 0,
    lastRecall = 0;
  for (const s of sweep(scores, labels)) {
    const recall = s.tp / p;
    ap += (recall - lastRecall) * (s.tp / (s.tp + s.fp));
    lastRecall = recall;
  }
  return ap;
}

export function curves(scores: ArrayLike<number>, labels: ArrayLike<number>): Curves {
  const { p, n } = counts(labels);
  const pts = sweep(scores, labels);
  return {
    roc: [{ fpr: 0, tpr: 0 }, ...pts.map((s) => ({ fpr: n ? s.fp / n : 0, tpr: p ? s.tp / p : 0 }))],
    pr: pts.map((s) => ({ recall: p ? s.tp / p : 0, precision: s.tp / (s.tp + s.fp) })),
  };
}

/** F1 of a set of binary decisions. */
export function f1(predicted: ArrayLike<number>, labels: ArrayLike<number>): number | null {
  let tp = 0,
    fp = 0,
    fn = 0;
  for (let i = 0; i < labels.length; i++) {
    if (predicted[i] && labels[i]) tp++;
    else if (predicted[i]) fp++;
    else if (labels[i]) fn++;
  }
  return tp + fp + fn === 0 ? null : (2 * tp) / (2 * tp + fp + fn);
}

/** The false-reject rate at the highest threshold that still catches every defective image. */
export function frrAtFullRecall(scores: ArrayLike<number>, labels: ArrayLike<number>): number | null {
  const { p, n } = counts(labels);
  if (p === 0 || n === 0) return null;
  let t = Infinity;
  for (let i = 0; i < scores.length; i++) if (labels[i]) t = Math.min(t, scores[i]);
  let fp = 0;
  for (let i = 0; i < scores.length; i++) if (!labels[i] && scores[i] >= t) fp++;
  return fp / n;
}

/** The recall at the lowest threshold whose false-reject rate is at most `maxFrr`. */
export function recallAtFrr(scores: ArrayLike<number>, labels: ArrayLike<number>, maxFrr: number): number | null {
  const { p, n } = counts(labels);
  if (p === 0 || n === 0) return null;
  let best = 0;
  for (const s of sweep(scores, labels)) if (s.fp / n <= maxFrr) best = s.tp / p;
  return best;
}

export interface OperatingPoint {
  /** Reject when the image score is at least this. */
  threshold: number;
  /** Defective images caught / all defective. */
  recall: number;
  /** Good images rejected / all good. */
  frr: number;
  /** Defective among the rejected. */
  precision: number;
  caught: number;
  falseRejects: number;
}

/**
 * What each threshold costs: recall and false-reject rate at every distinct score (highest
 * first), thinned evenly to at most `maxPoints` while keeping both ends. Null when one class is
 * absent (a cost needs both).
 */
export function operatingPoints(scores: ArrayLike<number>, labels: ArrayLike<number>, maxPoints = 400): OperatingPoint[] | null {
  const { p, n } = counts(labels);
  if (p === 0 || n === 0) return null;
  const all = sweep(scores, labels).map((s) => ({
    threshold: s.threshold,
    recall: s.tp / p,
    frr: s.fp / n,
    precision: s.tp / (s.tp + s.fp),
    caught: s.tp,
    falseRejects: s.fp,
  }));
  if (all.length <= maxPoints) return all;
  const step = (all.length - 1) / (maxPoints - 1);
  return Array.from({ length: maxPoints }, (_, i) => all[Math.round(i * step)]);
}

/** The operating point a threshold lands on: the lowest listed threshold at or above it. */
export function atThreshold(points: readonly OperatingPoint[], threshold: number): { recall: number; frr: number; caught: number; falseRejects: number } {
  let best = { recall: 0, frr: 0, caught: 0, falseRejects: 0 };
  for (const pt of points) if (pt.threshold >= threshold) best = pt;
  return best;
}
