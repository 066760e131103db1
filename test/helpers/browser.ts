/**
 * The gallery in real Chromium (Debian's, driven by playwright-core): a browser, a logged-in page,
 * and the checks every page must pass (axe-core: no serious or critical violation; no horizontal
 * scroll at phone width).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';
import { PACKAGE_ROOT } from '../../src/paths.js';

export const CHROMIUM = '/usr/bin/chromium';
/** Chromium and a built gallery are there (else a browser test skips, saying why). */
export const haveBrowser = existsSync(CHROMIUM) && existsSync(path.join(PACKAGE_ROOT, 'dist', 'web', 'index.html'));
export function warnIfNoBrowser(what: string): void {
  if (!haveBrowser) console.warn(`${what} skipped: needs ${CHROMIUM} (apt-get install chromium; .ci/run does) and a built gallery (npm run build)`);
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export interface PageOptions extends BrowserContextOptions {
  username?: string;
  password: string;
}

/** A new context (its own cookies) and page, logged in as `username` (admin by default) at `url`. */
export async function loggedInPage(browser: Browser, url: string, o: PageOptions): Promise<Page> {
  const { username = 'admin', password, ...context } = o;
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'en-US', ...context });
  const page = await ctx.newPage();
  await page.goto(url);
  await page.locator('input[name="username"]').fill(username);
  await page.locator('input[name="password"]').fill(password);
  await page.locator('form.login button[type="submit"]').click();
  await page.locator('header nav').waitFor();
  return page;
}

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[]; failureSummary?: string }[];
}

/** axe-core's serious and critical violations on the page as it is now (WCAG 2.1 A and AA rules). */
export async function seriousA11yViolations(page: Page): Promise<AxeViolation[]> {
  // Evaluated through the DevTools protocol: the gallery's Content-Security-Policy (script-src 'self') stays on.
  if (!(await page.evaluate(() => 'axe' in globalThis))) await page.evaluate(readFileSync(AXE, 'utf8'));
  const violations = await page.evaluate(async () => {
    const g = globalThis as unknown as { document: unknown; axe: { run(ctx: unknown, o: unknown): Promise<{ violations: AxeViolation[] }> } };
    const r = await g.axe.run(g.document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] }, resultTypes: ['violations'] });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target, failureSummary: n.failureSummary })),
    }));
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** A readable list of violations, for an assertion's message. */
export function describeViolations(vs: AxeViolation[]): string {
  return vs.map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`).join('\n');
}

/** How far the page scrolls sideways (0: it fits the viewport's width). */
export function horizontalOverflow(page: Page): Promise<number> {
  return page.evaluate(() => {
    type El = { scrollWidth: number; clientWidth: number };
    const doc = (globalThis as unknown as { document: { scrollingElement: El | null; documentElement: El } }).document;
    const el = doc.scrollingElement ?? doc.documentElement;
    return el.scrollWidth - el.clientWidth;
  });
}
