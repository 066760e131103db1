/**
 * The gallery's pages to axe-core in real Chromium (issue #20): no serious or critical WCAG 2.1 A/AA
 * violation, in English and German, light and dark.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Station } from '../src/main.js';
import { describeViolations, haveBrowser, launchBrowser, loggedInPage, seriousA11yViolations, warnIfNoBrowser } from './helpers/browser.js';
import { startTestStation } from './helpers/station.js';

warnIfNoBrowser('accessibility tests');
const PASSWORD = 'a11y-admin-password';
let station: Station | null = null;
let browser: Browser | null = null;

describe.skipIf(!haveBrowser)('the gallery to axe-core', () => {
  beforeAll(async () => {
    station = await startTestStation({ sources: [{ name: 'line', uri: 'synthetic:?seed=9&defectRate=0.5&rate=0&count=12' }], adminPassword: PASSWORD });
    await station.line.whenIdle();
    await station.recorder.flush();
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await station?.stop();
  });

  it('the gallery shows its texts in the language the user chose, kept for the next login', async () => {
    const page = await loggedInPage(browser!, station!.url!, { password: PASSWORD });
    await page.getByTestId('language').selectOption('de');
    await page.getByRole('link', { name: 'Statistik' }).waitFor();
    expect(await page.evaluate(() => (globalThis as unknown as { document: { documentElement: { lang: string } } }).document.documentElement.lang)).toBe('de');
    const again = await loggedInPage(browser!, station!.url!, { password: PASSWORD });
    await again.getByRole('link', { name: 'Galerie' }).waitFor();
    await again.getByTestId('language').selectOption('');
    await again.getByRole('link', { name: 'Gallery' }).waitFor();
  });

  it('has no serious or critical violation on the login page and the gallery', async () => {
    const ctx = await browser!.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en-US' });
    const login = await ctx.newPage();
    await login.goto(station!.url!);
    await login.locator('form.login').waitFor();
    const atLogin = await seriousA11yViolations(login);
    expect(atLogin, describeViolations(atLogin)).toEqual([]);
    const page = await loggedInPage(browser!, station!.url!, { password: PASSWORD });
    await page.getByTestId('card').first().waitFor();
    const atGallery = await seriousA11yViolations(page);
    expect(atGallery, describeViolations(atGallery)).toEqual([]);
  });

  it('a part that does not exist says so in its dialog instead of loading forever', async () => {
    const page = await loggedInPage(browser!, station!.url!, { password: PASSWORD });
    await page.goto(`${station!.url}#/inspection/999999`);
    const problem = page.getByRole('dialog').getByRole('alert');
    await problem.waitFor();
    expect(await problem.textContent()).toMatch(/does not exist.*STN_ERR_HTTP_NOT_FOUND/);
  });
});
