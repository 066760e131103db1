import { mkdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { atThreshold } from '../src/eval/metrics.js';
import type { Station } from '../src/main.js';
import { PACKAGE_ROOT } from '../src/paths.js';
import { haveBrowser, launchBrowser, warnIfNoBrowser } from './helpers/browser.js';
import { startTestStation } from './helpers/station.js';

warnIfNoBrowser('gallery tests');

const PASSWORD = 'gallery-admin-password';

async function logIn(page: import('playwright-core').Page) {
  await page.goto(station!.url!);
  await page.getByLabel('User').fill('admin');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
}
let browser: Browser | null = null;

/** A time as the gallery's datetime-local inputs take it: the plant's wall time to the minute (the test station's plant is UTC). */
function localMinute(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16);
}
let station: Station | null = null;

describe.skipIf(!haveBrowser)('the quality gallery in a real browser', () => {
  beforeAll(async () => {
    station = await startTestStation({ sources: [{ name: 'line', uri: 'synthetic:?seed=9&defectRate=0.5&rate=0&count=24' }], adminPassword: PASSWORD });
    await station.line.whenIdle();
    await station.recorder.flush();
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await station?.stop();
  });

  it('logs in, shows failed parts with overlays, takes a false-reject review, and the statistics follow', async () => {
    const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
    await logIn(page);

    // Failed parts, newest first, each with its thumbnail loaded.
    const cards = page.getByTestId('card');
    await cards.first().waitFor();
    const failed = await station!.db.inspection.count({ where: { verdict: 'fail' } });
    expect(failed).toBeGreaterThan(3);
    await expect.poll(() => cards.count()).toBe(failed);
    const loaded = await page
      .locator('.card img')
      .first()
      .evaluate(async (el) => {
        const img = el as unknown as { decode(): Promise<void>; naturalWidth: number };
        await img.decode();
        return img.naturalWidth;
      });
    expect(loaded).toBe(256);

    // Open one: the overlay opens, "f" marks it a false reject.
    await cards.first().click();
    const dialog = page.getByRole('dialog');
    await dialog.locator('img').waitFor();
    expect(await dialog.locator('img').getAttribute('src')).toMatch(/variant=overlay/);
    await page.keyboard.press('f');
    await expect.poll(() => page.getByRole('status').textContent()).toContain('Marked false reject');
    expect(await station!.db.review.count({ where: { label: 'false_reject' } })).toBe(1);
    // The original with the boxes drawn by the browser, rejecting ones solid.
    await page.keyboard.press('o');
    await dialog.locator('svg[aria-label="boxes"] rect.rejecting').first().waitFor();
    expect(await dialog.locator('img').getAttribute('src')).toMatch(/variant=original/);

    // The statistics page counts it, and its charts render.
    await page.keyboard.press('Escape');
    await page.getByRole('link', { name: 'Statistics' }).click();
    await expect.poll(() => page.getByTestId('false-rejects').textContent()).toBe('1');
    // The yield, the Pareto chart and one score histogram per class with findings.
    const classes = (await station!.db.defect.findMany({ distinct: ['class'], select: { class: true } })).length;
    expect(classes).toBeGreaterThan(0);
    await expect.poll(() => page.getByTestId('histograms').locator('canvas').count()).toBe(classes);
    expect(await page.locator('canvas').count()).toBe(2 + classes);
    // Each chart is an image with a name, and its numbers are there as a table: the Pareto's classes with their counts.
    expect(await page.getByTestId('chart-pareto').getAttribute('aria-label')).toBe('Defects by class (Pareto)');
    const pareto = (
      await station!.api!.inject({
        method: 'GET',
        url: '/api/stats/pareto',
        headers: { cookie: (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join('; ') },
      })
    ).json();
    const rows = await page.getByTestId('table-pareto').locator('tbody tr').allTextContents();
    expect(rows.length).toBe(pareto.classes.length);
    expect(rows[0]).toContain(`${pareto.classes[0].class}${pareto.classes[0].count}`);
    // Saved as a PNG.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('png-pareto').click()]);
    expect(download.suggestedFilename()).toBe('pareto.png');
    const png = readFileSync((await download.path())!);
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    const painted = await page
      .locator('canvas')
      .first()
      .evaluate((el) => {
        const c = el as unknown as { width: number; height: number };
        return c.width > 0 && c.height > 0;
      });
    expect(painted).toBe(true);
    mkdirSync(path.join(PACKAGE_ROOT, 'test-results'), { recursive: true });
    await page.screenshot({ path: path.join(PACKAGE_ROOT, 'test-results', 'gallery-stats.png') });
    await page.getByRole('link', { name: 'Gallery' }).click();
    await cards.first().waitFor();
    await page.screenshot({ path: path.join(PACKAGE_ROOT, 'test-results', 'gallery.png') });
  });

  it("shows the recipe's model card and what a proposed threshold would cost on its saved evaluation", async () => {
    const page = await browser!.newPage({ viewport: { width: 1280, height: 1400 } });
    await logIn(page);
    await page.getByRole('link', { name: 'Recipes' }).click();
    const recipe = page.locator('[data-recipe="plate"]');
    await recipe.getByText('Model plate-defects').waitFor();

    // The card opens; the evaluation names its data and shows both curves.
    await recipe.locator('details.card > summary').click();
    await recipe.locator('.card h1').waitFor();
    await recipe.getByText(/Evaluation on synthetic machined plates/).waitFor();
    expect(await recipe.locator('.eval canvas').count()).toBe(2);

    // The cost at the current threshold and at a proposed one, read off the saved report.
    const report = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'models', 'plate-defects.eval-heldout.json'), 'utf8'));
    const expected = (t: number) => atThreshold(report.operatingPoints, t);
    const row = (label: string) => recipe.locator('table.cost tr', { hasText: label });
    const current = expected(0.5);
    await expect.poll(() => row('current').textContent()).toContain(`(${current.caught}/307)`);
    // Strict enough that defects escape: the table says how many, before anything is applied.
    const strict = report.operatingPoints.find((p: { recall: number }) => p.recall < 0.9).threshold;
    const proposed = Math.ceil(strict * 100) / 100;
    await recipe.getByLabel('Default minimum score').fill(String(proposed));
    const then = expected(proposed);
    expect(then.caught).toBeLessThan(current.caught);
    await expect.poll(() => row('proposed').textContent()).toContain(`(${then.caught}/307)`);
    expect(await row('proposed').locator('td').last().textContent()).toBe(String(307 - then.caught));
    expect(await station!.repo.getRecipe('plate')).toMatchObject({ version: 1 });
    await page.screenshot({ path: path.join(PACKAGE_ROOT, 'test-results', 'gallery-recipe.png'), fullPage: true });
  });
  it('what-if: a slider shows the flips, escapes and false rejects it would cause, and "apply" makes a new audited version', async () => {
    const page = await browser!.newPage({ viewport: { width: 1280, height: 1400 } });
    await logIn(page);
    await page.getByRole('link', { name: 'What-if' }).click();
    const result = page.getByTestId('whatif-result');
    await result.waitFor();
    await expect.poll(() => page.getByTestId('flips').textContent()).toBe('0');

    // Raise one class's threshold to the top: every part failed on that class alone now passes.
    const before = (await station!.repo.getRecipe('plate'))!.version;
    const cls = (await station!.db.defect.findFirst({ where: { rejecting: true }, select: { class: true } }))!.class;
    await page.getByLabel(`threshold ${cls}`).evaluate((el) => {
      const input = el as unknown as { value: string; dispatchEvent(e: Event): boolean };
      input.value = '1';
      input.dispatchEvent(new Event('input', { bubbles: true }));
    });
    const thresholds = { default: { minScore: 0.5, minArea: 0, maxCount: 0 }, classes: { [cls]: { minScore: 1, minArea: 0, maxCount: 0 } } };
    const expected = await station!.api!.inject({
      method: 'POST',
      url: '/api/whatif',
      headers: {
        authorization: `Bearer ${(await station!.api!.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'admin', password: PASSWORD, tokenInBody: true } })).json().token}`,
      },
      payload: { thresholds, from: new Date(Date.now() - 7 * 86400_000).toISOString() },
    });
    const want = expected.json();
    expect(want.flips).toBeGreaterThan(0);
    await expect.poll(() => page.getByTestId('flips').textContent()).toBe(String(want.flips));
    expect(await page.getByTestId('escapes').textContent()).toBe(String(want.escapesCandidate));
    expect(await page.getByTestId('flip').count()).toBe(Math.min(60, want.flips));

    await page.getByLabel('Reason').fill('what-if: try without this class');
    await page.getByRole('button', { name: 'Apply to the line' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toContain(`version ${before + 1} is on the line`);
    const now = await station!.repo.getRecipe('plate');
    expect(now).toMatchObject({ version: before + 1, author: 'admin (session)', reason: 'what-if: try without this class' });
    expect((now!.definition as { thresholds: unknown }).thresholds).toMatchObject(thresholds);
    await page.screenshot({ path: path.join(PACKAGE_ROOT, 'test-results', 'gallery-whatif.png'), fullPage: true });
  });

  it('what-if over a window too large to answer at once runs as a job with a progress bar, then shows its result (issue #17)', async () => {
    const big = await startTestStation({
      sources: [{ name: 'line', uri: 'synthetic:?seed=3&defectRate=0.5&rate=0&count=12' }],
      adminPassword: PASSWORD,
      http: { whatIfSyncMaxParts: 5 },
    });
    try {
      await big.line.whenIdle();
      await big.recorder.flush();
      const page = await browser!.newPage({ viewport: { width: 1280, height: 1000 } });
      await page.goto(big.url!);
      await page.getByLabel('User').fill('admin');
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.getByRole('link', { name: 'What-if' }).click();
      await expect.poll(() => page.getByRole('status').textContent()).toContain('start it as a job');
      await page.getByTestId('run-job').click();
      await page.getByTestId('whatif-result').waitFor();
      await expect.poll(() => page.getByRole('status').textContent()).toContain('12 parts re-decided');
      expect(await page.getByTestId('flips').textContent()).toBe('0');
    } finally {
      await big.stop();
    }
  });

  it('works under its Content-Security-Policy without a violation, refuses to be framed by another origin, and serves /docs (issue #15, finding 3)', async () => {
    const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
    const violations: string[] = [];
    page.on('console', (m) => {
      // (The gallery asks GET /api/auth/me before the login: that 401 is expected, not a violation.)
      if (/Content Security Policy|Refused to|violates/i.test(m.text())) violations.push(m.text());
    });
    page.on('pageerror', (e) => violations.push(String(e)));
    const first = await page.goto(station!.url!);
    expect(first!.headers()['content-security-policy']).toMatch(/frame-ancestors 'none'/);
    expect(first!.headers()['x-frame-options']).toBe('DENY');
    expect(first!.headers()['x-content-type-options']).toBe('nosniff');
    expect(first!.headers()['referrer-policy']).toBe('no-referrer');

    // Every view, with its charts, images and the model card.
    await logIn(page);
    await page.getByTestId('card').first().waitFor();
    await page.getByRole('link', { name: 'Statistics' }).click();
    await page.locator('canvas').first().waitFor();
    await page.getByRole('link', { name: 'Recipes' }).click();
    const recipe = page.locator('[data-recipe="plate"]');
    await recipe.locator('details.card > summary').click();
    await recipe.locator('.card h1').waitFor();
    await page.getByRole('link', { name: 'What-if' }).click();
    await page.getByTestId('whatif-result').waitFor();

    // The OpenAPI UI, with its own policy, for a logged-in user.
    await page.goto(`${station!.url}/docs`);
    await page.locator('.swagger-ui .info .title').waitFor();
    expect(await page.locator('.swagger-ui .info .title').textContent()).toContain('Inspection station API');
    await page.locator('.opblock').first().waitFor();
    expect(violations).toEqual([]);

    // A page on another port of the same host (another origin, same site) frames the gallery.
    const attacker = http.createServer((_req, res) => res.end(`<!doctype html><iframe id="victim" src="${station!.url}/"></iframe>`));
    await new Promise<void>((r) => attacker.listen(0, '127.0.0.1', r));
    try {
      const evil = await browser!.newPage();
      const refused = new Promise<string>((resolve) => evil.on('console', (m) => /frame-ancestors|X-Frame-Options/i.test(m.text()) && resolve(m.text())));
      await evil.goto(`http://127.0.0.1:${(attacker.address() as { port: number }).port}/`);
      expect(await Promise.race([refused, new Promise<string>((r) => setTimeout(() => r('no refusal reported'), 5000))])).toMatch(/frame-ancestors 'none'/);
      const frame = evil.frames().find((f) => f !== evil.mainFrame());
      expect(frame?.url() ?? '').not.toBe(`${station!.url}/`);
      expect(await frame!.locator('#app').count()).toBe(0);
    } finally {
      attacker.close();
    }
  });
  it('the Statistics page shows the last 30 days when asked: parts recorded 20 days ago count (issue #17)', async () => {
    // Three parts recorded 20 days ago, as the recorder writes them (their hourly aggregates with them)
    const old = Date.now() - 20 * 24 * 3600 * 1000;
    const r = (k: number) => ({
      seq: 900_000 + k,
      source: 'line',
      recipe: 'plate',
      recipeVersion: 1,
      modelSha256: null,
      timestamp: old + k * 1000,
      decidedAt: old + k * 1000 + 10,
      verdict: 'pass' as const,
      reasons: [],
      defects: [],
      maxScore: 0,
      outputs: { kind: 'detections', n: 0 } as never,
      timings: { queue: 1, preprocess: 1, inference: 1, decode: 0, decision: 0, total: 3 },
    });
    await station!.repo.insertInspections(
      station!.config.station.id,
      [0, 1, 2].map((k) => ({ r: r(k), refs: { modelId: null, recipeVersionId: null }, images: [] })),
    );
    const recent = await station!.db.inspection.count({ where: { capturedAt: { gte: new Date(Date.now() - 7 * 24 * 3600 * 1000) } } });
    const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
    await logIn(page);
    await page.getByRole('link', { name: 'Statistics' }).click();
    await expect.poll(() => page.getByTestId('totals').textContent()).toContain(`parts ${recent} `);
    await page.getByTestId('window').selectOption({ label: '30 days' });
    await expect.poll(() => page.getByTestId('totals').textContent()).toContain(`parts ${recent + 3} `);

    // The gallery's time range finds the same three parts, and its CSV link downloads them.
    await page.getByRole('link', { name: 'Gallery' }).click();
    await page.getByLabel('Verdict').selectOption({ label: 'all' });
    await page.getByTestId('from').fill(localMinute(old - 60_000));
    await page.getByTestId('to').fill(localMinute(old + 3_600_000));
    await expect.poll(() => page.getByTestId('card').count()).toBe(3);
    const href = await page.getByTestId('csv').getAttribute('href');
    expect(href).toMatch(/from=.*&to=/);
    const csv = await page.evaluate(async (h) => (await fetch(h!)).text(), href);
    expect(
      csv
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(',')[2]),
    ).toEqual(['900002', '900001', '900000']);
  });
  it("finds a part by its serial whatever its verdict, and a lot's parts (issue #19)", async () => {
    const at = Date.now() - 3600_000;
    const r = (k: number, partId: string, lot: string, verdict: 'pass' | 'fail') => ({
      seq: 910_000 + k,
      source: 'line',
      partId,
      lot,
      recipe: 'plate',
      recipeVersion: 1,
      modelSha256: null,
      timestamp: at + k * 1000,
      decidedAt: at + k * 1000 + 10,
      verdict,
      reasons: [],
      defects: [],
      maxScore: 0,
      outputs: { kind: 'detections', n: 0 } as never,
      timings: { queue: 1, preprocess: 1, inference: 1, decode: 0, decision: 0, total: 3 },
    });
    const parts = [r(0, 'SN-GAL-1', 'LOT-GAL-1', 'pass'), r(1, 'SN-GAL-2', 'LOT-GAL-9', 'fail'), r(2, 'SN-GAL-3', 'LOT-GAL-9', 'pass')];
    await station!.repo.insertInspections(
      station!.config.station.id,
      parts.map((p) => ({ r: p, refs: { modelId: null, recipeVersionId: null }, images: [] })),
    );
    const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
    // The recipes (the class filter's labels) arrive while the serial is being typed: the
    // re-render they cause must not wipe it (CI once: the search went out empty).
    await page.route('**/api/recipes/*', async (route) => {
      await new Promise((r) => setTimeout(r, 1500));
      await route.continue();
    });
    await logIn(page);
    // The gallery opens on failed parts; a passed part's serial still finds it.
    await page.getByTestId('serial').fill('SN-GAL-1');
    await new Promise((r) => setTimeout(r, 2500));
    await page.getByTestId('serial').press('Enter');
    await expect.poll(() => page.getByTestId('card').allTextContents()).toEqual([expect.stringContaining('SN-GAL-1 pass')]);
    await page.getByTestId('serial').fill('');
    await page.getByTestId('serial').press('Enter');
    await page.getByTestId('lot').fill('LOT-GAL-9');
    await page.getByTestId('lot').press('Enter');
    await expect.poll(async () => (await page.getByTestId('card').allTextContents()).map((t) => /SN-GAL-\d/.exec(t)?.[0])).toEqual(['SN-GAL-3', 'SN-GAL-2']);
    await page.getByTestId('card').first().click();
    await expect.poll(() => page.locator('aside h2').textContent()).toContain('SN-GAL-3 (#910002)');
    await expect.poll(() => page.locator('aside').textContent()).toContain('lot LOT-GAL-9');
  });
  it("shows a lot's page: the API's counts, every part in pages, and a report link that answers a PDF (issue #19, genealogy)", async () => {
    const at = Date.now() - 2 * 3600_000;
    const lot = 'LOT-GAL-PAGE';
    // 60 parts, more than one page of the lot's grid: every fifth fails with a scratch.
    const parts = Array.from({ length: 60 }, (_, k) => {
      const fail = k % 5 === 0;
      return {
        seq: 920_000 + k,
        source: 'line',
        partId: `SN-LOT-${String(k).padStart(3, '0')}`,
        lot,
        recipe: 'plate',
        recipeVersion: 1,
        modelSha256: null,
        timestamp: at + k * 1000,
        decidedAt: at + k * 1000 + 10,
        verdict: fail ? ('fail' as const) : ('pass' as const),
        reasons: fail ? [{ rule: 'class', class: 'scratch', score: 0.9, limit: 0.5 }] : [],
        defects: fail ? [{ class: 'scratch', score: 0.9, rejecting: true }] : [],
        maxScore: fail ? 0.9 : 0,
        outputs: { kind: 'detections', n: 0 } as never,
        timings: { queue: 1, preprocess: 1, inference: 1, decode: 0, decision: 0, total: 3 },
      };
    });
    await station!.repo.insertInspections(
      station!.config.station.id,
      parts.map((p) => ({ r: p as never, refs: { modelId: null, recipeVersionId: null }, images: [] })),
    );
    const token = (
      await station!.api!.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'admin', password: PASSWORD, tokenInBody: true } })
    ).json().token;
    const summary = (await station!.api!.inject({ method: 'GET', url: `/api/lots/${lot}`, headers: { authorization: `Bearer ${token}` } })).json();
    expect(summary).toMatchObject({ parts: 60, pass: 48, fail: 12, uninspected: 0, rejectsByClass: [{ class: 'scratch', parts: 12, findings: 12 }] });

    // From the Lot field to the lot's page.
    const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
    await logIn(page);
    await page.getByTestId('lot').fill(lot);
    await page.getByTestId('lot').press('Enter');
    await page.getByTestId('lot-page').click();
    await expect.poll(() => page.getByTestId('lot-parts').textContent()).toBe(String(summary.parts));
    expect(await page.getByTestId('lot-pass').textContent()).toBe(String(summary.pass));
    expect(await page.getByTestId('lot-fail').textContent()).toBe(String(summary.fail));
    expect(await page.getByTestId('lot-uninspected').textContent()).toBe(String(summary.uninspected));
    expect(await page.getByTestId('lot-yield').textContent()).toBe(`${(summary.yield * 100).toFixed(2)}%`);
    expect(await page.getByTestId('lot-classes').textContent()).toContain('scratch');
    // Every part, a page at a time.
    await expect.poll(() => page.getByTestId('lot-card').count()).toBe(48);
    await page.getByTestId('lot-more').click();
    await expect.poll(() => page.getByTestId('lot-card').count()).toBe(60);
    expect((await page.getByTestId('lot-card').allTextContents()).map((t) => /SN-LOT-\d+/.exec(t)?.[0]).sort()).toEqual(parts.map((p) => p.partId).sort());
    await page.screenshot({ path: path.join(PACKAGE_ROOT, 'test-results', 'gallery-lot.png'), fullPage: true });

    // The report link answers a PDF (the browser's session, as a download would).
    const href = await page.getByTestId('report-pdf').getAttribute('href');
    const got = await page.evaluate(async (h) => {
      const r = await fetch(h!);
      const head = new Uint8Array(await r.arrayBuffer()).slice(0, 5);
      return { status: r.status, type: r.headers.get('content-type'), head: String.fromCharCode(...head) };
    }, href);
    expect(got).toEqual({ status: 200, type: 'application/pdf', head: '%PDF-' });

    // A part's detail links back to its lot's page.
    await page.getByTestId('lot-card').first().click();
    await page.getByTestId('lot-link').click();
    await expect.poll(() => page.locator('.lot h2').textContent()).toBe(`Lot ${lot}`);
  });

  it('offers only the reviews that fit the verdict, makes one review of a key pressed twice, and takes an escape class from the model', async () => {
    const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
    await logIn(page);
    await page.locator('header nav').waitFor();
    const reviewed = new Set((await station!.db.review.findMany({ select: { inspectionId: true } })).map((r) => r.inspectionId));
    const rows = await station!.db.inspection.findMany({ select: { id: true, verdict: true }, orderBy: { id: 'asc' } });
    const failed = rows.find((r) => r.verdict === 'fail' && !reviewed.has(r.id))!;
    const passed = rows.find((r) => r.verdict === 'pass' && !reviewed.has(r.id))!;
    const dialog = page.getByRole('dialog');

    // A rejected part: confirm or false reject, no escape; "c" twice is one review.
    await page.goto(`${station!.url}#/inspection/${failed.id}`);
    await dialog.getByRole('button', { name: 'Confirm (c)' }).waitFor();
    expect(await dialog.getByRole('button', { name: 'Escape (e)' }).count()).toBe(0);
    await page.keyboard.press('c');
    await expect.poll(() => dialog.getByTestId('reviewed').textContent()).toBe('reviewed: confirmed by admin');
    await page.keyboard.press('c');
    await expect.poll(() => dialog.getByRole('status').textContent()).toBe('Already confirmed: nothing added');
    expect(await station!.db.review.count({ where: { inspectionId: failed.id } })).toBe(1);

    // A passed part: no false reject; "e" asks for the class among the model's labels, with a note.
    await page.goto(`${station!.url}#/inspection/${passed.id}`);
    await dialog.getByRole('button', { name: 'Confirm (c)' }).waitFor();
    // The dialog shows the passed part (not still the rejected one it showed before): no false reject.
    await expect.poll(() => dialog.getByTestId('reviewed').count()).toBe(0);
    await expect.poll(() => dialog.getByRole('button', { name: 'False reject (f)' }).count()).toBe(0);
    await dialog.getByLabel('Note (optional)').fill('found at the customer');
    await dialog.getByRole('button', { name: 'Escape (e)' }).click();
    const select = dialog.getByTestId('escape-form').getByLabel('Class of the defect the station missed');
    await expect.poll(async () => (await select.locator('option').allTextContents()).length).toBeGreaterThan(1);
    const cls = (await select.locator('option').allTextContents())[1];
    await select.selectOption(cls);
    await dialog.getByRole('button', { name: 'Mark escape' }).click();
    await expect.poll(() => dialog.getByTestId('reviewed').textContent()).toBe(`reviewed: escape (${cls}) by admin`);
    expect(await station!.db.review.findMany({ where: { inspectionId: passed.id }, select: { label: true, class: true, note: true } })).toEqual([
      { label: 'escape', class: cls, note: 'found at the customer' },
    ]);
  });
});
