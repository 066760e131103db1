/**
 * The line screen (#/andon) in real Chromium against real stations: what it shows is what the line
 * and the database hold, a fault is a red alarm with its code, and numbers whose stream stopped
 * never look live.
 */
import { createServer } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PartGenerator } from '../src/capture/index.js';
import type { Station } from '../src/main.js';
import { describeViolations, haveBrowser, launchBrowser, loggedInPage, seriousA11yViolations, warnIfNoBrowser } from './helpers/browser.js';
import { until } from './helpers/plc.js';
import { push, startTestStation, userWithRole } from './helpers/station.js';

warnIfNoBrowser('line screen tests');

const PASSWORD = 'andon-admin-password';
const TV = { width: 1920, height: 1080 };
/** A page on a shared 2-core machine may take seconds to answer: polls wait up to 15 s. */
const within = { timeout: 15_000 };
let browser: Browser | null = null;
let station: Station | null = null;

/** The browser's getComputedStyle, as the callbacks below run it in the page (the test's tsconfig has no DOM types). */
type Styled = { getComputedStyle(e: unknown): { fontSize: string; backgroundColor: string; color: string; textDecorationLine: string } };
const percent = (x: number) => new Intl.NumberFormat('en', { style: 'percent', minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(x);
/** The big figure of a tile (its first dd). */
const figure = (page: Page, id: string) => page.getByTestId(id).locator('dd').first();
const counters = (page: Page) => Promise.all(['andon-parts', 'andon-pass', 'andon-fail', 'andon-uninspected'].map((id) => figure(page, id).textContent()));
const rejectIds = (page: Page) => page.getByTestId('andon-reject').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-id'))));
const alarmCodes = (page: Page) => page.locator('[data-testid="andon-alarms"] li').evaluateAll((els) => els.map((e) => e.getAttribute('data-code')));

/** The newest failed or uninspected parts in the database, newest first. */
async function newestRejects(s: Station): Promise<number[]> {
  const rows = await s.db.inspection.findMany({
    where: { verdict: { not: 'pass' } },
    orderBy: [{ capturedAt: 'desc' }, { id: 'desc' }],
    take: 6,
    select: { id: true },
  });
  return rows.map((r) => r.id);
}

/** A loopback port nothing listens on (taken, then given back). */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

async function openAndon(page: Page, s: Station): Promise<void> {
  await page.goto(`${s.url}#/andon`);
  await page.locator('.andon h2').waitFor(within);
}

describe.skipIf(!haveBrowser)('the line screen in a real browser', () => {
  beforeAll(async () => {
    station = await startTestStation({
      sources: [
        { name: 'line', uri: 'synthetic:?seed=11&defectRate=0.6&rate=0&count=24' },
        { name: 'push', uri: 'http:' },
      ],
      adminPassword: PASSWORD,
    });
    // The push source never ends, so the line is never idle: wait for the synthetic run's parts.
    await until('the synthetic run', () => station!.line.counters.parts === 24, 60_000);
    await station.recorder.flush();
    browser = await launchBrowser();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await station?.stop();
  });

  it("shows the line's counters, the run's and today's yield and the newest rejects from the database, in big figures; a part rejected while it is open comes first", async () => {
    const s = station!;
    const page = await loggedInPage(browser!, s.url!, { password: PASSWORD, viewport: TV });
    await openAndon(page, s);
    const line = () => s.line.counters;
    await expect.poll(() => counters(page), within).toEqual([line().parts, line().pass, line().fail, line().uninspected].map(String));
    expect(line().parts).toBe(24);
    expect(await figure(page, 'andon-yield-run').textContent()).toBe(percent(line().pass / line().parts));
    // Today's yield is the records' (the statistics), not the worker's counters.
    const recorded = await s.db.inspection.count();
    const passed = await s.db.inspection.count({ where: { verdict: 'pass' } });
    await expect.poll(() => figure(page, 'andon-yield-today').textContent(), within).toBe(percent(passed / recorded));
    expect(await page.getByTestId('andon-yield-today').textContent()).toContain(`${recorded} parts recorded since 00:00`);

    const before = await newestRejects(s);
    expect(before.length).toBe(6);
    await expect.poll(() => rejectIds(page), within).toEqual(before);
    expect(await page.getByTestId('andon-no-alarms').textContent()).toBe('No alarms');

    // Read from three metres: every main figure is at least 64 px on a 1920 × 1080 screen.
    for (const id of ['andon-parts', 'andon-pass', 'andon-fail', 'andon-uninspected', 'andon-yield-run', 'andon-yield-today']) {
      const px = await figure(page, id).evaluate((e) => Number.parseFloat((globalThis as unknown as Styled).getComputedStyle(e).fontSize));
      expect(px, id).toBeGreaterThanOrEqual(64);
    }

    // A defective part pushed now: it heads the rejects and the counters move, without a reload.
    const key = await userWithRole(s, 'integrator');
    const gen = new PartGenerator({ seed: 3, defectRate: 1 });
    let verdict = 'pass';
    for (let i = 0; verdict === 'pass' && i < 10; i++) {
      const png = await sharp(gen.part(i).image.data, { raw: { width: 512, height: 384, channels: 1 } })
        .png()
        .toBuffer();
      verdict = (await push(s, key, png)).verdict;
    }
    expect(verdict).toBe('fail');
    await s.recorder.flush();
    const after = await newestRejects(s);
    expect(after[0]).toBeGreaterThan(before[0]);
    await expect.poll(() => rejectIds(page), within).toEqual(after);
    await expect.poll(() => counters(page), within).toEqual([line().parts, line().pass, line().fail, line().uninspected].map(String));
    expect(await page.getByTestId('andon-reject').first().locator('img').getAttribute('src')).toBe(`/api/inspections/${after[0]}/image?variant=thumb`);
    await page.context().close();
  }, 120_000);

  it('shows a PLC that does not answer as a red alarm with its code', async () => {
    const port = await closedPort();
    const s = await startTestStation({
      sources: [{ name: 'line', uri: 'synthetic:?seed=5&defectRate=0.5&rate=0&count=3' }],
      adminPassword: PASSWORD,
      extra: {
        plc: { endpoint: `opc.tcp://127.0.0.1:${port}`, user: { username: 'station', password: 'plc-password' }, reconnectMinMs: 100, reconnectMaxMs: 500 },
      },
    });
    try {
      const page = await loggedInPage(browser!, s.url!, { password: PASSWORD, viewport: TV });
      await openAndon(page, s);
      await expect.poll(() => alarmCodes(page), within).toContain('STN_ERR_PLC_CONNECT');
      const row = page.locator('[data-testid="andon-alarms"] li[data-kind="plc"]');
      expect(await row.locator('strong').textContent()).toMatch(/^PLC link (connecting|reconnecting|disconnected)$/);
      expect(await row.locator('.detail').textContent()).toContain(`the PLC does not answer at opc.tcp://127.0.0.1:${port}`);
      // Red in either theme, white on it: noticed across the room, and readable.
      const band = await page
        .getByTestId('andon-alarms')
        .evaluate((e) => [(globalThis as unknown as Styled).getComputedStyle(e).backgroundColor, (globalThis as unknown as Styled).getComputedStyle(e).color]);
      expect(band).toEqual(['rgb(180, 35, 24)', 'rgb(255, 255, 255)']);
      expect(await page.getByTestId('andon-no-alarms').count()).toBe(0);
      expect(describeViolations(await seriousA11yViolations(page))).toBe('');
      await page.context().close();
    } finally {
      await s.stop();
    }
  }, 120_000);

  it('greys and strikes through the numbers when the live stream stops, and says the station does not answer when it does not; both clear when it is back', async () => {
    const s = station!;
    const page = await loggedInPage(browser!, s.url!, { password: PASSWORD, viewport: TV });
    await openAndon(page, s);
    await expect.poll(() => figure(page, 'andon-parts').textContent(), within).toBe(String(s.line.counters.parts));
    expect(await page.getByTestId('andon-parts').getAttribute('class')).not.toContain('andon-stale');

    // The stream is cut and cannot come back: after five seconds without counters they are stale.
    await page.route('**/api/live', (r) => r.abort());
    s.api!.server.closeAllConnections();
    await expect.poll(() => alarmCodes(page), within).toContain('ALARM_STALE');
    expect(await page.getByTestId('andon-parts').getAttribute('class')).toContain('andon-stale');
    expect(await figure(page, 'andon-parts').evaluate((e) => (globalThis as unknown as Styled).getComputedStyle(e).textDecorationLine)).toBe('line-through');
    // Health still answers: the stream is the only alarm.
    expect(await alarmCodes(page)).toEqual(['ALARM_STALE']);
    await page.unroute('**/api/live');
    await expect.poll(() => alarmCodes(page), within).toEqual([]);
    await page.getByTestId('andon-no-alarms').waitFor(within);
    expect(await page.getByTestId('andon-parts').getAttribute('class')).not.toContain('andon-stale');

    // No network at all: the next health poll fails, and that is an alarm of its own.
    await page.context().setOffline(true);
    await expect.poll(() => alarmCodes(page), within).toContain('ALARM_SILENT');
    expect(await page.locator('[data-testid="andon-alarms"] li[data-kind="silent"] strong').textContent()).toBe('Station does not answer');
    await page.context().setOffline(false);
    await expect.poll(() => alarmCodes(page), within).not.toContain('ALARM_SILENT');
    await page.context().close();
  }, 120_000);

  it("follows a viewer's dark theme and German, with no serious axe-core violation", async () => {
    const s = station!;
    await s.accounts.createUser('line-tv', 'viewer', 'line-tv-password');
    const page = await loggedInPage(browser!, s.url!, { username: 'line-tv', password: 'line-tv-password', viewport: TV, colorScheme: 'light' });
    await openAndon(page, s);
    await expect
      .poll(() => counters(page), within)
      .toEqual([s.line.counters.parts, s.line.counters.pass, s.line.counters.fail, s.line.counters.uninspected].map(String));
    // The header's theme choice is saved for the user (PUT /api/auth/me/preferences) and applies at once.
    await page.getByTestId('theme').selectOption('dark');
    const luminance = (selector: string) =>
      page.locator(selector).evaluate((e) => {
        const [r, g, b] = ((globalThis as unknown as Styled).getComputedStyle(e).backgroundColor.match(/\d+/g) ?? []).map(Number);
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
      });
    await expect.poll(() => luminance('html'), within).toBeLessThan(60);
    expect(await luminance('[data-testid="andon-parts"]')).toBeLessThan(60);
    expect(describeViolations(await seriousA11yViolations(page))).toBe('');
    await expect.poll(async () => (await s.accounts.findUser('line-tv'))?.theme, within).toBe('dark');

    await page.getByTestId('language').selectOption('de');
    await expect.poll(() => page.locator('.andon h2').textContent(), within).toBe('Linienanzeige');
    expect(await page.locator('header nav a[href="#/andon"]').textContent()).toBe('Linienanzeige');
    expect(await page.getByTestId('andon-no-alarms').textContent()).toBe('Keine Alarme');
    expect(await page.getByTestId('andon-parts').locator('dt').textContent()).toBe('Teile');
    expect(describeViolations(await seriousA11yViolations(page))).toBe('');
    await page.context().close();
  }, 120_000);
});
