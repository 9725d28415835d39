import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../packages/sessionkeeper/src/core/clock.js';
import { API_KEY } from '../server/harness.js';
import { browserHarness, chromiumAvailable } from './browser-harness.js';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!chromiumAvailable)('the client in Chromium', () => {
  const harness = browserHarness();
  const tabs = (count: number) => harness.open({ count });

  it('two tabs with an expiring access token refresh exactly once between them', async () => {
    const { pages } = await tabs(2);
    const before = harness.api.counts['POST /v1/session/refresh'] ?? 0;
    const statuses = await Promise.all(
      pages.map((page) =>
        page.evaluate(() => {
          sk.advance(14.8 * 60_000); // inside the refresh leeway in both tabs
          return sk.whoami();
        }),
      ),
    );
    expect(statuses).toEqual([200, 200]);
    expect((harness.api.counts['POST /v1/session/refresh'] ?? 0) - before).toBe(1);
    const tokens = await Promise.all(
      pages.map((page) => page.evaluate(() => sk.client.getTokens()?.accessToken)),
    );
    expect(tokens[0]).toBeTruthy();
    expect(tokens[0]).toBe(tokens[1]);
  });

  it('shows the seconds left before the session ends, and "Stay signed in" extends it', async () => {
    const { pages } = await tabs(1);
    const page = pages[0] as Page;
    await page.evaluate(() => sk.advance((1800 - 45) * 1000)); // the session idles out in 30 minutes
    await page.waitForSelector('[role="alertdialog"]');
    const seconds = Number(await page.textContent('[data-seconds-left]'));
    expect(seconds).toBeGreaterThanOrEqual(44);
    expect(seconds).toBeLessThanOrEqual(45);
    const renewals = harness.api.counts['POST /v1/session/renew'] ?? 0;
    await page.click('text=Stay signed in');
    await page.waitForSelector('[role="alertdialog"]', { state: 'detached' });
    expect(harness.api.counts['POST /v1/session/renew']).toBe(renewals + 1);
    expect(await page.evaluate(() => sk.client.getState().secondsLeft)).toBeGreaterThan(1700);
  });

  it('logging out in one tab logs out the other', async () => {
    const { pages } = await tabs(2);
    const [first, second] = pages as [Page, Page];
    await first.evaluate(() => sk.client.logout());
    await second.waitForFunction(() => sk.client.getState().status === 'loggedOut');
    expect(await second.evaluate(() => sk.log.some((entry) => entry.event === 'loggedOut'))).toBe(
      true,
    );
    expect(await second.evaluate(() => sk.client.getTokens())).toBeNull();
    expect(await second.evaluate(() => sk.whoami())).toBe(401);
  });

  it('useSession and useExpiryWarning re-render on every change, in every tab', async () => {
    const { pages } = await harness.open({ count: 2, login: false });
    const [first, second] = pages as [Page, Page];
    const status = (page: Page) => page.getAttribute('#status', 'data-status');
    expect(await status(first)).toBe('none');
    await first.evaluate((key) => sk.login(key), API_KEY);
    await first.waitForSelector('#status[data-status="active"]');
    await second.waitForSelector('#status[data-status="active"]'); // the tokens came by message

    // The hook's fetch is the client's: it carries the token.
    await first.click('text=Who am I');
    await first.waitForSelector('#status[data-answer="200"]');

    // The countdown re-renders each second from the client's own timer.
    await first.evaluate(() => sk.advance((1800 - 20) * 1000));
    await first.waitForSelector('#status[data-expiring="true"]');
    const seconds = Number(await first.getAttribute('#status', 'data-seconds'));
    expect(seconds).toBeGreaterThanOrEqual(19);
    expect(seconds).toBeLessThanOrEqual(20);
    // Every second is shown, none skipped: sample the rendered value for 2.5 s.
    const shown = new Set<number>();
    for (const until = Date.now() + 2500; Date.now() < until; await pause(100))
      shown.add(Number(await first.getAttribute('#status', 'data-seconds')));
    expect([...shown].sort((a, b) => b - a).slice(0, 3)).toEqual([
      seconds,
      seconds - 1,
      seconds - 2,
    ]);
    expect(await first.textContent('[role="alertdialog"]')).toMatch(/Your session ends in \d+ s/);

    // "Sign out" through the hook ends the session on the server and in both tabs' trees.
    const logouts = harness.api.counts['DELETE /v1/session'] ?? 0;
    await first.click('text=Sign out');
    await first.waitForSelector('#status[data-status="loggedOut"]');
    await second.waitForSelector('#status[data-status="loggedOut"]');
    expect(await first.$('[role="alertdialog"]')).toBeNull();
    expect(harness.api.counts['DELETE /v1/session']).toBe(logouts + 1);
  });

  it('cookie transport: the HttpOnly cookie is the only credential, for requests, renew, re-login and logout', async () => {
    const api = harness.api;
    const { context, pages } = await harness.open({ query: 'transport=cookie', login: false });
    const page = pages[0] as Page;
    // No cookie yet: validate() finds no session, and that is not an error.
    const validations = api.counts['POST /v1/session/validate'] ?? 0;
    expect(await page.evaluate(() => sk.client.validate())).toBe(false);
    expect(api.counts['POST /v1/session/validate']).toBe(validations + 1);
    expect(await page.evaluate(() => sk.log)).toEqual([]);
    expect(await page.evaluate(() => sk.client.getState().status)).toBe('none');

    await page.evaluate((key) => sk.login(key), API_KEY); // the app's login, then validate()
    expect(await page.evaluate(() => sk.client.getState().status)).toBe('active');
    // The middleware's login set the cookie; the page can neither read it nor store it.
    const cookie = (await context.cookies()).find((c) => c.name === 'sk_session');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/' });
    expect(await page.evaluate('document.cookie')).not.toContain('sk_session');
    const stored = await page.evaluate(() => sk.storage.getItem(sk.storageKey));
    expect(Object.keys(JSON.parse(stored ?? '{}')).sort()).toEqual([
      'receivedAt',
      'sessionExpiresAt',
    ]);
    expect(await page.evaluate(() => sk.client.getState().secondsLeft)).toBe(1800);

    // Requests carry the cookie and no Authorization header.
    expect(await page.evaluate(() => sk.get('/app/me'))).toEqual({
      status: 200,
      body: { subject: 'cookie-user', via: 'cookie' },
    });
    expect(api.authorizations.at(-1)).toEqual({ path: '/app/me', authorization: undefined });

    // "Stay signed in" renews through the cookie.
    const renewals = api.counts['POST /v1/session/renew'] ?? 0;
    expect(await page.evaluate(() => sk.client.extend())).toBe(true);
    expect(api.counts['POST /v1/session/renew']).toBe(renewals + 1);

    // The session idles out on the server: the next request signs in again silently (a new
    // cookie) and is retried.
    const logins = api.counts['POST /app/login'] ?? 0;
    api.clock.advance(31 * 60);
    expect(await page.evaluate(() => sk.get('/app/me'))).toMatchObject({ status: 200 });
    expect(api.counts['POST /app/login']).toBe(logins + 1);
    expect(await page.evaluate(() => sk.log.map((entry) => entry.event))).toEqual([
      'reauthenticated',
    ]);

    // Logout revokes the cookie's session on the server, and the server deletes the cookie.
    const held = (await context.cookies()).find((c) => c.name === 'sk_session')?.value;
    expect(held).toMatch(/^sks_/);
    const logouts = api.counts['DELETE /v1/session'] ?? 0;
    await page.evaluate(() => sk.client.logout());
    expect(api.counts['DELETE /v1/session']).toBe(logouts + 1);
    expect(await page.evaluate(() => sk.client.getState().status)).toBe('loggedOut');
    expect((await context.cookies()).map((c) => c.name)).not.toContain('sk_session');
    const revoked = await fetch(`${api.url}/v1/session/validate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${held}` },
    });
    expect(revoked.status).toBe(401);
    expect(((await revoked.json()) as { code: string }).code).toBe('SESSION_REVOKED');
  });

  it('real input keeps the session renewed; without input the keep-alive stops and the session idles out', async () => {
    // A server on the real clock with a 2 s idle timeout; the client renews at most every 0.3 s
    // and counts the user idle after 1.2 s without input. No request is made: only input.
    const live = await harness.serve({
      engine: { clock: systemClock, idleTimeoutSeconds: 2, touchIntervalSeconds: 0.1 },
    });
    const { pages } = await harness.open({ api: live, query: 'keepAlive=0.3,1.2' });
    const page = pages[0] as Page;
    const accessToken = await page.evaluate(() => sk.client.getTokens()?.accessToken);
    const verified = await live.engine.verifyAccessToken(accessToken ?? '');
    if (!verified.ok) throw verified.error;
    const sessionStatus = async () => (await live.engine.get(verified.claims.sid))?.session.status;
    const renewals = () => live.counts['POST /v1/session/renew'] ?? 0;

    // Mouse moves only, for 1.2 s: renewals.
    for (let i = 0; i < 8; i++) {
      await page.mouse.move(20 + i * 10, 40 + i * 5);
      await pause(150);
    }
    expect(renewals()).toBeGreaterThanOrEqual(1);
    // Keys only, for longer than renewal interval + idle timeout: the session is still active at
    // the end only if keys caused a renewal (the last one the mouse caused came by 1.5 s).
    for (let i = 0; i < 16; i++) {
      await page.keyboard.press('KeyA');
      await pause(150);
    }
    expect(await sessionStatus()).toBe('active');

    // No more input: at most the renewal already due happens, then none.
    await pause(1300);
    const settled = renewals();
    await pause(2000);
    expect(renewals()).toBe(settled);
    expect(await sessionStatus()).toBe('expired');
    expect(live.counts['POST /v1/session/refresh'] ?? 0).toBe(0);
  });

  it('an idle tab does not refresh on its timer; its first input refreshes at once', async () => {
    const { pages } = await harness.open();
    const page = pages[0] as Page;
    const refreshes = () => harness.api.counts['POST /v1/session/refresh'] ?? 0;
    const before = refreshes();
    // The access token is due, but nobody has touched the tab: nothing is sent.
    await page.evaluate(() => sk.advance(14.8 * 60_000));
    await pause(400);
    expect(refreshes()).toBe(before);
    // A mouse move is activity: the refresh follows without any request from the app.
    await page.mouse.move(50, 50);
    await page.waitForFunction(() => sk.log.some((entry) => entry.event === 'refreshed'));
    expect(refreshes()).toBe(before + 1);
  });
});
