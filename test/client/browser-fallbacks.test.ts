// The client in a browser without Web Locks (a lease in localStorage instead) or without
// BroadcastChannel (`storage` events instead): the APIs are deleted before the page's scripts run.
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { browserHarness, chromiumAvailable } from './browser-harness.js';

const NO_LOCKS = 'delete Navigator.prototype.locks;';
const NO_CHANNEL = 'delete globalThis.BroadcastChannel;';

describe.skipIf(!chromiumAvailable)('the client in Chromium without', () => {
  const harness = browserHarness();

  describe('Web Locks', () => {
    for (const [what, initScript] of [
      ['Web Locks', NO_LOCKS],
      ['Web Locks and BroadcastChannel', NO_LOCKS + NO_CHANNEL],
    ] as const) {
      it(`without ${what}, two tabs with an expiring access token refresh exactly once`, async () => {
        const api = harness.api;
        const { context, pages } = await harness.open({ count: 2, initScript });
        const [first, second] = pages as [Page, Page];
        expect(await first.evaluate(() => sk.features.locks)).toBe(false);
        // The refresh takes 300 ms to reach the server, so both tabs want it at the same time; the
        // lease in localStorage is what keeps the second tab from spending the token again.
        let leaseSeen: string | null = null;
        await context.route('**/v1/session/refresh', async (route) => {
          await new Promise((resolve) => setTimeout(resolve, 300));
          leaseSeen = await second.evaluate(() => sk.storage.getItem(`${sk.storageKey}:lock`));
          await route.continue();
        });
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
        expect(JSON.parse(leaseSeen ?? 'null')).toMatchObject({ id: expect.any(String) });
        const tokens = await Promise.all(
          pages.map((page) => page.evaluate(() => sk.client.getTokens()?.accessToken)),
        );
        expect(tokens[0]).toBeTruthy();
        expect(tokens[0]).toBe(tokens[1]);
        // The lease is given back.
        expect(await first.evaluate(() => sk.storage.getItem(`${sk.storageKey}:lock`))).toBeNull();
      });
    }

    it('a lease left by a tab that died is taken over when it expires, and the refresh happens', async () => {
      const api = harness.api;
      const { pages } = await harness.open({ initScript: NO_LOCKS });
      const page = pages[0] as Page;
      const before = api.counts['POST /v1/session/refresh'] ?? 0;
      const { status, waitedMs } = await page.evaluate(async () => {
        // What a tab closed in the middle of its refresh leaves behind: its lease, for 1.5 s more.
        const until = Date.now() + 1500;
        sk.storage.setItem(`${sk.storageKey}:lock`, JSON.stringify({ id: 'tab-that-died', until }));
        const started = Date.now();
        sk.advance(14.8 * 60_000);
        const status = await sk.whoami();
        return { status, waitedMs: Date.now() - started, until };
      });
      expect(status).toBe(200);
      expect(waitedMs).toBeGreaterThanOrEqual(1400);
      expect(waitedMs).toBeLessThan(4000);
      expect((api.counts['POST /v1/session/refresh'] ?? 0) - before).toBe(1);
      expect(await page.evaluate(() => sk.storage.getItem(`${sk.storageKey}:lock`))).toBeNull();
    });

    it('a lease that outlives lockTimeoutMs is waited for only that long, then the tab refreshes', async () => {
      const api = harness.api;
      const { pages } = await harness.open({ initScript: NO_LOCKS, query: 'lockTimeoutMs=800' });
      const page = pages[0] as Page;
      const before = api.counts['POST /v1/session/refresh'] ?? 0;
      const { status, waitedMs } = await page.evaluate(async () => {
        const until = Date.now() + 60_000; // a dead tab configured with a far longer timeout
        sk.storage.setItem(`${sk.storageKey}:lock`, JSON.stringify({ id: 'tab-that-died', until }));
        const started = Date.now();
        sk.advance(14.8 * 60_000);
        const status = await sk.whoami();
        return { status, waitedMs: Date.now() - started };
      });
      expect(status).toBe(200);
      expect(waitedMs).toBeGreaterThanOrEqual(750);
      expect(waitedMs).toBeLessThan(3000);
      expect((api.counts['POST /v1/session/refresh'] ?? 0) - before).toBe(1);
    });
  });

  describe('BroadcastChannel', () => {
    it('new tokens reach the other tab through storage events', async () => {
      const api = harness.api;
      const { pages } = await harness.open({ count: 2, initScript: NO_CHANNEL });
      const [first, second] = pages as [Page, Page];
      expect(await second.evaluate(() => sk.features.broadcastChannel)).toBe(false);
      const old = await second.evaluate(() => sk.client.getTokens()?.accessToken);
      expect(await first.evaluate(() => sk.client.refresh())).toBe(true);
      const fresh = await first.evaluate(() => sk.client.getTokens()?.accessToken);
      expect(fresh).not.toBe(old);
      // The second tab holds the new tokens without refreshing itself...
      await second.waitForFunction((token) => sk.client.getTokens()?.accessToken === token, fresh);
      expect(await second.evaluate(() => sk.log.map((entry) => entry.event))).toEqual([]);
      // ...and sends them.
      expect(await second.evaluate(() => sk.whoami())).toBe(200);
      expect(api.authorizations.at(-1)).toEqual({
        path: '/api/whoami',
        authorization: `Bearer ${fresh}`,
      });
    });

    it('logging out in one tab logs out the other through storage events', async () => {
      const { pages } = await harness.open({ count: 2, initScript: NO_CHANNEL });
      const [first, second] = pages as [Page, Page];
      await first.evaluate(() => sk.client.logout());
      await second.waitForFunction(() => sk.client.getState().status === 'loggedOut');
      expect(await second.evaluate(() => sk.log.map((entry) => entry.event))).toEqual([
        'loggedOut',
      ]);
      expect(await second.evaluate(() => sk.client.getTokens())).toBeNull();
      expect(await second.evaluate(() => sk.whoami())).toBe(401);
    });
  });
});
