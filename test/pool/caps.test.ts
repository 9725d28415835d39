import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import {
  createSessionPool,
  type HttpSession,
  PoolTimeoutError,
  type RetireReason,
} from '../../packages/pool/src/index.js';
import { gate, signedInAs, siteKind, startSite } from './http-site.js';

async function accountOf(session: HttpSession): Promise<string | undefined> {
  return signedInAs(await (await session.fetch('/account')).text());
}

describe('checkout and caps', () => {
  it('never more than `concurrency` operations on one session, `sessionsPerKey` per key, `maxSessions` in all', async () => {
    const site = await startSite();
    const pool = createSessionPool({
      kind: siteKind(site, { concurrency: 2 }),
      background: false,
      sessionsPerKey: 2,
      maxSessions: 3,
    });
    const live = new Map<string, number>();
    let liveTotal = 0;
    let maxLiveTotal = 0;
    let maxLivePerKey = 0;
    pool.on('created', (e) => {
      live.set(e.key, (live.get(e.key) ?? 0) + 1);
      liveTotal++;
      maxLiveTotal = Math.max(maxLiveTotal, liveTotal);
      maxLivePerKey = Math.max(maxLivePerKey, live.get(e.key) ?? 0);
    });
    pool.on('retired', (e) => {
      live.set(e.key, (live.get(e.key) ?? 0) - 1);
      liveTotal--;
    });
    const running = new Map<HttpSession, number>();
    let maxRunning = 0;
    let next = 0;
    const answers: (string | undefined)[] = [];
    await Promise.all(
      Array.from({ length: 12 }, async (_, worker) => {
        while (next < 300) {
          next++;
          const key = worker % 3 === 0 ? 'b' : 'a';
          answers.push(
            await pool.use(key, async (session) => {
              const now = (running.get(session) ?? 0) + 1;
              running.set(session, now);
              maxRunning = Math.max(maxRunning, now);
              try {
                await sleep(1 + Math.random() * 4);
                return await accountOf(session);
              } finally {
                running.set(session, (running.get(session) ?? 1) - 1);
              }
            }),
          );
          expect(pool.stats().sessions).toBeLessThanOrEqual(3);
        }
      }),
    );
    expect(answers.filter((a) => a === 'a' || a === 'b')).toHaveLength(300);
    expect(maxRunning).toBe(2);
    expect(maxLivePerKey).toBe(2);
    expect(maxLiveTotal).toBe(3);
    await pool.close();
  });

  it('one login at a time per slot: twenty callers on a cold key cause one login, and one again after an expiry', async () => {
    const site = await startSite({ loginDelaySeconds: 0.2 });
    const pool = createSessionPool({
      kind: siteKind(site, { concurrency: 4 }),
      background: false,
      sessionsPerKey: 1,
    });
    const burst = () => Promise.all(Array.from({ length: 20 }, () => pool.use('alice', accountOf)));
    expect(new Set(await burst())).toEqual(new Set(['alice']));
    expect(site.stats().logins).toBe(1);
    site.expireSessions();
    expect(new Set(await burst())).toEqual(new Set(['alice']));
    expect(site.stats().loginAttempts).toBe(2);
    expect(site.stats().maxConcurrentLogins).toBe(1);
    await pool.close();
  });

  it('an idle session of another key makes room under maxSessions', async () => {
    const site = await startSite();
    const pool = createSessionPool({ kind: siteKind(site), background: false, maxSessions: 1 });
    const retired: { key: string; reason: RetireReason }[] = [];
    pool.on('retired', (e) => retired.push({ key: e.key, reason: e.reason }));
    expect(await pool.use('alice', accountOf)).toBe('alice');
    expect(await pool.use('bob', accountOf)).toBe('bob');
    expect(retired).toEqual([{ key: 'alice', reason: 'evicted' }]);
    expect(pool.stats().sessions).toBe(1);
    await pool.close();
  });

  it('a caller waits in line and gets PoolTimeoutError when no session frees up within its timeout', async () => {
    const site = await startSite();
    const pool = createSessionPool({
      kind: siteKind(site, { concurrency: 1 }),
      background: false,
      sessionsPerKey: 1,
    });
    const hold = gate();
    const started = gate();
    const holder = pool.use('alice', async () => {
      started.open();
      await hold.promise;
      return 'held';
    });
    await started.promise;
    const t0 = performance.now();
    const error = await pool
      .use('alice', accountOf, { timeoutSeconds: 0.3 })
      .catch((e: unknown) => e);
    const waited = performance.now() - t0;
    expect(error).toBeInstanceOf(PoolTimeoutError);
    expect(error).toMatchObject({ code: 'POOL_TIMEOUT', status: 503, key: 'alice' });
    expect(waited).toBeGreaterThanOrEqual(290);
    expect(waited).toBeLessThan(1500);
    // The line moves on: a caller that waits long enough gets the session when it frees up.
    const patient = pool.use('alice', accountOf, { timeoutSeconds: 10 });
    hold.open();
    expect(await holder).toBe('held');
    expect(await patient).toBe('alice');
    expect(site.stats().logins).toBe(1);
    await pool.close();
  });
});
