import { writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PartGenerator } from '../src/capture/index.js';
import type { Thresholds } from '../src/config/index.js';
import type { CompactOutputs, Verdict } from '../src/decision/index.js';
import type { Station } from '../src/main.js';
import { compareRun, reDecide, suggestThresholds, WhatIfJobs, WhatIfTally, type WhatIfRow } from '../src/whatif/index.js';
import { station as cli } from './helpers/cli.js';
import { push, startTestStation, userWithRole } from './helpers/station.js';
import { tmpDir } from './helpers/tmp.js';

const row = (id: number, verdict: Verdict, outputs: CompactOutputs, label: WhatIfRow['label'] = null): WhatIfRow => ({
  id,
  capturedAt: new Date(1_700_000_000_000 + id * 1000),
  verdict,
  outputs,
  maxScore: 0,
  label,
});
const dets = (...d: [string, number][]): CompactOutputs => ({
  kind: 'detection',
  floor: 0.1,
  detections: d.map(([c, score]) => ({ class: c, score, box: [0, 0, 10, 10], area: 100 })),
});
const defective = (...classes: string[]) => ({ defective: true, classes, source: 'review' as const });
const good = { defective: false, classes: [], source: 'review' as const };

describe('what-if tally (hand-computed)', () => {
  it('counts flips both ways, reject rates, and escapes and false rejects against labels', () => {
    const t: Thresholds = { default: { minScore: 0.6 } };
    const tally = new WhatIfTally(t, 10);
    // now fail → candidate pass (0.55 < 0.6), labelled good: a false reject that goes away
    tally.add(row(1, 'fail', dets(['dent', 0.55]), good));
    // now pass → candidate fail? no: 0.7 ≥ 0.6 and it passed before (recorded under looser rules): pass → fail
    tally.add(row(2, 'pass', dets(['spot', 0.7]), defective('spot')));
    // unchanged fail, labelled defective
    tally.add(row(3, 'fail', dets(['spot', 0.9]), defective('spot')));
    // uninspected stays uninspected whatever the thresholds; labelled good → a false reject both times
    tally.add(row(4, 'uninspected', { kind: 'none' }, good));
    // unlabelled pass stays pass
    tally.add(row(5, 'pass', dets(['dent', 0.2])));
    expect(tally.summary()).toEqual({
      inspections: 5,
      flips: 2,
      flipsToFail: 1,
      flipsToPass: 1,
      rejectRateNow: 0.6,
      rejectRateCandidate: 0.6,
      labelled: { total: 4, defective: 2, good: 2, fromReviews: 4, fromTruth: 0 },
      escapesNow: 1,
      escapesCandidate: 0,
      falseRejectsNow: 2,
      falseRejectsCandidate: 1,
    });
    expect(tally.flipped().map((f) => [f.id, f.now, f.candidate])).toEqual([
      [2, 'pass', 'fail'],
      [1, 'fail', 'pass'],
    ]);
  });

  it('keeps only the newest flips it was asked for', () => {
    const tally = new WhatIfTally({ default: { minScore: 0.9 } }, 2);
    for (let id = 1; id <= 5; id++) tally.add(row(id, 'fail', dets(['dent', 0.5])));
    expect(tally.summary().flips).toBe(5);
    expect(tally.flipped().map((f) => f.id)).toEqual([5, 4]);
  });

  it('compares a candidate model: a part it could not inspect is a disagreement and a reject, never a pass', () => {
    const part = (id: number, production: Verdict, candidate: Verdict) => ({
      inspectionId: id,
      capturedAt: new Date(1_700_000_000_000 + id * 1000),
      production: { verdict: production, maxScore: 0.9, processingMs: 10 },
      candidate: { verdict: candidate, latencyMs: 20 },
      label: null,
    });
    const c = compareRun([part(1, 'fail', 'uninspected'), part(2, 'pass', 'fail'), part(3, 'fail', 'pass'), part(4, 'pass', 'pass')]);
    expect(c).toMatchObject({ parts: 4, disagree: 3, candidateRejects: 1, candidatePasses: 1, rejectRateProduction: 0.5, rejectRateCandidate: 0.5 });
  });
});

describe('threshold suggestion (hand-computed)', () => {
  // dent: defective parts score 0.9 and 0.6; good parts 0.5 and 0.3. spot: one defective at 0.8, a good at 0.85.
  const rows = [
    row(1, 'fail', dets(['dent', 0.9]), defective('dent')),
    row(2, 'fail', dets(['dent', 0.6]), defective('dent')),
    row(3, 'pass', dets(['dent', 0.5]), good),
    row(4, 'pass', dets(['dent', 0.3]), good),
    row(5, 'fail', dets(['spot', 0.8]), defective('spot')),
    row(6, 'fail', dets(['spot', 0.85]), good),
    row(7, 'pass', dets(['scratch', 0.4]), good),
  ];
  const current: Thresholds = { default: { minScore: 0.5 } };

  it('zero escapes: per class the middle of the widest interval that catches every labelled defect', () => {
    const s = suggestThresholds(rows, current, { escapes: 0 });
    const by = Object.fromEntries(s.classes.map((c) => [c.class, c]));
    // dent: any threshold in (0.5, 0.6] catches both defects and no good part → 0.55.
    expect(by.dent).toMatchObject({ threshold: 0.55, sameOnHistory: [0.5, 0.6], caught: 2, defective: 2, goodRejected: 0, kept: false });
    // spot: the good part at 0.85 scores above the defect at 0.8: it must be rejected too → (0.1, 0.8] → 0.45.
    expect(by.spot).toMatchObject({ threshold: 0.45, caught: 1, goodRejected: 1 });
    // scratch: no labelled defect; its current threshold is kept.
    expect(by.scratch).toMatchObject({ threshold: 0.5, kept: true, defective: 0 });
    expect(s.thresholds.classes).toMatchObject({ dent: { minScore: 0.55 }, spot: { minScore: 0.45 } });
    expect(s.result).toMatchObject({ escapesCandidate: 0, falseRejectsCandidate: 1 });
    // The replay agrees with the pure re-decision of every row.
    expect(rows.filter((r) => r.label?.defective).every((r) => reDecide(r, s.thresholds) === 'fail')).toBe(true);
  });

  it('a recall target trades escapes for false rejects, and the curve shows it', () => {
    const s = suggestThresholds(rows, current, { recall: 0.5 });
    // dent: one of two defects is enough: (0.6, 0.9] → 0.75.
    expect(s.classes.find((c) => c.class === 'dent')).toMatchObject({ threshold: 0.75, caught: 1 });
    expect(s.result.escapesCandidate).toBe(1);
    const last = s.curve.at(-1)!;
    expect(last).toMatchObject({ recallTarget: 1, recall: 1, escapes: 0 });
    expect(s.curve[0].recall).toBeLessThanOrEqual(last.recall!);
  });
});

/** Synthetic parts as PNG: about half defective, many of them faint. */
async function parts(n: number): Promise<Buffer[]> {
  const gen = new PartGenerator({ seed: 21, defectRate: 0.5 });
  return Promise.all(
    Array.from({ length: n }, (_, i) => {
      const p = gen.part(i);
      return sharp(p.image.data, { raw: { width: 512, height: 384, channels: 1 } })
        .png()
        .toBuffer();
    }),
  );
}

describe('what-if against the line itself', () => {
  let s: Station;
  let integrator: Record<string, string>;
  let quality: Record<string, string>;
  let images: Buffer[];
  const first: { seq: number; verdict: string }[] = [];

  beforeAll(async () => {
    // Recorded under a strict recipe, so that looser candidates have passes to flip as well as fails.
    s = await startTestStation({
      sources: [{ name: 'push', uri: 'http:' }],
      recipe: { keepGood: 1, thresholds: { default: { minScore: 0.85 } } },
      adminPassword: 'admin-password-for-tests',
    });
    integrator = await userWithRole(s, 'integrator');
    quality = await userWithRole(s, 'quality');
    images = await parts(48);
    for (const png of images) first.push(await push(s, integrator, png));
    await s.recorder.flush();
  }, 120_000);
  afterAll(async () => {
    await s?.stop();
  });

  it('predicts exactly the verdict changes the line then makes when the same images are replayed under the applied thresholds', async () => {
    const stored = await s.db.inspection.findMany({ orderBy: { id: 'asc' }, select: { id: true, partSeq: true, verdict: true, outputs: true } });
    expect(stored).toHaveLength(images.length);
    // Candidate thresholds that flip parts both ways on this batch: a looser default, a stricter class.
    const rows = stored.map((r) => row(r.id, r.verdict as Verdict, r.outputs as CompactOutputs));
    const candidates: Thresholds[] = [0.5, 0.3, 0.7].flatMap((low) =>
      ['missing_hole', 'scratch', 'spot', 'dent', 'crack'].flatMap((cls) =>
        [0.999, 0.95].map((high) => ({ default: { minScore: low }, classes: { [cls]: { minScore: high } } })),
      ),
    );
    const thresholds = candidates.find((t) => {
      const k = new WhatIfTally(t, 0);
      for (const r of rows) k.add(r);
      return k.summary().flipsToFail > 0 && k.summary().flipsToPass > 0;
    });
    expect(thresholds, 'no candidate flips parts both ways on this batch').toBeDefined();

    // A person's reviews: one good part the line rejected, one defect it let pass.
    const falseReject = stored.find((r) => r.verdict === 'fail')!;
    const escaped = stored.find((r) => r.verdict === 'pass')!;
    for (const [id, body] of [
      [falseReject.id, { label: 'false_reject' }],
      [escaped.id, { label: 'escape', class: 'scratch' }],
    ] as const) {
      expect((await s.api!.inject({ method: 'POST', url: `/api/inspections/${id}/review`, headers: quality, payload: body })).statusCode).toBe(201);
    }

    const whatif = await s.api!.inject({ method: 'POST', url: '/api/whatif', headers: integrator, payload: { thresholds, flips: 1000 } });
    expect(whatif.statusCode).toBe(200);
    const w = whatif.json();
    expect(w).toMatchObject({ inspections: images.length, escapesNow: 1, falseRejectsNow: 1, labelled: { total: 2, fromReviews: 2 } });
    const seqOf = new Map(stored.map((r) => [r.id, Number(r.partSeq)]));
    const predicted = new Map<number, string>(
      w.flipped.map((f: { id: number; candidate: string }) => [first.findIndex((p) => p.seq === seqOf.get(f.id)), f.candidate]),
    );
    expect(predicted.size).toBe(w.flips);
    // Nothing changed on the line: what-if only reads.
    expect((await s.api!.inject({ method: 'GET', url: '/api/recipes/plate', headers: integrator })).json().version).toBe(1);

    // Apply through the audited path, then send the same images again.
    const put = await s.api!.inject({
      method: 'PUT',
      url: '/api/recipes/plate/thresholds',
      headers: integrator,
      payload: { thresholds, reason: 'what-if said so' },
    });
    expect(put.statusCode).toBe(200);
    const second: string[] = [];
    for (const png of images) second.push((await push(s, integrator, png)).verdict);
    const changed = new Map<number, string>();
    second.forEach((v, i) => {
      if (v !== first[i].verdict) changed.set(i, v);
    });
    expect(changed).toEqual(predicted);
    expect(changed.size).toBeGreaterThan(0);
    // And the rates and review counts follow too.
    expect(second.filter((v) => v !== 'pass').length / images.length).toBeCloseTo(w.rejectRateCandidate, 6);
    const idx = (id: number) => first.findIndex((p) => p.seq === seqOf.get(id));
    expect(w.escapesCandidate).toBe(second[idx(escaped.id)] === 'pass' ? 1 : 0);
    expect(w.falseRejectsCandidate).toBe(second[idx(falseReject.id)] === 'pass' ? 0 : 1);

    // `station whatif` on the same database gives the same answer.
    const file = path.join(tmpDir(), 'candidate.yaml');
    writeFileSync(file, JSON.stringify({ recipe: 'plate', thresholds }));
    await s.recorder.flush();
    const to = new Date(Date.now() + 1000).toISOString();
    const firstBatchEnd = (await s.db.inspection.findMany({ orderBy: { id: 'asc' }, take: images.length })).at(-1)!.capturedAt;
    const r = await cli(['whatif', '--recipe', file, '--to', new Date(firstBatchEnd.getTime() + 1).toISOString(), '--json'], {
      env: { DATABASE_URL: `file:${path.join(s.dataDir, 'station.db')}` },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.lines.at(-1)!)).toMatchObject({
      inspections: images.length,
      flips: w.flips,
      rejectRateCandidate: w.rejectRateCandidate,
      escapesCandidate: w.escapesCandidate,
    });
    // Over both batches, the second batch (already decided with these thresholds) adds no flip.
    const both = await s.api!.inject({ method: 'POST', url: '/api/whatif', headers: integrator, payload: { thresholds, to } });
    expect(both.json()).toMatchObject({ inspections: 2 * images.length, flips: w.flips });
  });

  it('suggests thresholds from reviews that, applied on the line, let no reviewed defect through', async () => {
    // Review every part of the first batch from the synthetic ground truth, as a quality engineer would.
    const gen = new PartGenerator({ seed: 21, defectRate: 0.5 });
    const rows = await s.db.inspection.findMany({ orderBy: { id: 'asc' }, take: images.length, select: { id: true, verdict: true } });
    for (const [i, r] of rows.entries()) {
      const truth = gen.part(i).truth;
      const label = truth.defective ? (r.verdict === 'pass' ? 'escape' : 'confirmed') : r.verdict === 'pass' ? 'confirmed' : 'false_reject';
      const res = await s.api!.inject({
        method: 'POST',
        url: `/api/inspections/${r.id}/review`,
        headers: quality,
        payload: { label, ...(truth.defective ? { class: truth.defects[0].class } : {}) },
      });
      expect(res.statusCode).toBe(201);
    }
    const sug = await s.api!.inject({ method: 'POST', url: '/api/whatif/suggest', headers: quality, payload: { target: { escapes: 0 } } });
    expect(sug.statusCode).toBe(200);
    const body = sug.json();
    const defects = images.map((_, i) => gen.part(i).truth.defective);
    // Labels are the reviews of the first batch (the latest review of a part wins).
    expect(body.result.labelled).toMatchObject({ total: images.length, defective: defects.filter(Boolean).length, fromReviews: images.length });
    // Only defects no class ever scored above the kept floor can still escape.
    const unreachable = body.classes.reduce((a: number, c: { unreachable: number }) => a + c.unreachable, 0);
    expect(body.result.escapesCandidate).toBeLessThanOrEqual(unreachable);
    expect(body.result.escapesCandidate).toBeLessThanOrEqual(body.result.escapesNow);
    expect(body.curve.at(-1)).toMatchObject({ recallTarget: 1, escapes: body.result.escapesCandidate });

    const put = await s.api!.inject({
      method: 'PUT',
      url: '/api/recipes/plate/thresholds',
      headers: integrator,
      payload: { thresholds: body.thresholds, reason: 'suggested: zero escapes' },
    });
    expect(put.statusCode).toBe(200);
    let escapes = 0;
    for (const [i, png] of images.entries()) if (defects[i] && (await push(s, integrator, png)).verdict === 'pass') escapes++;
    expect(escapes).toBe(body.result.escapesCandidate);
  });

  it('runs as a job with progress: the same answer as the request, counted against the window, cancellable by its starter', async () => {
    const thresholds = { default: { minScore: 0.5 } };
    const direct = (await s.api!.inject({ method: 'POST', url: '/api/whatif', headers: integrator, payload: { thresholds } })).json();
    const started = await s.api!.inject({ method: 'POST', url: '/api/whatif/jobs', headers: integrator, payload: { thresholds } });
    expect(started.statusCode).toBe(202);
    const job = started.json();
    expect(started.headers.location).toBe(`/api/whatif/jobs/${job.id}`);
    // The window's size comes from the hourly aggregates: every stored part of the recipe.
    expect(job.total).toBe(await s.db.inspection.count({ where: { recipeName: 'plate' } }));
    let seen = job;
    while (seen.state === 'running') seen = (await s.api!.inject({ method: 'GET', url: `/api/whatif/jobs/${job.id}`, headers: quality })).json();
    expect(seen).toMatchObject({ state: 'done', done: job.total, share: 1, etaMs: null, startedBy: 'integrator' });
    const { elapsedMs: _a, ...fromJob } = seen.result;
    const { elapsedMs: _b, ...fromRequest } = direct;
    expect(fromJob).toEqual(fromRequest);
    // Someone else may read it, not cancel it; its starter may (an ended job stays as it ended).
    const other = await s.api!.inject({ method: 'POST', url: `/api/whatif/jobs/${job.id}/cancel`, headers: quality });
    expect([other.statusCode, other.json().code]).toEqual([403, 'STN_ERR_HTTP_FORBIDDEN']);
    expect((await s.api!.inject({ method: 'POST', url: `/api/whatif/jobs/${job.id}/cancel`, headers: integrator })).json().state).toBe('done');
    const unknown = await s.api!.inject({ method: 'GET', url: '/api/whatif/jobs/6f1c2a8e-0d7b-4c1e-9a5f-2b3c4d5e6f70', headers: quality });
    expect([unknown.statusCode, unknown.json().code]).toEqual([404, 'STN_ERR_WHATIF_JOB']);
    // Cancelled before its first chunk: stopped, with its code.
    const jobs = new WhatIfJobs(s.repo);
    const running = await jobs.start({ recipe: 'plate', thresholds }, 'tester');
    const cancelled = await jobs.cancel(running.id);
    expect([cancelled.state, cancelled.error?.code, cancelled.done]).toEqual(['cancelled', 'STN_ERR_WHATIF_CANCELLED', 0]);
    // One at a time, even for two requests that arrive together.
    const both = await Promise.allSettled([jobs.start({ recipe: 'plate', thresholds }, 'a'), jobs.start({ recipe: 'plate', thresholds }, 'b')]);
    expect(both.map((b) => b.status)).toEqual(['fulfilled', 'rejected']);
    expect((both[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'STN_ERR_WHATIF_BUSY' });
    await jobs.stop();
  });

  it('answers a window larger than http.whatIfSyncMaxParts only as a job (413 with the way out)', async () => {
    const small = await startTestStation({ sources: [{ name: 'push', uri: 'http:' }], http: { whatIfSyncMaxParts: 3 } });
    try {
      const key = await userWithRole(small, 'viewer');
      const pusher = await userWithRole(small, 'integrator');
      const thresholds = { default: { minScore: 0.5 } };
      for (const png of images.slice(0, 4)) await push(small, pusher, png);
      await small.recorder.flush();
      const refused = await small.api!.inject({ method: 'POST', url: '/api/whatif', headers: key, payload: { thresholds } });
      expect([refused.statusCode, refused.json().code]).toEqual([413, 'STN_ERR_WHATIF_LARGE']);
      expect(refused.json().message).toMatch(/POST \/api\/whatif\/jobs/);
      const job = await small.api!.inject({ method: 'POST', url: '/api/whatif/jobs', headers: key, payload: { thresholds } });
      expect([job.statusCode, job.json().total]).toEqual([202, 4]);
    } finally {
      await small.stop();
    }
  });

  it('refuses what it cannot answer: thresholds below the kept floor, unknown classes, no login', async () => {
    const floor = await s.api!.inject({ method: 'POST', url: '/api/whatif', headers: integrator, payload: { thresholds: { default: { minScore: 0.05 } } } });
    expect([floor.statusCode, floor.json().code]).toEqual([400, 'STN_ERR_WHATIF_FLOOR']);
    const cls = await s.api!.inject({
      method: 'POST',
      url: '/api/whatif',
      headers: integrator,
      payload: { thresholds: { classes: { rust: { minScore: 0.5 } } } },
    });
    expect([cls.statusCode, cls.json().code]).toEqual([400, 'STN_ERR_RECIPE_CLASS']);
    const recipe = await s.api!.inject({ method: 'POST', url: '/api/whatif', headers: integrator, payload: { recipe: 'nope', thresholds: {} } });
    expect([recipe.statusCode, recipe.json().code]).toEqual([404, 'STN_ERR_RECIPE_UNKNOWN']);
    expect((await s.api!.inject({ method: 'POST', url: '/api/whatif', payload: { thresholds: {} } })).statusCode).toBe(401);
    expect(
      (await s.api!.inject({ method: 'POST', url: '/api/whatif', headers: integrator, payload: { thresholds: { default: { minScore: 'x' } } } })).statusCode,
    ).toBe(400);
  });
});

describe('re-inference: a candidate over stored images, kept apart', () => {
  let s: Station;
  let integrator: Record<string, string>;
  beforeAll(async () => {
    s = await startTestStation({ sources: [{ name: 'push', uri: 'http:' }], recipe: { keepGood: 1 }, adminPassword: 'admin-password-for-tests' });
    integrator = await userWithRole(s, 'integrator');
    for (const png of await parts(16)) await push(s, integrator, png);
    await s.recorder.flush();
  }, 120_000);
  afterAll(async () => {
    await s?.stop();
  });

  const until = async (id: number, states: string[]) => {
    for (let i = 0; i < 600; i++) {
      const j = (await s.api!.inject({ method: 'GET', url: `/api/reinference/${id}`, headers: integrator })).json();
      if (states.includes(j.state)) return j;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`re-inference ${id} never reached ${states.join('/')}`);
  };

  it('the production model over its own stored images agrees with every verdict; other preprocessing is compared side by side', async () => {
    const models = (await s.api!.inject({ method: 'GET', url: '/api/models', headers: integrator })).json().items;
    expect(models.map((m: { file: string }) => m.file)).toEqual(expect.arrayContaining(['plate-defects.onnx', 'magnetic-tile.onnx']));
    expect(models.find((m: { file: string }) => m.file === 'plate-defects.onnx').usedBy).toEqual(['plate']);

    const same = await s.api!.inject({ method: 'POST', url: '/api/reinference', headers: integrator, payload: {} });
    expect(same.statusCode).toBe(202);
    expect(same.json()).toMatchObject({ total: 16, candidate: { model: 'plate-defects.onnx' } });
    const a = await until(same.json().id, ['done', 'failed']);
    expect(a).toMatchObject({ state: 'done', done: 16, comparison: { parts: 16, disagree: 0 } });

    const stretch = await s.api!.inject({ method: 'POST', url: '/api/reinference', headers: integrator, payload: { resize: 'stretch' } });
    const b = await until(stretch.json().id, ['done', 'failed']);
    expect(b).toMatchObject({ state: 'done', done: 16, candidate: { resize: 'stretch' } });
    const listed = (await s.api!.inject({ method: 'GET', url: `/api/reinference/${b.id}/parts?only=all`, headers: integrator })).json();
    expect(listed.total).toBe(16);
    const disagree = listed.items.filter(
      (p: { production: { verdict: string }; candidate: { verdict: string } }) => p.production.verdict !== p.candidate.verdict,
    ).length;
    expect(b.comparison.disagree).toBe(disagree);
    expect((await s.api!.inject({ method: 'GET', url: `/api/reinference/${b.id}/parts`, headers: integrator })).json().total).toBe(disagree);
    // Kept apart: the line's records are untouched.
    expect(await s.db.inspection.count()).toBe(16);
    expect(await s.db.reinferenceResult.count()).toBe(32);
  });

  it('runs another model family on the same parts, can be cancelled, and refuses what it cannot run', async () => {
    const started = await s.api!.inject({
      method: 'POST',
      url: '/api/reinference',
      headers: integrator,
      payload: { model: 'magnetic-tile.onnx', thresholds: { anomalyScore: 0.5 } },
    });
    expect(started.statusCode).toBe(202);
    const cancelled = await s.api!.inject({ method: 'POST', url: `/api/reinference/${started.json().id}/cancel`, headers: integrator });
    expect(cancelled.statusCode).toBe(200);
    expect(['cancelled', 'done']).toContain(cancelled.json().state);
    const again = await s.api!.inject({
      method: 'POST',
      url: '/api/reinference',
      headers: integrator,
      payload: { model: 'magnetic-tile.onnx', thresholds: {} },
    });
    const j = await until(again.json().id, ['done', 'failed']);
    expect(j).toMatchObject({ state: 'done', done: 16, candidate: { family: 'anomalib-v2' }, comparison: { parts: 16 } });

    for (const [payload, status, code] of [
      [{ model: '../plate-defects.onnx' }, 400, 'STN_ERR_HTTP_BAD_REQUEST'],
      [{ model: 'nope.onnx' }, 404, 'STN_ERR_MODEL_NOT_FOUND'],
      [{ model: 'plate-defects.onnx', thresholds: { classes: { rust: { minScore: 0.5 } } } }, 400, 'STN_ERR_RECIPE_CLASS'],
    ] as const) {
      const r = await s.api!.inject({ method: 'POST', url: '/api/reinference', headers: integrator, payload });
      expect([r.statusCode, r.json().code]).toEqual([status, code]);
    }
    const viewer = await userWithRole(s, 'viewer');
    expect((await s.api!.inject({ method: 'POST', url: '/api/reinference', headers: viewer, payload: {} })).statusCode).toBe(403);
  });
});
