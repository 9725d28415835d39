import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY } from '../server/harness.js';
import { type ApiServer, startApiServer } from './api-server.js';

const CHROMIUM = '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available && process.env.CI)
  throw new Error(
    `${CHROMIUM} is missing: CI must install Debian's chromium for the browser tests`,
  );
if (!available) console.warn(`skipping the browser tests: ${CHROMIUM} is not installed`);

interface PageApi {
  client: {
    getState(): { status: string; secondsLeft?: number };
    getTokens(): { accessToken?: string } | null;
    logout(): Promise<void>;
  };
  log: { event: string; payload: unknown }[];
  advance(ms: number): void;
  login(apiKey: string): Promise<void>;
  whoami(): Promise<number>;
}
declare const sk: PageApi;

describe.skipIf(!available)('the client in Chromium', () => {
  let api: ApiServer;
  let browser: Browser;
  let bundle: string;

  beforeAll(async () => {
    const built = await build({
      entryPoints: [fileURLToPath(new URL('browser-page.ts', import.meta.url))],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      define: { 'process.env.NODE_ENV': '"production"' },
      write: false,
    });
    bundle = built.outputFiles[0]?.text ?? '';
    api = await startApiServer({
      pages: {
        '/': [
          'text/html',
          '<!doctype html><title>sk</title><div id="root"></div><script type="module" src="/page.js"></script>',
        ],
        '/page.js': ['text/javascript', () => bundle],
      },
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await api?.close();
  });

  async function tabs(count: number): Promise<{ context: BrowserContext; pages: Page[] }> {
    const context = await browser.newContext();
    const pages: Page[] = [];
    for (let i = 0; i < count; i++) {
      const page = await context.newPage();
      page.setDefaultTimeout(5000);
      await page.goto(`${api.url}/`);
      await page.waitForFunction(() => typeof sk === 'object');
      if (i === 0) await page.evaluate((key) => sk.login(key), API_KEY);
      pages.push(page);
    }
    // Tabs opened after the login read the tokens from localStorage.
    for (const page of pages)
      await page.waitForFunction(() => sk.client.getState().status === 'active');
    return { context, pages };
  }

  it('two tabs with an expiring access token refresh exactly once between them', async () => {
    const { context, pages } = await tabs(2);
    const before = api.counts['POST /v1/session/refresh'] ?? 0;
    const statuses = await Promise.all(
      pages.map((page) =>
        page.evaluate(() => {
          sk.advance(14.8 * 60_000); // inside the refresh leeway in both tabs
          return sk.whoami();
        }),
      ),
    );
    expect(statuses).toEqual([200, 200]);
    expect((api.counts['POST /v1/session/refresh'] ?? 0) - before).toBe(1);
    const tokens = await Promise.all(
      pages.map((page) => page.evaluate(() => sk.client.getTokens()?.accessToken)),
    );
    expect(tokens[0]).toBeTruthy();
    expect(tokens[0]).toBe(tokens[1]);
    await context.close();
  });

  it('shows the seconds left before the session ends, and "Stay signed in" extends it', async () => {
    const { context, pages } = await tabs(1);
    const page = pages[0] as Page;
    await page.evaluate(() => sk.advance((1800 - 45) * 1000)); // the session idles out in 30 minutes
    await page.waitForSelector('[role="alertdialog"]');
    const seconds = Number(await page.textContent('[data-seconds-left]'));
    expect(seconds).toBeGreaterThanOrEqual(44);
    expect(seconds).toBeLessThanOrEqual(45);
    const renewals = api.counts['POST /v1/session/renew'] ?? 0;
    await page.click('text=Stay signed in');
    await page.waitForSelector('[role="alertdialog"]', { state: 'detached' });
    expect(api.counts['POST /v1/session/renew']).toBe(renewals + 1);
    expect(await page.evaluate(() => sk.client.getState().secondsLeft)).toBeGreaterThan(1700);
    await context.close();
  });

  it('logging out in one tab logs out the other', async () => {
    const { context, pages } = await tabs(2);
    const [first, second] = pages as [Page, Page];
    await first.evaluate(() => sk.client.logout());
    await second.waitForFunction(() => sk.client.getState().status === 'loggedOut');
    expect(await second.evaluate(() => sk.log.some((entry) => entry.event === 'loggedOut'))).toBe(
      true,
    );
    expect(await second.evaluate(() => sk.client.getTokens())).toBeNull();
    expect(await second.evaluate(() => sk.whoami())).toBe(401);
    await context.close();
  });
});
