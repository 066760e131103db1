import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { extract } from 'tar';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { PartGenerator } from '../src/capture/index.js';
import type { Station } from '../src/main.js';
import { SHIPPED_MODEL } from '../src/paths.js';
import { login, push, startTestStation, userWithRole } from './helpers/station.js';
import { tmpDir } from './helpers/tmp.js';

let running: Station | null = null;
afterEach(async () => {
  await running?.stop();
  running = null;
});

const ADMIN_PW = 'admin-password-for-tests';

async function station(): Promise<Station> {
  running = await startTestStation({ sources: [{ name: 'push', uri: 'http:' }], recipe: { keepGood: 1 }, adminPassword: ADMIN_PW });
  return running;
}

/** A defective synthetic part as PNG, and its true class. */
async function defectivePart(index = 12) {
  const p = new PartGenerator({ seed: 3, defectRate: 1 }).part(index);
  return {
    png: await sharp(p.image.data, { raw: { width: 512, height: 384, channels: 1 } })
      .png()
      .toBuffer(),
    cls: p.truth.defects[0].class,
  };
}

describe('users, roles and sessions', () => {
  it('logs in with the right password only, and rate-limits guessing', async () => {
    const s = await station();
    expect((await login(s, 'admin', 'wrong')).status).toBe(401);
    expect((await login(s, 'nobody', 'wrong')).status).toBe(401);
    const ok = await login(s, 'admin', ADMIN_PW);
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ username: 'admin', role: 'admin', token: expect.any(String), csrfToken: expect.any(String) });
    expect(ok.cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await login(s, 'admin', `guess-${i}`)).status);
    expect(statuses).toContain(429);
    // The password is stored as a scrypt hash, never as given.
    const row = await s.db.user.findUnique({ where: { username: 'admin' } });
    expect(row!.passwordHash).toMatch(/^scrypt\$/);
    expect(row!.passwordHash).not.toContain(ADMIN_PW);
  });

  it('refuses anonymous reads and writes (401) and writes above a role (403)', async () => {
    const s = await station();
    expect((await s.api!.inject({ method: 'GET', url: '/api/inspections' })).statusCode).toBe(401);
    expect((await s.api!.inject({ method: 'PUT', url: '/api/recipes/plate/thresholds', payload: { thresholds: {}, reason: 'x y z' } })).statusCode).toBe(401);
    const viewer = await userWithRole(s, 'viewer');
    expect((await s.api!.inject({ method: 'GET', url: '/api/recipes', headers: viewer })).statusCode).toBe(200);
    const put = await s.api!.inject({
      method: 'PUT',
      url: '/api/recipes/plate/thresholds',
      headers: viewer,
      payload: { thresholds: { default: { minScore: 0.6 } }, reason: 'tighten' },
    });
    expect(put.statusCode).toBe(403);
    expect(put.json().code).toBe('STN_ERR_HTTP_FORBIDDEN');
    expect(
      (await s.api!.inject({ method: 'POST', url: '/api/users', headers: viewer, payload: { username: 'x', role: 'admin', password: 'long-enough' } }))
        .statusCode,
    ).toBe(403);
  });

  it('refuses a browser write without the session CSRF token', async () => {
    const s = await station();
    const l = await login(s, 'admin', ADMIN_PW);
    const cookie = { cookie: `station_session=${l.cookie!.value}` };
    const body = { username: 'q1', role: 'quality', password: 'quality-password' };
    const without = await s.api!.inject({ method: 'POST', url: '/api/users', headers: cookie, payload: body });
    expect(without.statusCode).toBe(403);
    expect(without.json().code).toBe('STN_ERR_HTTP_CSRF');
    const withToken = await s.api!.inject({ method: 'POST', url: '/api/users', headers: { ...cookie, 'x-csrf-token': l.body.csrfToken }, payload: body });
    expect(withToken.statusCode).toBe(201);
  });

  it("keeps each user's gallery language and theme, refuses one it does not offer, and lets no one anonymous set them", async () => {
    const s = await station();
    const l = await login(s, 'admin', ADMIN_PW);
    const auth = { authorization: `Bearer ${l.body.token}` };
    const me = async () => (await s.api!.inject({ method: 'GET', url: '/api/auth/me', headers: auth })).json();
    expect(await me()).toMatchObject({ locale: null, theme: null });
    const set = await s.api!.inject({ method: 'PUT', url: '/api/auth/me/preferences', headers: auth, payload: { locale: 'de', theme: 'dark' } });
    expect(set.statusCode).toBe(200);
    expect(await me()).toMatchObject({ locale: 'de', theme: 'dark' });
    // One key at a time; null goes back to the browser's language.
    await s.api!.inject({ method: 'PUT', url: '/api/auth/me/preferences', headers: auth, payload: { locale: null } });
    expect(await me()).toMatchObject({ locale: null, theme: 'dark' });
    expect((await s.api!.inject({ method: 'PUT', url: '/api/auth/me/preferences', headers: auth, payload: { locale: 'xx' } })).statusCode).toBe(400);
    expect((await s.api!.inject({ method: 'PUT', url: '/api/auth/me/preferences', headers: auth, payload: { theme: 'pink' } })).statusCode).toBe(400);
    expect((await s.api!.inject({ method: 'PUT', url: '/api/auth/me/preferences', payload: { theme: 'light' } })).statusCode).toBe(401);
  });

  it('shows an API key once, keeps only its hash, and honours its revocation', async () => {
    const s = await station();
    const admin = { authorization: `Bearer ${(await login(s, 'admin', ADMIN_PW)).body.token}` };
    const created = await s.api!.inject({ method: 'POST', url: '/api/keys', headers: admin, payload: { name: 'line-mes', role: 'viewer' } });
    expect(created.statusCode).toBe(201);
    const { key, id } = created.json();
    const row = await s.db.apiKey.findUnique({ where: { id } });
    expect(row!.keyHash).toBe(createHash('sha256').update(key).digest('hex'));
    expect(JSON.stringify(row)).not.toContain(key);
    const auth = { authorization: `Bearer ${key}` };
    expect((await s.api!.inject({ method: 'GET', url: '/api/inspections', headers: auth })).statusCode).toBe(200);
    expect((await s.api!.inject({ method: 'DELETE', url: `/api/keys/${id}`, headers: admin })).statusCode).toBe(200);
    expect((await s.api!.inject({ method: 'GET', url: '/api/inspections', headers: auth })).statusCode).toBe(401);
  });
});

describe('recipes and thresholds', () => {
  it('a threshold change is a new audited version that reaches the running line at the next frame; a rollback restores it', async () => {
    const s = await station();
    const integrator = await userWithRole(s, 'integrator');
    const { png, cls } = await defectivePart();

    const before = await push(s, integrator, png);
    expect(before.verdict).toBe('fail');
    const top = before.defects.find((d) => d.class === cls)!;

    // Require more than the top score for every class: the same part now passes.
    const strict = Math.min(1, Math.ceil(Math.max(...before.defects.map((d) => d.score)) * 1000) / 1000 + 0.001);
    const put = await s.api!.inject({
      method: 'PUT',
      url: '/api/recipes/plate/thresholds',
      headers: integrator,
      payload: { thresholds: { default: { minScore: strict } }, reason: 'trial: fewer false rejects' },
    });
    expect(put.statusCode).toBe(200);
    expect(put.json()).toMatchObject({ version: 2, previous: 1 });
    expect(top.score).toBeLessThan(strict);
    expect((await push(s, integrator, png)).verdict).toBe('pass');

    const versions = (await s.api!.inject({ method: 'GET', url: '/api/recipes/plate/versions', headers: integrator })).json().items;
    expect(versions.map((v: { version: number }) => v.version)).toEqual([2, 1]);
    expect(versions[0]).toMatchObject({ author: 'integrator (session)', reason: 'trial: fewer false rejects' });

    const rb = await s.api!.inject({ method: 'POST', url: '/api/recipes/plate/rollback', headers: integrator, payload: { version: 1 } });
    expect(rb.statusCode).toBe(200);
    expect(rb.json()).toMatchObject({ version: 3, previous: 2 });
    expect((await push(s, integrator, png)).verdict).toBe('fail');

    const audit = (await s.api!.inject({ method: 'GET', url: '/api/audit', headers: integrator })).json().items;
    expect(audit.map((a: { action: string }) => a.action).slice(0, 2)).toEqual(['recipe.rollback', 'recipe.thresholds']);
    // Each inspection names the version that decided it.
    await s.recorder.flush();
    const rows = await s.db.inspection.findMany({ orderBy: { id: 'asc' }, include: { recipeVersion: true } });
    expect(rows.map((r) => [r.verdict, r.recipeVersion?.version])).toEqual([
      ['fail', 1],
      ['pass', 2],
      ['fail', 3],
    ]);
  });

  it('refuses thresholds for a class the model does not know, and malformed values', async () => {
    const s = await station();
    const integrator = await userWithRole(s, 'integrator');
    const unknown = await s.api!.inject({
      method: 'PUT',
      url: '/api/recipes/plate/thresholds',
      headers: integrator,
      payload: { thresholds: { classes: { rust: { minScore: 0.5 } } }, reason: 'new class' },
    });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().code).toBe('STN_ERR_RECIPE_CLASS');
    const range = await s.api!.inject({
      method: 'PUT',
      url: '/api/recipes/plate/thresholds',
      headers: integrator,
      payload: { thresholds: { default: { minScore: 1.5 } }, reason: 'too high' },
    });
    expect(range.statusCode).toBe(400);
    const nope = await s.api!.inject({ method: 'PUT', url: '/api/recipes/nope/thresholds', headers: integrator, payload: { thresholds: {}, reason: 'none' } });
    expect(nope.statusCode).toBe(404);
    for (const url of ['/api/inspections/abc', '/api/inspections/-1/image', '/api/inspections/1/image?variant=../../etc/passwd']) {
      const r = await s.api!.inject({ method: 'GET', url, headers: integrator });
      expect(r.statusCode).toBe(400);
    }
  });
});

describe("the recipe page's model card and evaluations", () => {
  it("serves the shipped model's card and its saved held-out evaluation with the cost of each threshold", async () => {
    const s = await station();
    const viewer = await userWithRole(s, 'viewer');
    expect((await s.api!.inject({ method: 'GET', url: '/api/recipes/plate/model' })).statusCode).toBe(401);
    const r = await s.api!.inject({ method: 'GET', url: '/api/recipes/plate/model', headers: viewer });
    expect(r.statusCode).toBe(200);
    const docs = r.json();
    expect(docs).toMatchObject({ name: 'plate-defects', family: 'yolo-detect', problems: [] });
    expect(docs.card.html).toContain('<h1>');
    expect(docs.reports).toHaveLength(1);
    const rep = docs.reports[0];
    expect(rep).toMatchObject({ current: true, dataset: { good: 693, defective: 307 }, summary: { images: 1000 } });
    // The saved points agree with the saved summary: at zero escapes, the stated false-reject rate.
    const full = rep.operatingPoints.filter((p: { recall: number }) => p.recall === 1).at(0);
    expect(full.frr).toBe(rep.summary.frrAtFullRecall);
    expect((await s.api!.inject({ method: 'GET', url: '/api/recipes/nope/model', headers: viewer })).json().code).toBe('STN_ERR_RECIPE_UNKNOWN');
  });

  it('shows card HTML escaped, flags a report made for another build, and reports unreadable files without failing', async () => {
    const dir = tmpDir();
    const model = path.join(dir, 'm.onnx');
    writeFileSync(model, readFileSync(SHIPPED_MODEL));
    const manifest = JSON.parse(readFileSync(SHIPPED_MODEL.replace(/\.onnx$/, '.manifest.json'), 'utf8'));
    const report = JSON.parse(readFileSync(path.join(path.dirname(SHIPPED_MODEL), manifest.reports[0]), 'utf8'));
    writeFileSync(path.join(dir, 'card.md'), '# Card\n\n<script>alert(1)</script> [bad](javascript:alert(1)) **bold**\n');
    writeFileSync(path.join(dir, 'old.json'), JSON.stringify({ ...report, model: { ...report.model, sha256: '0'.repeat(64) } }));
    writeFileSync(
      path.join(dir, 'm.manifest.json'),
      JSON.stringify({ ...manifest, card: 'card.md', reports: ['old.json', 'gone.json', '../m.manifest.json'] }),
    );
    running = await startTestStation({ sources: [{ name: 'push', uri: 'http:' }], recipe: { model }, adminPassword: ADMIN_PW });
    const viewer = await userWithRole(running, 'viewer');
    const docs = (await running.api!.inject({ method: 'GET', url: '/api/recipes/plate/model', headers: viewer })).json();
    expect(docs.card.html).toContain('&lt;script&gt;');
    expect(docs.card.html).not.toContain('<script>');
    expect(docs.card.html).not.toContain('href="javascript:');
    expect(docs.card.html).toContain('<strong>bold</strong>');
    expect(docs.reports.map((r: { file: string; current: boolean }) => [r.file, r.current])).toEqual([['old.json', false]]);
    expect(docs.problems).toEqual(['gone.json: missing', '../m.manifest.json: must be a file name beside the manifest']);
  });
});

describe('reviews and statistics', () => {
  it('keeps who reviewed what and when, and a false-reject review changes the statistics', async () => {
    const s = await station();
    const quality = await userWithRole(s, 'quality');
    const viewer = await userWithRole(s, 'viewer');
    const integrator = await userWithRole(s, 'integrator');
    const { png, cls } = await defectivePart();
    await push(s, integrator, png);
    await s.recorder.flush();
    const [insp] = (await s.api!.inject({ method: 'GET', url: '/api/inspections?verdict=fail', headers: viewer })).json().items;

    const pareto = (await s.api!.inject({ method: 'GET', url: '/api/stats/pareto', headers: viewer })).json();
    expect(pareto.classes[0]).toMatchObject({ class: cls, count: expect.any(Number), cumulative: expect.any(Number) });
    expect(pareto.classes.at(-1).cumulative).toBe(1);
    const before = (await s.api!.inject({ method: 'GET', url: '/api/stats/yield?bucket=day', headers: viewer })).json().buckets[0];
    expect(before).toMatchObject({ parts: 1, fail: 1, yield: 0, falseRejects: 0, reviewedYield: 0 });

    expect(
      (await s.api!.inject({ method: 'POST', url: `/api/inspections/${insp.id}/review`, headers: viewer, payload: { label: 'false_reject' } })).statusCode,
    ).toBe(403);
    expect(
      (await s.api!.inject({ method: 'POST', url: `/api/inspections/${insp.id}/review`, headers: quality, payload: { label: 'escape' } })).statusCode,
    ).toBe(400);
    const review = await s.api!.inject({
      method: 'POST',
      url: `/api/inspections/${insp.id}/review`,
      headers: quality,
      payload: { label: 'false_reject', note: 'reflection, not a defect' },
    });
    expect(review.statusCode).toBe(201);
    expect(review.json()).toMatchObject({ label: 'false_reject', by: 'quality' });

    const after = (await s.api!.inject({ method: 'GET', url: '/api/stats/yield?bucket=day', headers: viewer })).json().buckets[0];
    expect(after).toMatchObject({ parts: 1, fail: 1, falseRejects: 1, reviewedYield: 1 });
    const detail = (await s.api!.inject({ method: 'GET', url: `/api/inspections/${insp.id}`, headers: viewer })).json();
    expect(detail.reviews).toEqual([
      expect.objectContaining({ label: 'false_reject', by: 'quality', note: 'reflection, not a defect', at: expect.any(String) }),
    ]);
  });

  it('a label said twice makes one review; an escape only on a passed part and only with a class of the model', async () => {
    const s = await station();
    const quality = await userWithRole(s, 'quality');
    const integrator = await userWithRole(s, 'integrator');
    const { png } = await defectivePart();
    const good = await sharp({ create: { width: 640, height: 480, channels: 3, background: { r: 128, g: 128, b: 128 } } })
      .png()
      .toBuffer();
    await push(s, integrator, png);
    await push(s, integrator, good);
    await s.recorder.flush();
    const items = (await s.api!.inject({ method: 'GET', url: '/api/inspections', headers: quality })).json().items as { id: number; verdict: string }[];
    const failed = items.find((i) => i.verdict === 'fail')!;
    const passed = items.find((i) => i.verdict === 'pass')!;
    const review = (id: number, payload: object) => s.api!.inject({ method: 'POST', url: `/api/inspections/${id}/review`, headers: quality, payload });
    const count = (id: number) => s.db.review.count({ where: { inspectionId: id } });

    // `c` pressed twice: the second adds nothing and answers the current review.
    const first = await review(failed.id, { label: 'confirmed' });
    expect(first.statusCode).toBe(201);
    const again = await review(failed.id, { label: 'confirmed' });
    expect(again.statusCode).toBe(200);
    expect(again.json().id).toBe(first.json().id);
    expect(await count(failed.id)).toBe(1);
    // A note is something new: it is kept as a review of its own.
    expect((await review(failed.id, { label: 'confirmed', note: 'seen under the microscope' })).statusCode).toBe(201);
    expect(await count(failed.id)).toBe(2);

    // An escape on a rejected part, a false reject on a passed one: refused, nothing recorded.
    for (const [id, payload] of [
      [failed.id, { label: 'escape', class: 'scratch' }],
      [passed.id, { label: 'false_reject' }],
    ] as const) {
      const r = await review(id, payload);
      expect(r.statusCode).toBe(400);
      expect(r.json().code).toBe('STN_ERR_REVIEW_LABEL');
    }
    expect(await count(passed.id)).toBe(0);
    // A misspelt class, or a plain name the model does not know: refused.
    for (const cls of ['scrach', 'new_defect']) {
      const r = await review(passed.id, { label: 'escape', class: cls });
      expect(r.statusCode, cls).toBe(400);
      expect(r.json().code, cls).toBe('STN_ERR_REVIEW_CLASS');
    }
    expect((await review(passed.id, { label: 'escape', class: 'scratch' })).statusCode).toBe(201);
    expect(await count(passed.id)).toBe(1);
  });
});

describe('review at volume: undo and bulk', () => {
  it("undo takes back the part's latest review only: its label goes back to the one before, or to unreviewed, in the filters and the statistics; the audit keeps it", async () => {
    const s = await station();
    const quality = await userWithRole(s, 'quality');
    const integrator = await userWithRole(s, 'integrator');
    const { png } = await defectivePart(21);
    await push(s, integrator, png);
    await s.recorder.flush();
    const [part] = (await s.api!.inject({ method: 'GET', url: '/api/inspections?verdict=fail', headers: quality })).json().items as { id: number }[];
    const review = (payload: object) => s.api!.inject({ method: 'POST', url: `/api/inspections/${part.id}/review`, headers: quality, payload });
    const undo = (reviewId: number) => s.api!.inject({ method: 'DELETE', url: `/api/inspections/${part.id}/reviews/${reviewId}`, headers: quality });
    const unreviewed = async () =>
      ((await s.api!.inject({ method: 'GET', url: '/api/inspections?reviewed=false', headers: quality })).json().items as { id: number }[]).some(
        (i) => i.id === part.id,
      );
    const falseRejects = async () =>
      ((await s.api!.inject({ method: 'GET', url: '/api/stats/yield?bucket=day', headers: quality })).json().buckets as { falseRejects: number }[]).reduce(
        (n, b) => n + b.falseRejects,
        0,
      );
    const confirmed = (await review({ label: 'confirmed' })).json();
    const wrong = (await review({ label: 'false_reject' })).json();
    expect(await falseRejects()).toBe(1);
    // Not the latest: refused, nothing changes.
    const stale = await undo(confirmed.id);
    expect(stale.statusCode).toBe(409);
    expect(stale.json().code).toBe('STN_ERR_REVIEW_UNDO');
    // The mistaken false reject undone: the part is confirmed again, and no longer counted as a false reject.
    const back = await undo(wrong.id);
    expect(back.statusCode).toBe(200);
    expect(back.json().current).toMatchObject({ id: confirmed.id, label: 'confirmed', by: 'quality' });
    expect(await falseRejects()).toBe(0);
    const listed = (await s.api!.inject({ method: 'GET', url: '/api/inspections?verdict=fail', headers: quality })).json().items[0];
    expect(listed.review).toEqual({ label: 'confirmed', class: null });
    // Undone again: unreviewed everywhere.
    expect((await undo(confirmed.id)).json()).toEqual({ current: null });
    expect(await unreviewed()).toBe(true);
    expect((await undo(confirmed.id)).statusCode).toBe(409);
    const audit = await s.db.auditLog.findMany({ where: { action: 'review-undo', target: String(part.id) }, orderBy: { id: 'asc' } });
    expect(audit.map((a) => (a.details as { label: string }).label)).toEqual(['false_reject', 'confirmed']);
    // A viewer may not undo.
    const viewer = await userWithRole(s, 'viewer');
    expect((await s.api!.inject({ method: 'DELETE', url: `/api/inspections/${part.id}/reviews/1`, headers: viewer })).statusCode).toBe(403);
  });

  it('reviews a selection at once, each part checked as alone: the ones the label does not fit are refused with their code, the rest reviewed', async () => {
    const s = await station();
    const quality = await userWithRole(s, 'quality');
    const integrator = await userWithRole(s, 'integrator');
    for (const i of [31, 32, 33]) await push(s, integrator, (await defectivePart(i)).png);
    const good = await sharp({ create: { width: 640, height: 480, channels: 3, background: { r: 128, g: 128, b: 128 } } })
      .png()
      .toBuffer();
    await push(s, integrator, good);
    await s.recorder.flush();
    const items = (await s.api!.inject({ method: 'GET', url: '/api/inspections', headers: quality })).json().items as { id: number; verdict: string }[];
    const failed = items.filter((i) => i.verdict === 'fail').map((i) => i.id);
    const passed = items.find((i) => i.verdict === 'pass')!.id;
    expect(failed).toHaveLength(3);
    await s.api!.inject({ method: 'POST', url: `/api/inspections/${failed[0]}/review`, headers: quality, payload: { label: 'false_reject' } });
    const bulk = (payload: object) => s.api!.inject({ method: 'POST', url: '/api/reviews/bulk', headers: quality, payload });
    const r = await bulk({ ids: [...failed, passed, 99_999_999], label: 'false_reject', note: 'lighting fault on the line' });
    expect(r.statusCode).toBe(200);
    // A note is something new: each failed part gets its review, the one already so labelled too.
    expect(r.json()).toMatchObject({ created: 3, unchanged: 0 });
    expect(r.json().refused).toEqual([
      { id: passed, code: 'STN_ERR_REVIEW_LABEL', message: expect.stringContaining('was passed') },
      { id: 99_999_999, code: 'STN_ERR_HTTP_NOT_FOUND', message: expect.any(String) },
    ]);
    expect(await s.db.review.count({ where: { inspectionId: passed } })).toBe(0);
    // Without a note, parts already so labelled are unchanged.
    expect((await bulk({ ids: failed, label: 'false_reject' })).json()).toMatchObject({ created: 0, unchanged: 3, refused: [] });
    // Bounded, and checked like a single review.
    expect((await bulk({ ids: Array.from({ length: 501 }, (_, i) => i + 1), label: 'confirmed' })).statusCode).toBe(400);
    expect((await bulk({ ids: [passed], label: 'escape' })).statusCode).toBe(400);
    expect((await bulk({ ids: [passed], label: 'escape', class: 'scrach' })).json().refused[0].code).toBe('STN_ERR_REVIEW_CLASS');
  });
});

describe('downloads and datasets', () => {
  it('exports reviewed images with labels as an archive, and the records as CSV', async () => {
    const s = await station();
    const integrator = await userWithRole(s, 'integrator');
    const quality = await userWithRole(s, 'quality');
    const a = await defectivePart(12);
    const b = await defectivePart(13);
    const good = new PartGenerator({ seed: 3, defectRate: 0 }).part(5);
    const goodPng = await sharp(good.image.data, { raw: { width: 512, height: 384, channels: 1 } })
      .png()
      .toBuffer();
    for (const png of [a.png, b.png, goodPng]) await push(s, integrator, png);
    await s.recorder.flush();
    const items = (await s.api!.inject({ method: 'GET', url: '/api/inspections', headers: quality })).json().items as { id: number; verdict: string }[];
    const [goodRow, bRow, aRow] = items;
    expect([aRow.verdict, bRow.verdict, goodRow.verdict]).toEqual(['fail', 'fail', 'pass']);
    const review = (id: number, payload: object) => s.api!.inject({ method: 'POST', url: `/api/inspections/${id}/review`, headers: quality, payload });
    expect((await review(aRow.id, { label: 'confirmed' })).statusCode).toBe(201);
    expect((await review(bRow.id, { label: 'false_reject' })).statusCode).toBe(201);
    expect((await review(goodRow.id, { label: 'escape', class: 'scratch', box: [10, 20, 60, 40] })).statusCode).toBe(201);

    const csv = await s.api!.inject({ method: 'GET', url: '/api/inspections.csv', headers: quality });
    expect(csv.headers['content-type']).toMatch(/text\/csv/);
    const lines = csv.body.trim().split('\n');
    expect(lines[0]).toBe('id,station,partSeq,capturedAt,verdict,errorCode,recipe,maxScore,defectCount,classes,latencyMs,partId,lot,code,review');
    expect(lines).toHaveLength(4);
    // Each row ends with the part's current label.
    expect(
      lines
        .slice(1)
        .map((l) => l.split(',').at(-1))
        .sort(),
    ).toEqual(['confirmed', 'escape:scratch', 'false_reject']);
    const hist = (await s.api!.inject({ method: 'GET', url: '/api/stats/scores?bins=10', headers: quality })).json();
    expect(hist.edges).toHaveLength(11);
    expect(hist.classes.find((c: { class: string }) => c.class === a.cls).rejecting.reduce((x: number, y: number) => x + y, 0)).toBeGreaterThan(0);

    const started = await s.api!.inject({ method: 'POST', url: '/api/exports', headers: quality, payload: { layout: 'ultralytics' } });
    expect(started.statusCode).toBe(202);
    let job = started.json();
    for (let i = 0; i < 100 && job.state === 'running'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      job = (await s.api!.inject({ method: 'GET', url: `/api/exports/${job.id}`, headers: quality })).json();
    }
    expect(job).toMatchObject({ state: 'done', done: 3, total: 3 });
    const archive = await s.api!.inject({ method: 'GET', url: `/api/exports/${job.id}/archive`, headers: quality });
    expect(archive.statusCode).toBe(200);
    const dir = tmpDir();
    const file = path.join(dir, 'd.tar.gz');
    writeFileSync(file, archive.rawPayload);
    await extract({ file, cwd: dir });
    const labelOf = (id: number) => readFileSync(path.join(dir, 'labels', `insp_${id}.txt`), 'utf8');
    const names = readFileSync(path.join(dir, 'data.yaml'), 'utf8');
    expect(names).toContain(`: ${a.cls}`);
    // Confirmed reject: the station's boxes; false reject: background; escape: the reviewer's box.
    expect(labelOf(aRow.id).trim().split('\n').length).toBeGreaterThan(0);
    expect(labelOf(bRow.id)).toBe('');
    const [cls, cx, cy, w, h] = labelOf(goodRow.id).trim().split(' ').map(Number);
    expect(names).toContain(`${cls}: scratch`);
    expect([cx, cy, w, h].map((v) => Math.round(v * 1000))).toEqual([68, 78, 98, 52]);
    expect(readdirSync(path.join(dir, 'images')).sort()).toEqual(
      [aRow.id, bRow.id, goodRow.id]
        .sort((x, y) => x - y)
        .map((id) => `insp_${id}.png`)
        .sort(),
    );
  });
});

describe('transport security', () => {
  it('serves HTTPS when configured, with Secure session cookies, and nothing in clear text', async () => {
    const dir = tmpDir();
    const { execFileSync } = await import('node:child_process');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        path.join(dir, 'key.pem'),
        '-out',
        path.join(dir, 'cert.pem'),
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    running = await startTestStation({
      sources: [{ name: 'push', uri: 'http:' }],
      adminPassword: ADMIN_PW,
      http: { tls: { cert: path.join(dir, 'cert.pem'), key: path.join(dir, 'key.pem') } },
    });
    expect(running.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const https = await import('node:https');
    const ca = readFileSync(path.join(dir, 'cert.pem'));
    const call = (method: string, p: string, body?: object) =>
      new Promise<{ status: number; headers: Record<string, unknown>; text: string }>((resolve, reject) => {
        const req = https.request(`${running!.url}${p}`, { method, ca, headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
        });
        req.on('error', reject);
        req.end(body ? JSON.stringify(body) : undefined);
      });
    expect((await call('GET', '/api/health')).status).toBe(200);
    const l = await call('POST', '/api/auth/login', { username: 'admin', password: ADMIN_PW });
    expect(l.status).toBe(200);
    expect(String(l.headers['set-cookie'])).toMatch(/station_session=.*; Secure/);
    // Plain HTTP on the same port gets no answer an attacker could read.
    const http = await import('node:http');
    const plain = await new Promise<string>((resolve) => {
      const req = http.get(running!.url!.replace('https:', 'http:') + '/api/health', (res) => resolve(`status ${res.statusCode}`));
      req.on('error', (e) => resolve(`error ${(e as NodeJS.ErrnoException).code}`));
      req.setTimeout(3000, () => {
        req.destroy();
        resolve('timeout');
      });
    });
    expect(plain).not.toBe('status 200');
  });
});
