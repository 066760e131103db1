import { describe, expect, it } from 'vitest';
import { decide, uninspected } from '../src/decision/index.js';
import type { Detection, ModelOutput } from '../src/inference/index.js';

const det = (cls: string, score: number, area = 100): Detection => ({ classId: 0, class: cls, score, box: [0, 0, 10, area / 10], area });
const dets = (...d: Detection[]): ModelOutput => ({ kind: 'detection', detections: d });

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

  it('fails a classifier whose top class is not a good class', () => {
    const out = (c: string): ModelOutput => ({ kind: 'classification', scores: [{ class: c, score: 0.8 }, { class: 'x', score: 0.2 }] });
    expect(decide(out('good'), {}).verdict).toBe('pass');
    expect(decide(out('crack'), {}).verdict).toBe('fail');
    expect(decide(out('ok_part'), { goodClasses: ['ok_part'] }).verdict).toBe('pass');
  });

  it('marks an uninspected part with its code, never as a pass', () => {
    expect(uninspected('STN_ERR_IMAGE_CORRUPT')).toMatchObject({ verdict: 'uninspected', reasons: [{ rule: 'uninspected', code: 'STN_ERR_IMAGE_CORRUPT' }] });
  });
});
