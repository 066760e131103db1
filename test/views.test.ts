import { describe, expect, it } from 'vitest';
import { combineViews, PartViews, type InspectionResult } from '../src/line/index.js';

function view(source: string, seq: number, verdict: InspectionResult['verdict'], extra: Partial<InspectionResult> = {}): InspectionResult {
  return {
    seq,
    source,
    recipe: source,
    recipeVersion: 1,
    modelSha256: `sha-${source}`,
    timestamp: 1000,
    decidedAt: 1100,
    verdict,
    reasons: verdict === 'fail' ? [{ rule: 'class', class: 'crack', score: 0.9, limit: 0.5 }] : [],
    defects: verdict === 'fail' ? [{ class: 'crack', score: 0.9, rejecting: true }] : [{ class: 'spot', score: 0.2, rejecting: false }],
    maxScore: verdict === 'fail' ? 0.9 : 0.2,
    outputs: { kind: 'none' },
    timings: { queue: 1, preprocess: 1, inference: 1, decode: 1, decision: 1, total: 50 },
    ...extra,
  };
}

describe('a part seen by several cameras', () => {
  it('fails when any view fails, is uninspected when a view could not be inspected, passes only when every view passes', () => {
    const both = ['top', 'side'];
    expect(combineViews([view('top', 1, 'pass'), view('side', 1, 'pass')], both).verdict).toBe('pass');
    const failed = combineViews([view('top', 1, 'pass'), view('side', 1, 'fail')], both);
    expect(failed).toMatchObject({ verdict: 'fail', source: 'top+side', modelSha256: 'sha-side', maxScore: 0.9 });
    expect(failed.defects[0]).toMatchObject({ class: 'crack', rejecting: true });
    expect(combineViews([view('top', 1, 'fail'), view('side', 1, 'uninspected', { errorCode: 'STN_ERR_CAMERA_NO_FRAME' })], both).verdict).toBe('fail');
    expect(combineViews([view('top', 1, 'pass'), view('side', 1, 'uninspected', { errorCode: 'STN_ERR_CAMERA_NO_FRAME' })], both)).toMatchObject({
      verdict: 'uninspected',
      errorCode: 'STN_ERR_CAMERA_NO_FRAME',
    });
    expect(combineViews([view('top', 1, 'pass')], both)).toMatchObject({ verdict: 'uninspected', errorCode: 'STN_ERR_VIEW_MISSING' });
  });

  it('hands on one result per part once every view is in, or at the deadline with the missing view uninspected; a late view is no new part', async () => {
    const out: InspectionResult[] = [];
    const parts = new PartViews(['top', 'side'], 100, (r) => {
      out.push(r);
      return Promise.resolve(null);
    });
    expect(parts.add(view('other', 1, 'pass'))).toBeNull();
    parts.add(view('top', 1, 'pass'));
    expect(out).toHaveLength(0);
    parts.add(view('side', 1, 'pass'));
    expect(out.map((r) => [r.seq, r.verdict])).toEqual([[1, 'pass']]);

    parts.add(view('top', 2, 'pass'));
    await new Promise((r) => setTimeout(r, 150));
    expect(out.map((r) => [r.seq, r.verdict, r.errorCode])).toEqual([
      [1, 'pass', undefined],
      [2, 'uninspected', 'STN_ERR_VIEW_MISSING'],
    ]);
    expect(await parts.add(view('side', 2, 'fail'))).toMatchObject({ code: 'STN_ERR_VIEW_MISSING' });
    expect(out).toHaveLength(2);
    expect(parts.pending).toBe(0);
  });

  it("tells every view of a part whether the part's one verdict reached the PLC", async () => {
    const fault = { code: 'STN_ERR_PLC_WRITE' as const, message: 'refused' };
    // The PLC takes part 1's verdict and refuses part 2's.
    const parts = new PartViews(['top', 'side'], 100, (r) => Promise.resolve(r.seq === 2 ? fault : null));
    const top1 = parts.add(view('top', 1, 'pass'));
    const side1 = parts.add(view('side', 1, 'fail'));
    const top2 = parts.add(view('top', 2, 'pass'));
    const side2 = parts.add(view('side', 2, 'pass'));
    expect(await Promise.all([top1, side1, top2, side2])).toEqual([null, null, fault, fault]);
  });
});
