import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { DEFAULT_CHROMIUM_ARGS } from '../../packages/pool/src/browser/index.js';
import { API_KEY } from '../server/harness.js';
import { type ApiServer, startApiServer } from './api-server.js';

const CHROMIUM = '/usr/bin/chromium';
export const chromiumAvailable = existsSync(CHROMIUM);
if (!chromiumAvailable && process.env.CI)
  throw new Error(
    `${CHROMIUM} is missing: CI must install Debian's chromium for the browser tests`,
  );
if (!chromiumAvailable) console.warn(`skipping the browser tests: ${CHROMIUM} is not installed`);

/** `window.sk` of browser-page.ts, as the tests call it inside `page.evaluate`. */
export interface PageApi {
  client: {
    getState(): { status: string; secondsLeft?: number };
    getTokens(): {
      token?: string;
      accessToken?: string;
      refreshToken?: string;
      sessionExpiresAt?: number;
      generation?: number;
    } | null;
    logout(): Promise<void>;
    refresh(): Promise<boolean>;
    validate(): Promise<boolean>;
    extend(): Promise<boolean>;
  };
  log: { event: string; payload: unknown }[];
  storageKey: string;
  storage: { getItem(key: string): string | null; setItem(key: string, value: string): void };
  features: { locks: boolean; indexedDB: boolean; broadcastChannel: boolean };
  handOff(change?: (record: HandOffRecord | null) => HandOffRecord): Promise<HandOffRecord | null>;
  advance(ms: number): void;
  login(apiKey: string): Promise<void>;
  whoami(): Promise<number>;
  get(path: string): Promise<{ status: number; body: unknown }>;
}

/** The cross-tab hand-off record: the newest generation handed over, and the lease without Web Locks. */
export interface HandOffRecord {
  gen: number;
  until: number;
  id?: string;
}

declare global {
  const sk: PageApi;
}

export interface OpenOptions {
  /** Tabs in one browser context (they share localStorage and cookies). Default 1. */
  count?: number;
  /** The first tab signs in. Default true. */
  login?: boolean;
  /** The page's query string (see browser-page.ts), e.g. `transport=cookie`. */
  query?: string;
  /** Runs in every tab before the page's scripts (e.g. to remove an API the client would use). */
  initScript?: string;
  /** The server to load the page from. Default the harness's. */
  api?: ApiServer;
}

export interface BrowserHarness {
  /** The API server (manual clock) that serves the page. */
  readonly api: ApiServer;
  /** Opens tabs on the page and waits until each has a session (when `login`). */
  open(options?: OpenOptions): Promise<{ context: BrowserContext; pages: Page[] }>;
  /** Another API server serving the page (closed after all tests). */
  serve(options?: Parameters<typeof startApiServer>[0]): Promise<ApiServer>;
}

/**
 * One Chromium and one API server for a test file (registers `beforeAll`/`afterAll`); the browser
 * contexts a test opens are closed after it.
 */
export function browserHarness(): BrowserHarness {
  let api: ApiServer | undefined;
  let browser: Browser | undefined;
  let bundle = '';
  const servers: ApiServer[] = [];
  const contexts: BrowserContext[] = [];
  const pages: Parameters<typeof startApiServer>[0] = {
    pages: {
      '/': [
        'text/html',
        '<!doctype html><title>sk</title><div id="root"></div><script type="module" src="/page.js"></script>',
      ],
      '/page.js': ['text/javascript', () => bundle],
    },
  };

  const serve = async (options: Parameters<typeof startApiServer>[0] = {}) => {
    const server = await startApiServer({ ...options, ...pages });
    servers.push(server);
    return server;
  };

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
    api = await serve();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [...DEFAULT_CHROMIUM_ARGS],
    });
  });
  afterEach(async () => {
    for (const context of contexts.splice(0)) await context.close();
  });
  afterAll(async () => {
    await browser?.close();
    for (const server of servers) await server.close();
  });

  return {
    get api() {
      if (!api) throw new Error('the browser harness has not started');
      return api;
    },
    serve,
    async open(options = {}) {
      if (!browser || !api) throw new Error('the browser harness has not started');
      const server = options.api ?? api;
      const context = await browser.newContext();
      contexts.push(context);
      if (options.initScript) await context.addInitScript({ content: options.initScript });
      const opened: Page[] = [];
      for (let i = 0; i < (options.count ?? 1); i++) {
        const page = await context.newPage();
        page.setDefaultTimeout(5000);
        await page.goto(`${server.url}/${options.query ? `?${options.query}` : ''}`);
        await page.waitForFunction(() => typeof sk === 'object');
        if (i === 0 && options.login !== false)
          await page.evaluate((key) => sk.login(key), API_KEY);
        opened.push(page);
      }
      // Tabs opened after the login read the session from localStorage.
      if (options.login !== false)
        for (const page of opened)
          await page.waitForFunction(() =>
            ['active', 'expiring'].includes(sk.client.getState().status),
          );
      return { context, pages: opened };
    },
  };
}
