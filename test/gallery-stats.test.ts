/**
 * The Statistics page in real Chromium (issue #20): a failed request is shown as an alert, never as
 * "parts 0".
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Station } from '../src/main.js';
import { haveBrowser, launchBrowser, loggedInPage, warnIfNoBrowser } from './helpers/browser.js';
import { startTestStation } from './helpers/station.js';

warnIfNoBrowser('statistics page tests');
const PASSWORD = 'stats-admin-password';
let station: Station | undefined;
let browser: Browser | undefined;

describe.skipIf(!haveBrowser)('the Statistics page', () => {
  beforeAll(async () => {
    station = await startTestStation({ sources: [{ name: 'line', uri: 'synthetic:?seed=4&defectRate=0.5&rate=0&count=6' }], adminPassword: PASSWORD });
    browser = await launchBrowser();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await station?.stop();
  });

  it('shows an alert, not "parts 0", when its requests fail', async () => {
    const page = await loggedInPage(browser!, station!.url!, { password: PASSWORD });
    await page.goto(`${station!.url}#/stats`);
    await page.getByTestId('totals').waitFor();
    expect(await page.getByRole('alert').count()).toBe(0);
    // The station goes away; choosing another window asks again, and every request fails.
    await station!.stop();
    await page.getByTestId('window').selectOption({ label: '30 days' });
    await page.getByRole('alert').first().waitFor();
    expect(await page.getByRole('alert').first().textContent()).toContain('Statistics');
    expect(await page.getByTestId('totals').count()).toBe(0);
  });
});
