import { describe, expect, it } from 'vitest';
import { anomalyArea, compactOutputs, decide, uninspected, type DecisionInput } from '../src/decision/index.js';
import type { Detection } from '../src/inference/index.js';

const det = (cls: string, score: number, area = 100): Detection => ({ classId: 0, class: cls, score, box: [0, 0, 10, area / 10], area });
const dets = (...d: Detection[]) => compactOutputs({ kind: 'detection', detections: d });

describe('decision', () => {
  it('passes a part with no detection above its class threshold', () => {
    const d = decide(dets(det('scratch', 0.4)), { default: { minScore: 0.5 } });
    expect(d.verdict).toBe('pass');
    expect(d.defects).toEqual([expect.objectContaining({ class: 'scratch', rejecting: false })]);
  });

  it('fails a part on one detection at or above the threshold, with the reason', () => {
    const d = decide(dets(det('scratch', 0.5, 300)), { default: { minScore: 0.5 } });
    expect(d.verdict).toBe('fail');
    expect(d.reasons).toEqual([{ rule: 'class', class: 'scratch', score: 0.5, area: 300, count: 1, limit: 0.5 }]);
    expect(d.defects[0].rejecting).toBe(true);
  });

  it('uses the per-class rule over the default', () => {
    const t = { default: { minScore: 0.3 }, classes: { dent: { minScore: 0.9 } } };
    expect(decide(dets(det('dent', 0.8)), t).verdict).toBe('pass');
    expect(decide(dets(det('spot', 0.35)), t).verdict).toBe('fail');
  });

  it('ignores detections smaller than the minimum area', () => {
    const t = { classes: { spot: { minScore: 0.5, minArea: 50 } } };
    expect(decide(dets(det('spot', 0.9, 40)), t).verdict).toBe('pass');
    expect(decide(dets(det('spot', 0.9, 60)), t).verdict).toBe('fail');
  });

  it('tolerates up to maxCount detections of a class', () => {
    const t = { classes: { spot: { minScore: 0.5, maxCount: 2 } } };
    expect(decide(dets(det('spot', 0.9), det('spot', 0.8)), t).verdict).toBe('pass');
    const d = decide(dets(det('spot', 0.9), det('spot', 0.8), det('spot', 0.7)), t);
    expect(d.verdict).toBe('fail');
    expect(d.reasons[0]).toMatchObject({ rule: 'count', class: 'spot', count: 3, limit: 2 });
  });

  it('fails an anomaly score at the threshold (0.5 by default)', () => {
    expect(decide({ kind: 'anomaly', score: 0.49 }, {}).verdict).toBe('pass');
    expect(decide({ kind: 'anomaly', score: 0.5 }, {}).verdict).toBe('fail');
    expect(decide({ kind: 'anomaly', score: 0.6 }, { anomalyScore: 0.7 }).verdict).toBe('pass');
  });

  it('with a minimum area, fails an anomaly only when enough of the stored map is above the pixel threshold', () => {
    // A 64 × 64 map over a 640 × 640 region: a 4 × 4 hot spot of 0.8, one cell of 0.55, the rest 0.1.
    const data = new Float32Array(64 * 64).fill(0.1);
    for (let y = 10; y < 14; y++) for (let x = 20; x < 24; x++) data[y * 64 + x] = 0.8;
    data[40 * 64 + 40] = 0.55;
    const out = compactOutputs({ kind: 'anomaly', score: 0.9, map: { width: 64, height: 64, data, region: [0, 0, 640, 640] } }) as DecisionInput & {
      kind: 'anomaly';
    };
    // Kept as a 32 × 32 max-pooled map (2 × 2 cells each 20 × 20 source px).
    expect(out.map).toMatchObject({ width: 32, height: 32, region: [0, 0, 640, 640] });
    expect(anomalyArea(out, 0.5)).toBe(5 * 400); // the hot spot's 4 cells and the lone 0.55 cell
    expect(anomalyArea(out, 0.7)).toBe(4 * 400);
    expect(decide(out, { anomalyMinArea: 2000 }).verdict).toBe('fail');
    expect(decide(out, { anomalyMinArea: 2001 }).verdict).toBe('pass');
    expect(decide(out, { anomalyPixel: 0.7, anomalyMinArea: 1600 }).reasons[0]).toMatchObject({ rule: 'anomaly', area: 1600, minArea: 1600 });
    expect(decide(out, { anomalyScore: 0.95, anomalyMinArea: 1 }).verdict).toBe('pass');
  });

  it('without a stored map, an area rule cannot excuse an anomalous part (fail-safe)', () => {
    expect(decide({ kind: 'anomaly', score: 0.9 }, { anomalyMinArea: 1e9 }).verdict).toBe('fail');
    expect(decide({ kind: 'anomaly', score: 0.9, area: 10 }, { anomalyMinArea: 100 }).verdict).toBe('pass');
  });

  it('fails a classifier whose top class is not a good class', () => {
    const out = (c: string): DecisionInput => ({
      kind: 'classification',
      scores: [
        { class: c, score: 0.8 },
        { class: 'x', score: 0.2 },
      ],
    });
    expect(decide(out('good'), {}).verdict).toBe('pass');
    expect(decide(out('crack'), {}).verdict).toBe('fail');
    expect(decide(out('ok_part'), { goodClasses: ['ok_part'] }).verdict).toBe('pass');
  });

  it('marks an uninspected part with its code, never as a pass', () => {
    expect(uninspected('STN_ERR_IMAGE_CORRUPT')).toMatchObject({ verdict: 'uninspected', reasons: [{ rule: 'uninspected', code: 'STN_ERR_IMAGE_CORRUPT' }] });
  });
});

describe('a model that outputs NaN (review finding: NaN >= limit is false, so the part passed)', () => {
  it('leaves the part uninspected with STN_ERR_MODEL_OUTPUT, whatever the thresholds', () => {
    expect(decide({ kind: 'anomaly', score: Number.NaN }, { anomalyScore: 0.5 })).toMatchObject({
      verdict: 'uninspected',
      reasons: [{ code: 'STN_ERR_MODEL_OUTPUT' }],
    });
    expect(
      decide({ kind: 'detection', detections: [{ class: 'scratch', score: Number.NaN, box: [0, 0, 1, 1], area: 1 }] }, { default: { minScore: 0.5 } }).verdict,
    ).toBe('uninspected');
    expect(decide({ kind: 'classification', scores: [{ class: 'good', score: Number.NaN }] }, {}).verdict).toBe('uninspected');
  });
});
