import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { pino } from 'pino';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SessionClient } from '../../packages/client/src/index.js';
import { DEFAULT_CHROMIUM_ARGS } from '../../packages/pool/src/browser/index.js';
import {
  createManualClock,
  type ManualClock,
} from '../../packages/sessionkeeper/src/core/clock.js';
import {
  createSessionEngine,
  type SessionEngine,
} from '../../packages/sessionkeeper/src/core/engine.js';
import { createSqliteStore } from '../../packages/sessionkeeper/src/sqlite/index.js';
import { CHROMIUM, chromiumAvailable } from '../pool/chromium.js';
import type { RunningApp, StartApp } from './app-contract.js';
import { startExpressApp } from './express-app.js';
import { startFastifyApp } from './fastify-app.js';
import { FileJobs } from './file-jobs.js';
import { startHonoApp } from './hono-app.js';

// Issue 19 item 3: the client SDK against an Express, a Fastify and a Hono app with the
// middleware's holder routes and no sessionkeeper service at all, in real Chromium.

/** `window.skmw` of client-page.ts. */
interface PageApi {
  client: Pick<
    SessionClient,
    'getState' | 'getTokens' | 'validate' | 'extend' | 'refresh' | 'logout'
  >;
  log: { event: string; payload: { reason?: string } }[];
  state: { allowReauthentication: boolean; reauthentications: number };
  advance(ms: number): void;
  login(): Promise<boolean>;
  get(path: string): Promise<{ status: number; body: Record<string, unknown> }>;
}
declare global {
  const skmw: PageApi;
}

const adapters: [string, StartApp][] = [
  ['express', startExpressApp],
  ['fastify', startFastifyApp],
  ['hono', startHonoApp],
];

describe.skipIf(!chromiumAvailable('the middleware-only client tests'))(
  'the client against a middleware-only app',
  () => {
    let browser: Browser | undefined;
    let bundle = '';
    let root = '';
    const closing: (() => Promise<void>)[] = [];

    beforeAll(async () => {
      const built = await build({
        entryPoints: [fileURLToPath(new URL('client-page.ts', import.meta.url))],
        bundle: true,
        format: 'esm',
        platform: 'browser',
        target: 'es2022',
        write: false,
      });
      bundle = built.outputFiles[0]?.text ?? '';
      root = await mkdtemp(join(tmpdir(), 'sk-mw-browser-'));
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [...DEFAULT_CHROMIUM_ARGS],
      });
    });
    afterEach(async () => {
      for (const close of closing.splice(0).reverse()) await close();
    });
    afterAll(async () => {
      await browser?.close();
      if (root) await rm(root, { recursive: true, force: true });
    });

    async function open(
      start: StartApp,
      transport: 'cookie' | 'bearer',
    ): Promise<{
      page: Page;
      engine: SessionEngine;
      clock: ManualClock;
      files: FileJobs;
      app: RunningApp;
    }> {
      if (!browser) throw new Error('Chromium did not start');
      const dir = await mkdtemp(join(root, 'app-'));
      const clock = createManualClock(Date.now());
      const engine = await createSessionEngine({
        store: createSqliteStore({ path: join(dir, 'sessions.db') }),
        clock,
        background: false,
        logger: pino({ level: 'silent' }),
      });
      const files = new FileJobs(join(dir, 'files'), 10);
      const app = await start({
        engine,
        files,
        options: { holderRoutes: true },
        pages: {
          '/': [
            'text/html',
            () => '<!doctype html><title>sk</title><script type="module" src="/page.js"></script>',
          ],
          '/page.js': ['text/javascript', () => bundle],
        },
      });
      const context = await browser.newContext();
      closing.push(
        () => engine.close(),
        app.close,
        () => context.close(),
      );
      const page = await context.newPage();
      page.setDefaultTimeout(5000);
      await page.goto(`${app.url}/?transport=${transport}`);
      await page.waitForFunction(() => typeof skmw === 'object');
      return { page, engine, clock, files, app };
    }

    describe.each(adapters)('%s', (_name, start) => {
      it('cookie transport: validate() starts it; requests, renew, silent re-login, loggedOut and logout', async () => {
        const { page, engine, clock, files } = await open(start, 'cookie');
        // No cookie yet: no session, and that is not an error.
        expect(await page.evaluate(() => skmw.client.validate())).toBe(false);
        expect(await page.evaluate(() => skmw.log)).toEqual([]);

        // The app's login sets the HttpOnly cookie; validate() on the app learns the session.
        expect(await page.evaluate(() => skmw.login())).toBe(true);
        expect(await page.evaluate(() => skmw.client.getState())).toMatchObject({
          status: 'active',
          secondsLeft: 1800,
        });
        const first = await page.evaluate(() => skmw.get('/api/session'));
        expect(first).toMatchObject({
          status: 200,
          body: { subject: 'browser-user', via: 'cookie' },
        });
        const sessionId = first.body.sessionId as string;

        // "Stay signed in" renews on the app: the idle deadline moves on the server.
        clock.advance(20 * 60);
        expect(await page.evaluate(() => skmw.client.extend())).toBe(true);
        const renewed = await engine.get(sessionId);
        expect(renewed?.session.lastActiveAt.getTime()).toBe(clock.now());

        // The session idles out: the app's 401 session-expired runs reauthenticate() (a new
        // cookie) and the request is retried.
        clock.advance(31 * 60);
        const again = await page.evaluate(() => skmw.get('/api/session'));
        expect(again.status).toBe(200);
        expect(again.body.sessionId).not.toBe(sessionId);
        expect(await page.evaluate(() => skmw.state.reauthentications)).toBe(1);
        expect(await page.evaluate(() => skmw.log.map((entry) => entry.event))).toEqual([
          'reauthenticated',
        ]);

        // Logout ends the session on the app, deletes the cookie, and the cleanup hooks run.
        const current = again.body.sessionId as string;
        await files.saveUpload(current, Buffer.from('hello'));
        await page.evaluate(() => skmw.client.logout());
        expect(await page.evaluate(() => skmw.client.getState().status)).toBe('loggedOut');
        expect((await engine.get(current))?.session.status).toBe('revoked');
        expect((await page.context().cookies()).map((c) => c.name)).not.toContain('sk_session');
        await engine.deliverEvents();
        expect(existsSync(files.dirOf(current))).toBe(false);
        expect((await page.evaluate(() => skmw.get('/api/session'))).status).toBe(401);

        // Signed in again; this time the session ends for good: loggedOut with the reason.
        await page.evaluate(() => skmw.login());
        await page.evaluate(() => {
          skmw.state.allowReauthentication = false;
        });
        clock.advance(31 * 60);
        const ended = await page.evaluate(() => skmw.get('/api/session'));
        expect(ended).toMatchObject({ status: 401, body: { code: 'SESSION_EXPIRED' } });
        expect(await page.evaluate(() => skmw.client.getState().status)).toBe('loggedOut');
        expect(await page.evaluate(() => skmw.log.at(-1))).toMatchObject({
          event: 'loggedOut',
          payload: { reason: 'SESSION_EXPIRED' },
        });
      });

      it('bearer transport: access tokens on the app, refreshed through the app before they expire', async () => {
        const { page, engine } = await open(start, 'bearer');
        await page.evaluate(() => skmw.login());
        const before = await page.evaluate(() => skmw.client.getTokens());
        expect(before?.refreshToken).toBeTruthy();
        expect(await page.evaluate(() => skmw.get('/api/session'))).toMatchObject({
          status: 200,
          body: { subject: 'browser-user', via: 'access-token' },
        });

        // Inside the refresh leeway: the next request refreshes first (POST /v1/session/refresh
        // on the app), then goes out with the new access token.
        await page.evaluate(() => skmw.advance(14.8 * 60_000));
        expect((await page.evaluate(() => skmw.get('/api/session'))).status).toBe(200);
        const after = await page.evaluate(() => skmw.client.getTokens());
        expect(after?.accessToken).not.toBe(before?.accessToken);
        expect(after?.refreshToken).not.toBe(before?.refreshToken);
        expect(await page.evaluate(() => skmw.log.map((entry) => entry.event))).toEqual([
          'refreshed',
        ]);
        expect((await engine.verifyAccessToken(after?.accessToken ?? '')).ok).toBe(true);

        // An explicit refresh, then logout with the session token through the app.
        expect(await page.evaluate(() => skmw.client.refresh())).toBe(true);
        const verified = await engine.verifyAccessToken(after?.accessToken ?? '');
        if (!verified.ok) throw verified.error;
        const sid = verified.claims.sid;
        await page.evaluate(() => skmw.client.logout());
        expect((await engine.get(sid))?.session.status).toBe('revoked');
        expect(await page.evaluate(() => skmw.client.getState().status)).toBe('loggedOut');
      });
    });
  },
);
