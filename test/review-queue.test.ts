import { readFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Station } from '../src/main.js';
import { describeViolations, haveBrowser, launchBrowser, loggedInPage, seriousA11yViolations, warnIfNoBrowser } from './helpers/browser.js';
import { startTestStation } from './helpers/station.js';

warnIfNoBrowser('review queue tests');

const PASSWORD = 'review-queue-admin-password';
let browser: Browser | null = null;
let station: Station | null = null;

/** The part the open dialog shows (its heading names it). */
const shownPart = (page: Page) => page.locator('aside h2').textContent();
/** A page on a shared 2-core machine may take seconds to answer: polls wait up to 15 s. */
const within = { timeout: 15_000 };

describe.skipIf(!haveBrowser)('the review queue in a real browser', () => {
  beforeAll(async () => {
    station = await startTestStation({ sources: [{ name: 'line', uri: 'synthetic:?seed=11&defectRate=0.6&rate=0&count=30' }], adminPassword: PASSWORD });
    await station.line.whenIdle();
    await station.recorder.flush();
    browser = await launchBrowser();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await station?.stop();
  });

  it('advances to the next unreviewed part after each review, undoes the last one, and keeps its filters in the URL across a reload', async () => {
    const db = station!.db;
    const page = await loggedInPage(browser!, station!.url!, { password: PASSWORD });
    await page.getByTestId('reviewed-filter').selectOption({ label: 'not reviewed' });
    await expect.poll(() => page.evaluate<string>('location.hash'), within).toContain('reviewed=false');
    const unreviewed = await db.inspection.count({ where: { verdict: 'fail', reviews: { none: {} } } });
    expect(unreviewed).toBeGreaterThan(5);
    const cards = page.getByTestId('card');
    await expect.poll(() => cards.count(), within).toBe(unreviewed);

    await cards.first().click();
    const dialog = page.getByRole('dialog');
    expect(await dialog.getAttribute('aria-modal')).toBe('true');
    const first = await shownPart(page);
    // f: the part is a false reject, and the queue moves on to the next unreviewed part by itself.
    await page.keyboard.press('f');
    await expect.poll(() => page.getByRole('status').textContent(), within).toContain('Marked false reject');
    await expect.poll(() => shownPart(page), within).not.toBe(first);
    const second = await shownPart(page);
    // The reviewed part left the list; the arrows still step through what is left.
    await expect.poll(() => cards.count(), within).toBe(unreviewed - 1);
    await page.keyboard.press('c');
    await expect.poll(() => shownPart(page), within).not.toBe(second);
    const third = await shownPart(page);
    expect(await db.review.count()).toBe(2);
    await page.keyboard.press('ArrowRight');
    await expect.poll(() => shownPart(page), within).not.toBe(third);

    // u: the last review (the second part's) is taken back: that part is unreviewed again.
    await page.keyboard.press('u');
    await expect.poll(() => page.getByRole('status').textContent(), within).toContain('now not reviewed');
    await expect.poll(() => db.review.count(), within).toBe(1);
    await expect.poll(() => cards.count(), within).toBe(unreviewed - 1);

    // Tab stays in the dialog (the gallery behind it is inert).
    for (let i = 0; i < 25; i++) {
      await page.keyboard.press('Tab');
      expect(await page.evaluate<boolean>(`!!document.activeElement?.closest('[role="dialog"]')`)).toBe(true);
    }
    expect(describeViolations(await seriousA11yViolations(page))).toBe('');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    // Focus goes back to a card, not to the top of the page.
    expect(await page.evaluate<string | null>("document.activeElement?.getAttribute('data-testid') ?? null")).toBe('card');

    // The filters survive a reload: the same unreviewed failed parts.
    await page.reload();
    await expect.poll(() => page.getByTestId('reviewed-filter').inputValue(), within).toBe('false');
    await expect.poll(() => cards.count(), within).toBe(unreviewed - 1);
    await page.context().close();
  });

  it('reviews a selection of cards at once; each card then says its label; exports the reviewed images as a dataset', async () => {
    const db = station!.db;
    const page = await loggedInPage(browser!, station!.url!, { password: PASSWORD, acceptDownloads: true });
    const cards = page.getByTestId('card');
    await cards.first().waitFor();
    const failed = await db.inspection.count({ where: { verdict: 'fail' } });
    await expect.poll(() => cards.count(), within).toBe(failed);
    const picks = page.getByTestId('pick');
    for (const i of [0, 1, 2]) await picks.nth(i).check();
    await expect.poll(() => page.getByTestId('bulk-bar').textContent(), within).toContain('3 parts selected');
    const ids = await cards.evaluateAll((as) => as.slice(0, 3).map((a) => Number(/inspection\/(\d+)/.exec(a.getAttribute('href') ?? '')?.[1])));
    const before = await db.review.count();
    await page.getByTestId('bulk-bar').getByRole('button', { name: 'Confirm' }).click();
    await expect.poll(() => page.getByTestId('bulk-result').textContent(), within).toContain('reviewed');
    const rows = await db.review.findMany({ where: { inspectionId: { in: ids } }, orderBy: { id: 'desc' } });
    expect(new Set(rows.filter((r) => r.label === 'confirmed').map((r) => r.inspectionId))).toEqual(new Set(ids));
    expect(await db.review.count()).toBeGreaterThanOrEqual(before + 2);
    // The three cards carry their badge; the selection is cleared.
    for (const i of [0, 1, 2]) await expect.poll(() => cards.nth(i).getByTestId('badge').textContent(), within).toBe('confirmed');
    expect(await picks.nth(0).isChecked()).toBe(false);

    // "Select all shown" then false reject: every failed part shown is labelled.
    await page.getByTestId('select-all').click();
    await page.getByTestId('bulk-bar').getByRole('button', { name: 'False reject' }).click();
    await expect.poll(async () => (await cards.allTextContents()).filter((t) => t.includes('false reject')).length, within).toBe(failed);
    const latest = await db.inspection.findMany({
      where: { verdict: 'fail' },
      select: { reviews: { orderBy: { id: 'desc' }, take: 1, select: { label: true } } },
    });
    expect(latest.every((p) => p.reviews[0]?.label === 'false_reject')).toBe(true);

    // The reviewed images as a dataset, from the page: progress, then the archive to download.
    const exporter = page.getByTestId('dataset-export');
    await exporter.getByRole('button', { name: 'Export' }).click();
    const archive = page.getByTestId('export-archive');
    await archive.waitFor(within);
    const reviewedWithImages = await db.inspection.count({ where: { reviews: { some: {} }, images: { some: { variant: 'original' } } } });
    expect(await archive.textContent()).toBe(`Download (${reviewedWithImages} images)`);
    const [download] = await Promise.all([page.waitForEvent('download'), archive.click()]);
    const tgz = readFileSync((await download.path())!);
    expect([tgz[0], tgz[1]]).toEqual([0x1f, 0x8b]);
    await page.context().close();
  });
});
