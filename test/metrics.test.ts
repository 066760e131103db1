import { describe, expect, it } from 'vitest';
import { atThreshold, averagePrecision, curves, f1, frrAtFullRecall, operatingPoints, recallAtFrr, rocAuc } from '../src/eval/metrics.js';

// Hand-computed cases.
describe('evaluation metrics', () => {
  it('AUROC: perfect, inverted, random ties, and a worked example', () => {
    expect(rocAuc([0.9, 0.8, 0.2, 0.1], [1, 1, 0, 0])).toBe(1);
    expect(rocAuc([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0])).toBe(0);
    expect(rocAuc([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0])).toBe(0.5);
    // positives 0.8, 0.4; negatives 0.6, 0.2: pairs (0.8>0.6)(0.8>0.2)(0.4<0.6)(0.4>0.2) → 3/4
    expect(rocAuc([0.8, 0.4, 0.6, 0.2], [1, 1, 0, 0])).toBe(0.75);
    // a tie between a positive and a negative counts one half: (1 + 0.5) / 2
    expect(rocAuc([0.7, 0.5, 0.5], [1, 1, 0])).toBe(0.75);
    expect(rocAuc([0.7, 0.5], [1, 1])).toBeNull();
  });

  it('average precision as scikit-learn computes it', () => {
    // ranked: 0.9 P, 0.8 N, 0.7 P, 0.1 N → recall steps 0.5 at precision 1, 1.0 at precision 2/3
    expect(averagePrecision([0.9, 0.8, 0.7, 0.1], [1, 0, 1, 0])).toBeCloseTo(0.5 * 1 + 0.5 * (2 / 3), 12);
    // a tie at the top moves together: both at 0.9 → precision 1/2 at recall 1
    expect(averagePrecision([0.9, 0.9], [1, 0])).toBe(0.5);
    expect(averagePrecision([0.3, 0.2], [0, 0])).toBeNull();
  });

  it('F1, false-reject rate at full recall, recall at a false-reject budget', () => {
    expect(f1([1, 1, 0, 0], [1, 0, 1, 0])).toBe(0.5); // tp 1, fp 1, fn 1 → 2/4
    // positives 0.9, 0.6; negatives 0.7, 0.5, 0.1: catching 0.6 also rejects 0.7 → 1/3
    expect(frrAtFullRecall([0.9, 0.6, 0.7, 0.5, 0.1], [1, 1, 0, 0, 0])).toBeCloseTo(1 / 3, 12);
    // with no false reject allowed only 0.9 is caught; with 1/3 allowed both are
    expect(recallAtFrr([0.9, 0.6, 0.7, 0.5, 0.1], [1, 1, 0, 0, 0], 0)).toBe(0.5);
    expect(recallAtFrr([0.9, 0.6, 0.7, 0.5, 0.1], [1, 1, 0, 0, 0], 0.34)).toBe(1);
  });

  it('curves start at the origin of ROC and end at full recall', () => {
    const c = curves([0.9, 0.8, 0.7, 0.1], [1, 0, 1, 0]);
    expect(c.roc[0]).toEqual({ fpr: 0, tpr: 0 });
    expect(c.roc.at(-1)).toEqual({ fpr: 1, tpr: 1 });
    expect(c.pr.map((p) => p.recall)).toEqual([0.5, 0.5, 1, 1]);
  });

  it('operating points: what each threshold costs, and the point a threshold lands on', () => {
    // positives 0.9, 0.6; negatives 0.7, 0.5, 0.1
    const pts = operatingPoints([0.9, 0.6, 0.7, 0.5, 0.1], [1, 1, 0, 0, 0])!;
    expect(pts.map((p) => p.threshold)).toEqual([0.9, 0.7, 0.6, 0.5, 0.1]);
    expect(pts[1]).toEqual({ threshold: 0.7, recall: 0.5, frr: 1 / 3, precision: 0.5, caught: 1, falseRejects: 1 });
    expect(pts[2]).toMatchObject({ recall: 1, frr: 1 / 3, caught: 2, falseRejects: 1 });
    // A threshold between scores rejects what is at or above it: 0.65 → the 0.7 point.
    expect(atThreshold(pts, 0.65)).toMatchObject({ caught: 1, falseRejects: 1 });
    expect(atThreshold(pts, 0.6)).toMatchObject({ caught: 2, falseRejects: 1 });
    expect(atThreshold(pts, 0.95)).toMatchObject({ recall: 0, frr: 0 });
    expect(atThreshold(pts, 0)).toMatchObject({ recall: 1, frr: 1 });
    expect(operatingPoints([0.3, 0.2], [0, 0])).toBeNull();
  });

  it('operating points are thinned evenly, keeping the strictest and the loosest threshold', () => {
    const scores = Array.from({ length: 1000 }, (_, i) => i / 1000);
    const labels = scores.map((_, i) => i % 2);
    const pts = operatingPoints(scores, labels, 50)!;
    expect(pts).toHaveLength(50);
    expect(pts[0].threshold).toBe(0.999);
    expect(pts.at(-1)!.threshold).toBe(0);
    expect(pts.at(-1)).toMatchObject({ recall: 1, frr: 1 });
  });
});
