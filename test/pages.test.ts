/**
 * Every page of the gallery, in real Chromium, the way the issue #20 audit used it: at 1440 × 900 and
 * at 390 × 844 (a phone), in the light and the dark theme. On each: axe-core finds no serious or
 * critical WCAG 2.1 A/AA violation, the page does not scroll sideways, and nothing was left failing
 * in the unexpected-problem banner.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Station } from '../src/main.js';
import { describeViolations, haveBrowser, horizontalOverflow, launchBrowser, loggedInPage, seriousA11yViolations, warnIfNoBrowser } from './helpers/browser.js';
import { startTestStation } from './helpers/station.js';

warnIfNoBrowser('every-page tests');
const PASSWORD = 'pages-admin-password';
const LOT = 'LOT-PAGES-1';
let station: Station | null = null;
let browser: Browser | null = null;
let failedId = 0;

/** The pages, each with what shows that it has loaded. */
function pages(): { name: string; hash: string; ready: string }[] {
  return [
    { name: 'gallery', hash: '#/', ready: '[data-testid="card"]' },
    { name: 'detail', hash: `#/inspection/${failedId}`, ready: '[role="dialog"] h2' },
    { name: 'statistics', hash: '#/stats', ready: 'main h2' },
    { name: 'recipes', hash: '#/recipes', ready: 'main h2' },
    { name: 'what-if', hash: '#/whatif', ready: 'main h2' },
    { name: 'lot', hash: `#/lot/${LOT}`, ready: 'main h2' },
    { name: 'shift report', hash: '#/shift', ready: '[data-testid="shift-parts"]' },
    { name: 'line screen', hash: '#/andon', ready: '[data-testid="andon-reject"]' },
  ];
}

async function open(page: Page, hash: string, ready: string): Promise<void> {
  await page.goto(`${station!.url}${hash}`);
  await page
    .locator(ready)
    .first()
    .waitFor({ timeout: 15_000 })
    .catch((e: Error) => {
      throw new Error(`${hash}: ${ready} never showed (${e.message.split('\n')[0]})`);
    });
  // Whatever the page still fetches has come: no "Loading…" left on it.
  await expect.poll(() => page.getByText(/^Loading…$/).count(), { timeout: 10_000 }).toBe(0);
}

describe.skipIf(!haveBrowser)('every page, on a desk and a phone, light and dark', () => {
  beforeAll(async () => {
    station = await startTestStation({
      sources: [{ name: 'line', uri: 'synthetic:?seed=21&defectRate=0.5&rate=0&count=16' }],
      adminPassword: PASSWORD,
    });
    await station.line.whenIdle();
    await station.recorder.flush();
    failedId = (await station.repo.listInspections({ verdict: 'fail', limit: 1 })).items[0].id;
    // A lot of three parts from the PLC, for the lot's page.
    const at = Date.now() - 3600_000;
    const part = (k: number) => ({
      seq: 930_000 + k,
      source: 'line',
      partId: `SN-PAGES-${k}`,
      lot: LOT,
      recipe: 'plate',
      recipeVersion: 1,
      modelSha256: null,
      timestamp: at + k * 1000,
      decidedAt: at + k * 1000 + 10,
      verdict: k === 1 ? ('fail' as const) : ('pass' as const),
      reasons: [],
      defects: [],
      maxScore: 0,
      outputs: { kind: 'detections', n: 0 } as never,
      timings: { queue: 1, preprocess: 1, inference: 1, decode: 0, decision: 0, total: 3 },
    });
    await station.repo.insertInspections(
      station.config.station.id,
      [0, 1, 2].map((k) => ({ r: part(k), refs: { modelId: null, recipeVersionId: null }, images: [] })),
    );
    browser = await launchBrowser();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await station?.stop();
  });

  for (const scheme of ['light', 'dark'] as const) {
    it(`has no serious or critical axe-core violation on any page (${scheme})`, async () => {
      const page = await loggedInPage(browser!, station!.url!, { password: PASSWORD, colorScheme: scheme });
      const found: string[] = [];
      for (const p of pages()) {
        await open(page, p.hash, p.ready);
        const bg = await page.evaluate(() => {
          const g = globalThis as unknown as { document: { documentElement: unknown }; getComputedStyle(e: unknown): { backgroundColor: string } };
          return g.getComputedStyle(g.document.documentElement).backgroundColor;
        });
        // The theme really is the one asked for: a dark page has a dark background, and the reverse.
        const [r, g, b] = (bg.match(/\d+/g) ?? ['0', '0', '0']).map(Number);
        const light = 0.2126 * r + 0.7152 * g + 0.0722 * b > 128;
        if (light !== (scheme === 'light')) found.push(`${p.name}: background ${bg} in the ${scheme} theme`);
        const vs = await seriousA11yViolations(page);
        if (vs.length) found.push(`${p.name}:\n${describeViolations(vs)}`);
        if (await page.locator('.problem.banner').count()) found.push(`${p.name}: ${await page.locator('.problem.banner').textContent()}`);
      }
      expect(found.join('\n\n')).toBe('');
    }, 120_000);
  }

  it('fits a 390 × 844 phone screen on every page: nothing scrolls sideways, the log-out button is on screen', async () => {
    const page = await loggedInPage(browser!, station!.url!, { password: PASSWORD, viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const found: string[] = [];
    for (const p of pages()) {
      await open(page, p.hash, p.ready);
      const over = await horizontalOverflow(page);
      if (over > 0) found.push(`${p.name}: ${over} px wider than the screen`);
    }
    await open(page, '#/', '[data-testid="card"]');
    const logout = await page.getByRole('button', { name: 'Log out' }).boundingBox();
    expect(logout && logout.x >= 0 && logout.x + logout.width <= 390).toBe(true);
    expect(found).toEqual([]);
  }, 120_000);
});
