import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import {
  createSessionPool,
  type HttpSession,
  type PoolEvents,
  type RetireReason,
} from '../../packages/pool/src/index.js';
import { createManualClock } from '../../packages/sessionkeeper/src/core/clock.js';
import { gate, nextEvent, signedInAs, siteKind, startSite } from './http-site.js';

async function accountOf(session: HttpSession): Promise<string | undefined> {
  return signedInAs(await (await session.fetch('/account')).text());
}

describe('background work', () => {
  it('the health check replaces an expired idle session before its next use', async () => {
    const site = await startSite();
    const pool = createSessionPool({ kind: siteKind(site), checkIntervalSeconds: 0.1, jitter: 0 });
    const phases: string[] = [];
    pool.on('expired', (e) => phases.push(e.phase));
    await pool.use('alice', accountOf);
    const replaced = nextEvent<PoolEvents['replaced']>((l) => pool.on('replaced', l));
    site.expireSessions();

    expect(await replaced).toMatchObject({ key: 'alice', reason: 'expired' });
    const hitsBefore = site.stats().expiredHits;
    const attempts: number[] = [];
    expect(
      await pool.use('alice', async (session, { attempt }) => {
        attempts.push(attempt);
        return accountOf(session);
      }),
    ).toBe('alice');
    expect(attempts).toEqual([1]);
    expect(site.stats().expiredHits).toBe(hitsBefore); // the operation met no expired session
    expect(phases).toEqual(['check']);
    expect(site.stats().logins).toBe(2);
    await pool.close();
  });

  // Real time on purpose: the upstream's own idle timeout is what the refresh has to beat.
  for (const refreshing of [true, false]) {
    it(
      refreshing
        ? 'the periodic refresh keeps an idle session alive past the upstream idle timeout'
        : '(control) without the refresh, the same idle session expires upstream',
      async () => {
        const site = await startSite({ idleTimeoutSeconds: 0.4 });
        const pool = createSessionPool({
          kind: siteKind(site),
          refreshIntervalSeconds: refreshing ? 0.1 : 3600,
          checkIntervalSeconds: 3600,
          jitter: 0,
        });
        const phases: string[] = [];
        pool.on('expired', (e) => phases.push(e.phase));
        await pool.use('alice', accountOf);
        await sleep(1200);
        expect(await pool.use('alice', accountOf)).toBe('alice');
        if (refreshing) {
          expect(phases).toEqual([]);
          expect(site.stats().logins).toBe(1);
          expect(site.requestsTo('/account')).toBeGreaterThanOrEqual(5); // the refreshes
        } else {
          expect(phases).toEqual(['operation']);
          expect(site.stats().logins).toBe(2);
        }
        await pool.close();
      },
    );
  }

  it('never probes or refreshes a session that is in use', async () => {
    const site = await startSite();
    const clock = createManualClock();
    const pool = createSessionPool({
      kind: siteKind(site),
      background: false,
      checkIntervalSeconds: 20,
      refreshIntervalSeconds: 120,
      jitter: 0,
      clock,
    });
    await pool.use('alice', accountOf);
    const hold = gate();
    const started = gate();
    const busy = pool.use('alice', async () => {
      started.open();
      await hold.promise;
    });
    await started.promise;
    clock.advance(121);
    const before = site.stats().requests;
    expect(await pool.maintain()).toEqual({ checked: 0, refreshed: 0, replacing: 0 });
    expect(site.stats().requests).toBe(before);
    hold.open();
    await busy;
    clock.advance(121);
    expect(await pool.maintain()).toEqual({ checked: 0, refreshed: 1, replacing: 0 });
    expect(site.stats().requests).toBe(before + 1);
    clock.advance(21);
    expect(await pool.maintain()).toEqual({ checked: 1, refreshed: 0, replacing: 0 });
    await pool.close();
  });

  it('max age: the successor logs in while the old session still serves, then the old one is retired', async () => {
    const site = await startSite({ loginDelaySeconds: 0.3 });
    const clock = createManualClock();
    const pool = createSessionPool({
      kind: siteKind(site),
      background: false,
      maxAgeSeconds: 3600,
      jitter: 0,
      clock,
    });
    const events: string[] = [];
    pool.on('retired', (e) => events.push(`retired:${e.reason}`));
    pool.on('created', () => events.push('created'));
    pool.on('replaced', (e) => events.push(`replaced:${e.reason}`));
    const first = await pool.use('alice', async (s) => s);
    clock.advance(3601);

    const maintenance = pool.maintain();
    // The replacement is logging in (0.3 s); meanwhile the old session still serves.
    const during = await pool.use('alice', async (s) => s);
    expect(during).toBe(first);
    expect(pool.stats().loggingIn).toBe(1);
    expect(await maintenance).toMatchObject({ replacing: 1 });

    const after = await pool.use('alice', async (s) => s);
    expect(after).not.toBe(first);
    expect(await pool.use('alice', accountOf)).toBe('alice');
    expect(events).toEqual(['created', 'retired:max-age', 'created', 'replaced:max-age']);
    expect(site.stats().logins).toBe(2);
    await pool.close();
  });

  it('max uses: no session serves more than maxUses operations, even under concurrency', async () => {
    const site = await startSite();
    const pool = createSessionPool({
      kind: siteKind(site, { concurrency: 3 }),
      background: false,
      sessionsPerKey: 2,
      maxUses: 5,
    });
    const retired: RetireReason[] = [];
    pool.on('retired', (e) => retired.push(e.reason));
    const uses = new Map<HttpSession, number>();
    let next = 0;
    const answers: (string | undefined)[] = [];
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (next < 100) {
          next++;
          answers.push(
            await pool.use('alice', async (session) => {
              uses.set(session, (uses.get(session) ?? 0) + 1);
              await sleep(Math.random() * 5);
              return accountOf(session);
            }),
          );
        }
      }),
    );
    expect(answers.filter((a) => a === 'alice')).toHaveLength(100);
    expect(Math.max(...uses.values())).toBeLessThanOrEqual(5);
    expect(uses.size).toBeGreaterThanOrEqual(20);
    await pool.close();
    // Every session left for its use limit, except the (at most two) still serving at close.
    expect(new Set(retired)).toEqual(new Set(['max-uses', 'closed']));
    expect(retired.filter((r) => r === 'max-uses').length).toBeGreaterThanOrEqual(uses.size - 2);
  });
});
