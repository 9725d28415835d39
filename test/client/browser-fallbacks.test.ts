// The client in a browser without Web Locks (a lease in IndexedDB instead), without IndexedDB
// either (no lock) or without BroadcastChannel (`storage` events instead): the APIs are deleted
// before the page's scripts run.
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { browserHarness, chromiumAvailable, type HandOffRecord } from './browser-harness.js';

const NO_LOCKS = 'delete Navigator.prototype.locks;';
const NO_CHANNEL = 'delete globalThis.BroadcastChannel;';
const NO_INDEXEDDB = 'delete globalThis.indexedDB;';

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
        // lease in IndexedDB is what keeps the second tab from spending the token again.
        let leaseSeen: HandOffRecord | null = null;
        await context.route('**/v1/session/refresh', async (route) => {
          await new Promise((resolve) => setTimeout(resolve, 300));
          leaseSeen = await second.evaluate(() => sk.handOff());
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
        expect(leaseSeen).toMatchObject({ id: expect.any(String), until: expect.any(Number) });
        const tokens = await Promise.all(
          pages.map((page) => page.evaluate(() => sk.client.getTokens())),
        );
        expect(tokens[0]?.accessToken).toBeTruthy();
        expect(tokens[0]?.accessToken).toBe(tokens[1]?.accessToken);
        // The lease is given back, with the new pair's generation for the next holder.
        expect(await first.evaluate(() => sk.handOff())).toEqual({
          gen: tokens[0]?.generation,
          until: 0,
        });
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
        await sk.handOff((record) => ({ gen: record?.gen ?? 0, id: 'tab-that-died', until }));
        const started = Date.now();
        sk.advance(14.8 * 60_000);
        const status = await sk.whoami();
        return { status, waitedMs: Date.now() - started, until };
      });
      expect(status).toBe(200);
      expect(waitedMs).toBeGreaterThanOrEqual(1400);
      expect(waitedMs).toBeLessThan(4000);
      expect((api.counts['POST /v1/session/refresh'] ?? 0) - before).toBe(1);
      expect(await page.evaluate(() => sk.handOff())).toMatchObject({ until: 0 });
    });

    it('a lease that outlives lockTimeoutMs is waited for only that long, then the tab refreshes', async () => {
      const api = harness.api;
      const { pages } = await harness.open({ initScript: NO_LOCKS, query: 'lockTimeoutMs=800' });
      const page = pages[0] as Page;
      const before = api.counts['POST /v1/session/refresh'] ?? 0;
      const { status, waitedMs } = await page.evaluate(async () => {
        const until = Date.now() + 60_000; // a dead tab configured with a far longer timeout
        await sk.handOff((record) => ({ gen: record?.gen ?? 0, id: 'tab-that-died', until }));
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

  it('without Web Locks and IndexedDB, tabs refresh unlocked, and still refresh', async () => {
    const api = harness.api;
    const { pages } = await harness.open({ count: 2, initScript: NO_LOCKS + NO_INDEXEDDB });
    const [first, second] = pages as [Page, Page];
    expect(await first.evaluate(() => sk.features)).toMatchObject({
      locks: false,
      indexedDB: false,
    });
    const before = api.counts['POST /v1/session/refresh'] ?? 0;
    expect(await first.evaluate(() => sk.client.refresh())).toBe(true);
    const fresh = await first.evaluate(() => sk.client.getTokens()?.accessToken);
    await second.waitForFunction((token) => sk.client.getTokens()?.accessToken === token, fresh);
    expect(await second.evaluate(() => sk.client.refresh())).toBe(true);
    expect((api.counts['POST /v1/session/refresh'] ?? 0) - before).toBe(2);
    for (const page of pages)
      expect(await page.evaluate(() => sk.log.map((e) => e.event))).toEqual(['refreshed']);
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
