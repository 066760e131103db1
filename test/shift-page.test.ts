import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shiftAt } from '../src/config/plant.js';
import type { Station } from '../src/main.js';
import { describeViolations, haveBrowser, launchBrowser, loggedInPage, seriousA11yViolations, warnIfNoBrowser } from './helpers/browser.js';
import { startTestStation } from './helpers/station.js';

warnIfNoBrowser('shift report page tests');

const PASSWORD = 'shift-page-admin-password';
const plant = {
  timeZone: 'America/Chicago',
  shifts: [
    { name: 'day', start: '07:00' },
    { name: 'swing', start: '15:00' },
    { name: 'graveyard', start: '23:00' },
  ],
};
let browser: Browser | null = null;
let station: Station | null = null;
const within = { timeout: 15_000 };

describe.skipIf(!haveBrowser)('the shift report page in a real browser', () => {
  beforeAll(async () => {
    station = await startTestStation({
      sources: [{ name: 'line', uri: 'synthetic:?seed=8&defectRate=0.5&rate=0&count=12' }],
      adminPassword: PASSWORD,
      extra: { plant },
    });
    await station.line.whenIdle();
    await station.recorder.flush();
    browser = await launchBrowser();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await station?.stop();
  });

  it("shows the running shift of the plant's clock with its counts and rejects, in the plant's zone, and its PDF", async () => {
    // A browser in Tokyo: the page still speaks the plant's (Chicago's) hours.
    const page = await loggedInPage(browser!, station!.url!, { password: PASSWORD, timezoneId: 'Asia/Tokyo', acceptDownloads: true });
    await page.getByRole('link', { name: 'Shift report' }).click();
    const now = shiftAt(plant, Date.now());
    await expect.poll(() => page.getByTestId('shift-name').inputValue(), within).toBe(now.name);
    const db = station!.db;
    await expect.poll(() => page.getByTestId('shift-parts').textContent(), within).toBe('12');
    const pass = await db.inspection.count({ where: { verdict: 'pass' } });
    expect(await page.getByTestId('shift-yield').textContent()).toBe(`${((pass / 12) * 100).toFixed(2)}%`);
    // The window in Chicago time, named by its zone's abbreviation (CST or CDT), not Tokyo's.
    expect(await page.getByTestId('shift-window').textContent()).toMatch(/C[SD]T/);
    const fails = await db.inspection.count({ where: { verdict: 'fail' } });
    expect(await page.getByTestId('shift-reject').count()).toBe(Math.min(10, fails));
    expect(describeViolations(await seriousA11yViolations(page))).toBe('');
    // Another shift of the day: none of these parts.
    const other = plant.shifts.find((s) => s.name !== now.name)!.name;
    await page.getByTestId('shift-name').selectOption(other);
    await expect.poll(() => page.getByTestId('shift-parts').textContent(), within).not.toBe('12');
    await page.getByTestId('shift-name').selectOption(now.name);
    await expect.poll(() => page.getByTestId('shift-parts').textContent(), within).toBe('12');
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('shift-pdf').click()]);
    expect(download.suggestedFilename()).toMatch(new RegExp(`^shift-\\d{4}-\\d{2}-\\d{2}-${now.name}\\.pdf$`));
    const pdf = readFileSync((await download.path())!);
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    if (spawnSync('pdftotext', ['-v']).error === undefined)
      expect(spawnSync('pdftotext', ['-', '-'], { input: pdf }).stdout.toString()).toContain(`Parts 12 · pass ${pass} · fail ${fails}`);
    await page.context().close();
  });
});
