/**
 * The detail view's image viewer in real Chromium (issue #20 item 2): the image fitted to its pane,
 * zoom about the pointer, pan, side by side with one shared zoom, boxes and labels that keep their
 * size on screen at any zoom, and the findings table and the boxes highlighting each other.
 * Everything is measured off the rendered page (bounding boxes), not read from the component's state.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Station } from '../src/main.js';
import { PACKAGE_ROOT } from '../src/paths.js';
import { describeViolations, haveBrowser, horizontalOverflow, launchBrowser, loggedInPage, seriousA11yViolations, warnIfNoBrowser } from './helpers/browser.js';
import { startTestStation } from './helpers/station.js';

warnIfNoBrowser('viewer tests');
const PASSWORD = 'viewer-admin-password';
let station: Station | null = null;
let browser: Browser | null = null;
/** The failed part with the most boxes, and its source image size. */
let part = { id: 0, boxes: 0, width: 0, height: 0 };

type Box = { x: number; y: number; width: number; height: number };
async function box(l: Locator): Promise<Box> {
  const b = await l.boundingBox();
  if (!b) throw new Error(`${l} is not rendered`);
  return b;
}
/** Two frames later: Preact has rendered what the last event changed. */
const settle = (page: Page) =>
  page.evaluate(
    () =>
      new Promise<void>((r) => {
        const raf = (globalThis as unknown as { requestAnimationFrame(f: () => void): void }).requestAnimationFrame;
        raf(() => raf(() => r()));
      }),
  );

async function openPart(page: Page): Promise<{ pane: Locator; img: Locator }> {
  await page.goto(`${station!.url}#/inspection/${part.id}`);
  const pane = page.getByRole('dialog').locator('.viewer').first();
  const img = pane.locator('img');
  await img.waitFor();
  await expect
    .poll(() =>
      img.evaluate(
        (el) =>
          (el as unknown as { complete: boolean; style: { width: string } }).complete && (el as unknown as { style: { width: string } }).style.width !== '',
      ),
    )
    .toBe(true);
  return { pane, img };
}

/** Where the source pixel (sx, sy) of the image is on screen now. */
function onScreen(img: Box, sx: number, sy: number): [number, number] {
  return [img.x + (sx / part.width) * img.width, img.y + (sy / part.height) * img.height];
}

const shot = (page: Page, name: string) => {
  mkdirSync(path.join(PACKAGE_ROOT, 'test-results'), { recursive: true });
  return page.screenshot({ path: path.join(PACKAGE_ROOT, 'test-results', `viewer-${name}.png`) });
};

async function wheelAt(page: Page, x: number, y: number, deltaY: number): Promise<void> {
  await page.mouse.move(x, y);
  await page.mouse.wheel(0, deltaY);
  await settle(page);
}

describe.skipIf(!haveBrowser)('the image viewer in a real browser', () => {
  beforeAll(async () => {
    station = await startTestStation({ sources: [{ name: 'line', uri: 'synthetic:?seed=9&defectRate=0.5&rate=0&count=12' }], adminPassword: PASSWORD });
    await station.line.whenIdle();
    await station.recorder.flush();
    for (const it of (await station.repo.listInspections({ verdict: 'fail', limit: 50 })).items) {
      const full = await station.repo.getInspection(it.id);
      const original = full?.imageInfo.find((i) => i.variant === 'original');
      const boxes = full?.defects.filter((d) => d.box).length ?? 0;
      if (original && full?.images.includes('overlay') && boxes > part.boxes) part = { id: it.id, boxes, width: original.width, height: original.height };
    }
    expect(part.boxes).toBeGreaterThan(0);
    browser = await launchBrowser();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await station?.stop();
  });

  it('fits the image to its pane, zooms about the pointer (1–16×), pans with a drag, and fits again', async () => {
    const page = await loggedInPage(browser!, station!.url!, { password: PASSWORD, viewport: { width: 1280, height: 900 } });
    const { pane, img } = await openPart(page);

    // Fit: scaled up from its natural size until one side meets the pane, the aspect kept.
    const p = await box(pane);
    const fit = await box(img);
    expect(fit.width).toBeGreaterThan(part.width);
    expect(Math.min(Math.abs(fit.width - p.width), Math.abs(fit.height - p.height))).toBeLessThanOrEqual(2);
    expect(fit.width).toBeLessThanOrEqual(p.width + 1);
    expect(fit.height).toBeLessThanOrEqual(p.height + 1);
    expect(fit.width / fit.height).toBeCloseTo(part.width / part.height, 2);

    // Zoom at the pointer: the image point under it stays under it, wheel step after wheel step.
    const [cx, cy] = [p.x + p.width * 0.3, p.y + p.height * 0.6];
    for (const delta of [-100, -300, -200, 150]) {
      const before = await box(img);
      const sx = ((cx - before.x) / before.width) * part.width;
      const sy = ((cy - before.y) / before.height) * part.height;
      await wheelAt(page, cx, cy, delta);
      const after = await box(img);
      expect(after.width).not.toBeCloseTo(before.width, 0);
      const [x, y] = onScreen(after, sx, sy);
      expect(Math.abs(x - cx)).toBeLessThanOrEqual(2);
      expect(Math.abs(y - cy)).toBeLessThanOrEqual(2);
    }

    // Drag pans by exactly the pointer's travel.
    const before = await box(img);
    await page.mouse.move(cx, cy);
    await page.mouse.down();
    await page.mouse.move(cx - 120, cy - 60, { steps: 4 });
    await page.mouse.up();
    await settle(page);
    const panned = await box(img);
    expect(panned.x - before.x).toBeCloseTo(-120, 0);
    expect(panned.y - before.y).toBeCloseTo(-60, 0);

    // Clamped at 16× however far the wheel turns, and at the fit the other way.
    for (let i = 0; i < 12; i++) await wheelAt(page, cx, cy, -300);
    expect((await box(img)).width / fit.width).toBeCloseTo(16, 1);
    expect(await page.getByTestId('zoom').textContent()).toBe('1,600%');
    for (let i = 0; i < 12; i++) await wheelAt(page, cx, cy, 300);
    expect(await box(img)).toEqual(fit);

    // The keyboard: + zooms about the pane's centre, 0 fits; a double-click and "Reset zoom" fit too.
    await page.keyboard.press('+');
    await settle(page);
    const plus = await box(img);
    expect(plus.width / fit.width).toBeCloseTo(1.25, 2);
    expect(plus.x + plus.width / 2).toBeCloseTo(p.x + p.width / 2, 0);
    await page.keyboard.press('0');
    await settle(page);
    expect(await box(img)).toEqual(fit);
    await wheelAt(page, cx, cy, -300);
    await page.mouse.dblclick(cx, cy);
    await settle(page);
    expect(await box(img)).toEqual(fit);
    await wheelAt(page, cx, cy, -300);
    await page.getByRole('button', { name: 'Reset zoom' }).click();
    await settle(page);
    expect(await box(img)).toEqual(fit);
  });

  it('side by side shows the original and the overlay at one zoom and pan, whichever pane is zoomed or dragged', async () => {
    const page = await loggedInPage(browser!, station!.url!, { password: PASSWORD, viewport: { width: 1280, height: 900 } });
    await openPart(page);
    await page.getByLabel('Side by side').check();
    const panes = page.getByRole('dialog').locator('.viewer');
    await expect.poll(() => panes.locator('img').count()).toBe(2);
    expect(await panes.nth(0).locator('img').getAttribute('src')).toMatch(/variant=original/);
    expect(await panes.nth(1).locator('img').getAttribute('src')).toMatch(/variant=overlay/);
    await expect
      .poll(() =>
        panes
          .nth(1)
          .locator('img')
          .evaluate((el) => (el as unknown as { style: { width: string } }).style.width),
      )
      .not.toBe('');

    /** Each image's place relative to its own pane. */
    const places = async () =>
      Promise.all(
        [0, 1].map(async (i) => {
          const [pn, im] = [await box(panes.nth(i)), await box(panes.nth(i).locator('img'))];
          return { x: im.x - pn.x, y: im.y - pn.y, width: im.width, height: im.height };
        }),
      );
    const transforms = () =>
      Promise.all(
        [0, 1].map((i) =>
          panes
            .nth(i)
            .locator('img')
            .evaluate((el) => (el as unknown as { style: { transform: string } }).style.transform),
        ),
      );
    const [a, b] = [await box(panes.nth(0)), await box(panes.nth(1))];
    expect(Math.abs(a.width - b.width)).toBeLessThanOrEqual(1);

    // Zoom the original: the overlay follows to the same image point.
    await wheelAt(page, a.x + a.width * 0.4, a.y + a.height * 0.5, -400);
    const [t0, t1] = await transforms();
    expect(t0).toMatch(/scale\((?!1\))/);
    expect(t1).toBe(t0);
    const [o, v] = await places();
    expect(o.width).toBeGreaterThan(a.width);
    expect(Math.abs(o.x - v.x)).toBeLessThanOrEqual(1);
    expect(Math.abs(o.y - v.y)).toBeLessThanOrEqual(1);
    expect(Math.abs(o.width - v.width)).toBeLessThanOrEqual(1);

    // Zoom and drag the overlay: the original follows.
    await wheelAt(page, b.x + b.width * 0.7, b.y + b.height * 0.3, -200);
    await page.mouse.down();
    await page.mouse.move(b.x + b.width * 0.7 - 50, b.y + b.height * 0.3 + 30, { steps: 3 });
    await page.mouse.up();
    await settle(page);
    const [u0, u1] = await transforms();
    expect(u1).toBe(u0);
    expect(u0).not.toBe(t0);
    const [o2, v2] = await places();
    expect(Math.abs(o2.x - v2.x)).toBeLessThanOrEqual(1);
    expect(Math.abs(o2.y - v2.y)).toBeLessThanOrEqual(1);

    await shot(page, 'side-by-side');
    const vs = await seriousA11yViolations(page);
    expect(vs, describeViolations(vs)).toEqual([]);
  });

  it('draws the boxes with class and score labels that keep their size on screen at 1× and 4×, without labels covering each other', async () => {
    const page = await loggedInPage(browser!, station!.url!, { password: PASSWORD, viewport: { width: 1280, height: 900 } });
    const { pane, img } = await openPart(page);
    await page.keyboard.press('o');
    await expect.poll(() => img.getAttribute('src')).toMatch(/variant=original/);
    const labels = pane.locator('svg[aria-label="boxes"] text.label');
    await expect.poll(() => labels.count()).toBe(part.boxes);
    expect(await labels.first().textContent()).toMatch(/^\S+ \d\.\d\d$/);

    const bgs = pane.locator('svg[aria-label="boxes"] rect.label-bg');
    const all = await Promise.all(Array.from({ length: part.boxes }, (_, i) => box(bgs.nth(i))));
    for (let i = 0; i < all.length; i++)
      for (let j = i + 1; j < all.length; j++) {
        const [r, s] = [all[i], all[j]];
        const w = Math.min(r.x + r.width, s.x + s.width) - Math.max(r.x, s.x);
        const h = Math.min(r.y + r.height, s.y + s.height) - Math.max(r.y, s.y);
        expect(w > 0.5 && h > 0.5, `labels ${i} and ${j} overlap`).toBe(false);
      }

    await shot(page, 'boxes');
    const label1 = await box(labels.first());
    const box1 = await box(pane.locator('rect.box').first());
    const img1 = await box(img);
    // To 4× about the middle of the pane (three wheel steps of ∛4).
    const p = await box(pane);
    for (let i = 0; i < 3; i++) await wheelAt(page, p.x + p.width / 2, p.y + p.height / 2, -Math.log(4) / 3 / 0.0018);
    const img4 = await box(img);
    await shot(page, 'boxes-4x');
    expect(img4.width / img1.width).toBeCloseTo(4, 1);
    const label4 = await box(labels.first());
    expect(Math.abs(label4.height - label1.height)).toBeLessThanOrEqual(0.5);
    expect(
      await labels.first().evaluate((el) => (globalThis as unknown as { getComputedStyle(e: unknown): { fontSize: string } }).getComputedStyle(el).fontSize),
    ).toBe('12px');
    // The box itself did grow with the image (it is not the label that is wrong-sized).
    const box4 = await box(pane.locator('rect.box').first());
    expect(box4.width / box1.width).toBeCloseTo(4, 0);
  });

  it('lists each finding with its box size in source pixels, and a row and its box highlight each other', async () => {
    const page = await loggedInPage(browser!, station!.url!, { password: PASSWORD, viewport: { width: 1280, height: 900 } });
    const { pane, img } = await openPart(page);
    const full = (await station!.repo.getInspection(part.id))!;
    const rows = page.locator('table.findings tbody tr');
    expect(await rows.count()).toBe(full.defects.length);
    // The box as stored: [x1, y1, x2, y2] in source pixels.
    const boxes = full.defects.map((x) => x.box as [number, number, number, number] | null);
    const i = boxes.findIndex((b) => b);
    const b = boxes[i]!;
    const row = page.locator(`table.findings tr[data-finding="${i}"]`);
    expect(await row.locator('td').nth(3).textContent()).toBe(`${Math.round(b[2] - b[0])} × ${Math.round(b[3] - b[1])} px`);

    // On the overlay (boxes burnt in), hovering a row draws just its box.
    await row.hover();
    const hot = pane.locator('g.finding.hot');
    await expect.poll(() => hot.getAttribute('data-finding')).toBe(String(i));
    expect(await pane.locator('g.finding').count()).toBe(1);
    await page.mouse.move(0, 0);
    await expect.poll(() => pane.locator('g.finding').count()).toBe(0);

    // On the original, hovering a box marks its row; focusing a row marks its box.
    await page.keyboard.press('o');
    await expect.poll(() => img.getAttribute('src')).toMatch(/variant=original/);
    const smallest = boxes.map((x, k) => ({ k, a: x ? (x[2] - x[0]) * (x[3] - x[1]) : Number.POSITIVE_INFINITY })).sort((x, y) => x.a - y.a)[0].k;
    const target = pane.locator(`g.finding[data-finding="${smallest}"] rect.box`);
    const tb = await box(target);
    await page.mouse.move(tb.x + tb.width / 2, tb.y + tb.height / 2);
    await expect.poll(() => page.locator('table.findings tr.hot').getAttribute('data-finding')).toBe(String(smallest));
    await page.mouse.move(0, 0);
    await expect.poll(() => page.locator('table.findings tr.hot').count()).toBe(0);
    await page.locator(`table.findings tr[data-finding="${i}"]`).focus();
    await expect.poll(() => pane.locator('g.finding.hot').getAttribute('data-finding')).toBe(String(i));
  });

  it('speaks German to a German browser', async () => {
    const page = await loggedInPage(browser!, station!.url!, { password: PASSWORD, locale: 'de-DE' });
    await openPart(page);
    await page.getByLabel('Nebeneinander').waitFor();
    await page.getByRole('button', { name: 'Zoom zurücksetzen' }).waitFor();
    expect(await page.locator('table.findings th').allTextContents()).toEqual(['Klasse', 'Score', 'zählt', 'Größe']);
  });

  it('fits a 390 × 844 phone: the image as wide as the screen at most, nothing scrolls sideways, two fingers zoom, side by side stacks', async () => {
    const page = await loggedInPage(browser!, station!.url!, { password: PASSWORD, viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const { pane, img } = await openPart(page);
    const p = await box(pane);
    const i = await box(img);
    expect(p.x).toBeGreaterThanOrEqual(0);
    expect(p.x + p.width).toBeLessThanOrEqual(390);
    expect(Math.abs(i.width - p.width)).toBeLessThanOrEqual(2);
    expect(await horizontalOverflow(page)).toBe(0);

    // Two fingers spreading from 40 to 120 px apart zoom 3× about their midpoint, which stays on its image point.
    const cdp = await page.context().newCDPSession(page);
    const [mx, my] = [p.x + p.width / 2 - 30, p.y + p.height / 2 + 10];
    const sx = ((mx - i.x) / i.width) * part.width;
    const sy = ((my - i.y) / i.height) * part.height;
    const touch = (type: 'touchStart' | 'touchMove' | 'touchEnd', d: number) =>
      cdp.send('Input.dispatchTouchEvent', {
        type,
        touchPoints:
          type === 'touchEnd'
            ? []
            : [
                { x: mx - d, y: my, id: 1 },
                { x: mx + d, y: my, id: 2 },
              ],
      });
    await touch('touchStart', 20);
    for (const d of [30, 45, 60]) await touch('touchMove', d);
    await touch('touchEnd', 0);
    await settle(page);
    const pinched = await box(img);
    expect(pinched.width / i.width).toBeCloseTo(3, 1);
    const [x, y] = onScreen(pinched, sx, sy);
    expect(Math.abs(x - mx)).toBeLessThanOrEqual(2);
    expect(Math.abs(y - my)).toBeLessThanOrEqual(2);
    expect(await horizontalOverflow(page)).toBe(0);
    await page.getByLabel('Side by side').check();
    const panes = page.getByRole('dialog').locator('.viewer');
    await expect.poll(() => panes.count()).toBe(2);
    const [a, b] = [await box(panes.nth(0)), await box(panes.nth(1))];
    await shot(page, 'phone');
    expect(b.y).toBeGreaterThanOrEqual(a.y + a.height - 1);
    expect(a.width).toBeGreaterThan(300);
    expect(await horizontalOverflow(page)).toBe(0);
  });
});
