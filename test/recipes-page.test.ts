import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Station } from '../src/main.js';
import { haveBrowser, launchBrowser, loggedInPage, warnIfNoBrowser } from './helpers/browser.js';
import { startTestStation } from './helpers/station.js';

warnIfNoBrowser('recipes page tests');

const PASSWORD = 'recipes-page-admin-password';
let browser: Browser | null = null;
let station: Station | null = null;
const within = { timeout: 15_000 };

describe.skipIf(!haveBrowser)('the recipes and what-if pages in a real browser', () => {
  beforeAll(async () => {
    station = await startTestStation({
      sources: [{ name: 'line', uri: 'synthetic:?seed=5&defectRate=0.5&rate=0&count=8' }],
      adminPassword: PASSWORD,
      recipe: { keepGood: 1 },
    });
    await station.recorder.flush();
    await station.line.whenIdle();
    browser = await launchBrowser();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await station?.stop();
  });

  it('asks before a threshold or a rollback goes to the line, lists each version with its thresholds, and shows the line threshold after a rollback', async () => {
    const repo = station!.repo;
    const start = (await repo.getRecipe('plate'))!;
    const startMin = (start.definition as { thresholds: { default?: { minScore: number } } }).thresholds.default?.minScore ?? 0.5;
    const page = await loggedInPage(browser!, station!.url!, { password: PASSWORD });
    await page.getByRole('link', { name: 'Recipes' }).click();
    const recipe = page.locator('[data-recipe="plate"]');
    const field = recipe.getByLabel('Default minimum score');
    await field.waitFor();

    // Apply asks first; Cancel changes nothing.
    await field.fill('0.77');
    await recipe.getByLabel('Reason').fill('fewer false rejects on shiny plates');
    await recipe.getByRole('button', { name: 'Apply to the line' }).click();
    const ask = recipe.getByTestId('confirm');
    await expect.poll(() => ask.textContent(), within).toContain(`Put 0.77 on the line for plate (it runs ${startMin})`);
    await ask.getByRole('button', { name: 'Cancel' }).click();
    expect(await ask.count()).toBe(0);
    expect((await repo.getRecipe('plate'))!.version).toBe(start.version);

    // Yes: a new version with that threshold; the history says each version's thresholds.
    await recipe.getByRole('button', { name: 'Apply to the line' }).click();
    await ask.getByRole('button', { name: 'Yes, apply' }).click();
    await expect.poll(() => page.getByRole('status').textContent(), within).toContain(`version ${start.version + 1} is on the line`);
    expect((await repo.getRecipe('plate'))!.version).toBe(start.version + 1);
    const thresholds = recipe.getByTestId('version-thresholds');
    await expect.poll(() => thresholds.allTextContents(), within).toContain('default 0.77');
    expect(await thresholds.allTextContents()).toContain(`default ${startMin}`);

    // A proposal typed, then a rollback: it asks, names both versions' thresholds, and the form shows
    // the threshold the line runs afterwards, not the proposal.
    await field.fill('0.9');
    const row = recipe.locator('tbody tr', { hasText: `default ${startMin}` }).first();
    await row.getByRole('button', { name: 'Roll back' }).click();
    await expect.poll(() => ask.textContent(), within).toContain(`Roll plate back to version ${start.version} (default ${startMin}; it runs default 0.77)`);
    await ask.getByRole('button', { name: 'Yes, roll back' }).click();
    await expect.poll(() => page.getByRole('status').textContent(), within).toContain(`rolled back to version ${start.version}`);
    const now = (await repo.getRecipe('plate'))!;
    expect(now.version).toBe(start.version + 2);
    expect((now.definition as { thresholds: { default?: { minScore: number } } }).thresholds.default?.minScore ?? 0.5).toBe(startMin);
    await expect.poll(() => field.inputValue(), within).toBe(String(startMin));
    await page.context().close();
  });

  it("compares the recipe's own model by default, warns before and after running a model made for other parts, and draws both sides' boxes", async () => {
    const page = await loggedInPage(browser!, station!.url!, { password: PASSWORD });
    await page.getByRole('link', { name: 'What-if' }).click();
    const model = page.locator('.reinference select[name="model"]');
    await expect.poll(() => model.inputValue(), within).toBe('plate-defects.onnx');
    expect(await page.getByTestId('model-mismatch').count()).toBe(0);
    // The magnetic-tile model on plate images: said before it runs.
    await model.selectOption('magnetic-tile.onnx');
    await expect.poll(() => page.getByTestId('model-mismatch').textContent(), within).toContain("not recipe plate's model");
    expect(await page.getByTestId('model-mismatch').textContent()).toContain('no class in common');
    await page.getByRole('button', { name: 'Run in the background' }).click();
    await expect.poll(() => page.getByTestId('comparison').count(), { timeout: 60_000 }).toBe(1);
    await expect.poll(() => page.getByTestId('job-mismatch').textContent(), within).toContain('magnetic-tile');
    // The recipe's own model again, stretched instead of letterboxed: no warning; every part with
    // both sides' boxes over its thumbnail.
    await model.selectOption('plate-defects.onnx');
    expect(await page.getByTestId('model-mismatch').count()).toBe(0);
    await page.locator('.reinference select[name="resize"]').selectOption('stretch');
    await page.getByRole('button', { name: 'Run in the background' }).click();
    await expect.poll(async () => (await station!.db.reinference.findMany({ where: { state: 'done' } })).length, { timeout: 60_000 }).toBe(2);
    await expect.poll(() => page.getByTestId('job-mismatch').count(), within).toBe(0);
    await page.getByTestId('only-disagree').uncheck();
    const runs = await station!.db.reinference.findMany({ orderBy: { id: 'asc' } });
    const parts = await station!.repo.reinferenceParts(runs.at(-1)!.id);
    const boxes = (side: 'production' | 'candidate') => parts.reduce((n, p) => n + p[side].defects.filter((d) => d.box).length, 0);
    expect(boxes('candidate')).toBeGreaterThan(0);
    await expect.poll(() => page.getByTestId('pair-boxes').count(), within).toBe(parts.length);
    await expect.poll(() => page.locator('rect.candidate-box').count(), within).toBe(boxes('candidate'));
    expect(await page.locator('rect.line-box').count()).toBe(boxes('production'));
    await page.context().close();
  });
});
