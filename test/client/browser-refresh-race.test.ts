// Tabs of one origin calling refresh() at the same moment, round after round, in real Chromium:
// one of them spends the refresh token and the others must use its successor. A tab that spends
// the rotated token again (it read the stored tokens before the winner's write reached it) is a
// double spend, counted here from what the server received, not from what it answered (the
// server's grace for a rotated token would hide it).
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { browserHarness, chromiumAvailable } from './browser-harness.js';

const ROUNDS = 200;
/** How far apart the tabs of a round start (ms): about the time one refresh takes here. */
const JITTER_MS = 8;
const NO_LOCKS = 'delete Navigator.prototype.locks;';

describe.skipIf(!chromiumAvailable)('tabs calling refresh() at once', () => {
  const harness = browserHarness();

  for (const [how, initScript] of [
    ['with Web Locks', ''],
    ['with the IndexedDB lease (no Web Locks)', NO_LOCKS],
  ] as const)
    for (const count of [2, 3])
      it(`${count} tabs ${how}: ${ROUNDS} rounds, no refresh token spent twice`, async () => {
        const api = harness.api;
        const { pages } = await harness.open({
          count,
          initScript,
          query: 'maxRefreshesPerMinute=1000000',
        });
        expect(await pages[0]?.evaluate(() => sk.features.locks)).toBe(initScript === '');
        const first = api.refreshTokens.length;
        let roundsWithDoubleSpend = 0;
        for (let round = 0; round < ROUNDS; round++) {
          const start = api.refreshTokens.length;
          // The tabs start within a few milliseconds of one another (one clock for all tabs, not
          // their turns in the DevTools protocol): sometimes all while the first refresh is in
          // flight, sometimes one just as the first has stored its answer.
          const at = Date.now() + 15;
          const results = await Promise.all(
            pages.map((page) =>
              page.evaluate(
                async (at) => {
                  await new Promise((resolve) => setTimeout(resolve, at - Date.now()));
                  return sk.client.refresh();
                },
                at + Math.random() * JITTER_MS,
              ),
            ),
          );
          expect(results, `round ${round}`).toEqual(pages.map(() => true));
          const presented = api.refreshTokens.slice(start);
          expect(presented.length, `round ${round}`).toBeGreaterThanOrEqual(1);
          if (new Set(presented).size < presented.length) roundsWithDoubleSpend++;
          await converged(pages);
        }
        const all = api.refreshTokens.slice(first);
        const spentTwice = all.length - new Set(all).size;
        expect(
          { roundsWithDoubleSpend, spentTwice },
          `${all.length} refreshes in ${ROUNDS} rounds`,
        ).toEqual({ roundsWithDoubleSpend: 0, spentTwice: 0 });
        // Nobody gave up: no refresh failed, nobody was logged out.
        for (const page of pages)
          expect(
            await page.evaluate(() => sk.log.filter((entry) => entry.event !== 'refreshed')),
          ).toEqual([]);
      }, 90_000);

  it('tabs whose clocks differ keep the newer pair, not the one stamped later', async () => {
    const api = harness.api;
    const { pages } = await harness.open({ count: 2 });
    const [first, second] = pages as [Page, Page];
    // The second tab's clock runs a minute ahead (not enough to make any token due).
    await second.evaluate(() => sk.advance(60_000));
    const before = api.refreshTokens.length;
    expect(await second.evaluate(() => sk.client.refresh())).toBe(true);
    await first.waitForFunction(
      (token) => sk.client.getTokens()?.refreshToken === token,
      await second.evaluate(() => sk.client.getTokens()?.refreshToken),
    );
    // The first tab's pair arrives at the second stamped a minute earlier than the one it holds.
    expect(await first.evaluate(() => sk.client.refresh())).toBe(true);
    const newest = await first.evaluate(() => sk.client.getTokens()?.refreshToken);
    await second.waitForFunction((token) => sk.client.getTokens()?.refreshToken === token, newest, {
      timeout: 3000,
    });
    expect(await second.evaluate(() => sk.client.refresh())).toBe(true);
    const presented = api.refreshTokens.slice(before);
    expect(presented).toHaveLength(3);
    expect(new Set(presented).size).toBe(3);
  });

  it('tokens handed over that never arrive are waited for a bounded time, then reported', async () => {
    const api = harness.api;
    // lockTimeoutMs 800: the wait for a handed-over pair is at most a quarter of it, 200 ms.
    const { pages } = await harness.open({ query: 'lockTimeoutMs=800' });
    const page = pages[0] as Page;
    const before = api.refreshTokens.length;
    const outcome = await page.evaluate(async () => {
      // A holder that handed over a pair this tab will never receive (its storage was cleared).
      const gen = Date.now() + 3_600_000;
      await sk.handOff((record) => ({ until: 0, ...record, gen }));
      const started = Date.now();
      const refreshed = await sk.client.refresh();
      const waitedMs = Date.now() - started;
      // The pair it got instead is newer than anything handed over: the next refresh waits for none.
      const again = Date.now();
      const second = await sk.client.refresh();
      return {
        refreshed,
        second,
        waitedMs,
        secondMs: Date.now() - again,
        newer: (sk.client.getTokens()?.generation ?? 0) > gen,
        errors: sk.log
          .filter((entry) => entry.event === 'error')
          .map((entry) => (entry.payload as { code: string }).code),
      };
    });
    expect(outcome).toMatchObject({ refreshed: true, second: true, newer: true });
    expect(outcome.errors).toEqual(['HANDOFF_TIMEOUT']);
    expect(outcome.waitedMs).toBeGreaterThanOrEqual(190);
    expect(outcome.waitedMs).toBeLessThan(3000);
    expect(outcome.secondMs).toBeLessThan(190);
    expect(api.refreshTokens.length - before).toBe(2);
  });
});

/** Waits until every tab holds the same tokens (the next round starts from one known pair). */
async function converged(pages: Page[]): Promise<void> {
  for (const until = Date.now() + 5000; ; ) {
    const held = await Promise.all(
      pages.map((page) => page.evaluate(() => sk.client.getTokens()?.refreshToken)),
    );
    if (held.every((tokens) => tokens === held[0])) return;
    if (Date.now() > until) throw new Error(`the tabs hold different tokens: ${held.join(' / ')}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
