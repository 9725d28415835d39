// pool.stats(): the totals, the breaker, and per key its sessions (state, uses, age, last check)
// and its expiries and recoveries: what a status endpoint (the example's GET /pool) shows.
import { describe, expect, it } from 'vitest';
import { createSessionPool, type HttpSession } from '../../packages/pool/src/index.js';
import { createManualClock } from '../../packages/sessionkeeper/src/core/clock.js';
import { gate, signedInAs, siteKind, startSite } from './http-site.js';

async function accountOf(session: HttpSession): Promise<string | undefined> {
  return signedInAs(await (await session.fetch('/account')).text());
}

describe('pool.stats()', () => {
  it('per key: sessions with state, uses, age and last check; expiries and recoveries; the breaker', async () => {
    const site = await startSite();
    const clock = createManualClock(Date.parse('2026-03-01T10:00:00Z'));
    const pool = createSessionPool({ kind: siteKind(site), background: false, clock });
    try {
      expect(pool.stats()).toEqual({
        sessions: 0,
        healthy: 0,
        inUse: 0,
        waiting: 0,
        loggingIn: 0,
        breaker: 'closed',
        keys: [],
      });
      await pool.use('alice', accountOf);
      await pool.use('bob', accountOf);
      clock.advance(90);
      await pool.use('alice', accountOf);

      // One operation of alice meets an expiry and recovers; one of bob is running.
      site.expireSessions('alice');
      expect(await pool.use('alice', accountOf)).toBe('alice');
      const running = gate();
      const bob = pool.use('bob', async (session) => {
        await running.promise;
        return accountOf(session);
      });
      await new Promise((resolve) => setTimeout(resolve, 50));

      const stats = pool.stats();
      expect(stats).toMatchObject({ sessions: 2, healthy: 2, inUse: 1, breaker: 'closed' });
      expect(stats.keys.map((k) => k.key)).toEqual(['alice', 'bob']);
      const [alice, bobStats] = stats.keys;
      expect(alice).toMatchObject({ waiting: 0, loggingIn: 0, expiries: 1, recoveries: 1 });
      // The replacement has served the rerun; it logged in at the moved clock.
      expect(alice?.sessions).toEqual([
        {
          slotId: '0',
          state: 'idle',
          inUse: 0,
          uses: 1,
          ageSeconds: 0,
          lastCheckedAt: '2026-03-01T10:01:30.000Z',
          lastUsedAt: '2026-03-01T10:01:30.000Z',
          resumed: false,
        },
      ]);
      expect(bobStats).toMatchObject({ expiries: 0, recoveries: 0 });
      expect(bobStats?.sessions).toEqual([
        {
          slotId: '0',
          state: 'in-use',
          inUse: 1,
          uses: 2,
          ageSeconds: 90,
          lastCheckedAt: '2026-03-01T10:00:00.000Z',
          lastUsedAt: '2026-03-01T10:00:00.000Z',
          resumed: false,
        },
      ]);
      // Nothing secret in it.
      expect(JSON.stringify(stats)).not.toMatch(/fa_session|secret/);
      running.open();
      expect(await bob).toBe('bob');
    } finally {
      await pool.close();
    }
  });
});
