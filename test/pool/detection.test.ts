import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  createSessionPool,
  detectors,
  type HttpSession,
  type HttpSessionState,
  type PoolEventName,
  type PoolEvents,
  type SessionKind,
  type SessionPool,
  UpstreamKeptExpiringError,
  UpstreamSessionExpiredError,
} from '../../packages/pool/src/index.js';
import { createManualClock } from '../../packages/sessionkeeper/src/core/clock.js';
import { formLogin, gate, signedInAs, siteKind, startSite } from './http-site.js';

async function accountOf(session: HttpSession): Promise<string | undefined> {
  return signedInAs(await (await session.fetch('/account')).text());
}

/** Collects the pool's events of the given names, in order. */
function record(
  pool: SessionPool<HttpSession, HttpSessionState>,
  ...names: PoolEventName[]
): { name: PoolEventName; event: Record<string, unknown> }[] {
  const seen: { name: PoolEventName; event: Record<string, unknown> }[] = [];
  for (const name of names) {
    pool.on(name, (event: PoolEvents[typeof name]) =>
      seen.push({ name, event: event as unknown as Record<string, unknown> }),
    );
  }
  return seen;
}

describe('expiry detection', () => {
  it("in the operation's own answer: the session is replaced and the operation runs again, the caller sees only the answer", async () => {
    const site = await startSite();
    const pool = createSessionPool({ kind: siteKind(site), background: false });
    expect(await pool.use('alice', accountOf)).toBe('alice');
    const events = record(pool, 'expired', 'replaced', 'recovered');
    site.expireSessions();

    const attempts: number[] = [];
    const answer = await pool.use('alice', async (session, { attempt }) => {
      attempts.push(attempt);
      return accountOf(session);
    });

    expect(answer).toBe('alice');
    expect(attempts).toEqual([1, 2]);
    expect(site.stats().logins).toBe(2);
    expect(events.map((e) => e.name)).toEqual(['expired', 'replaced', 'recovered']);
    expect(events[0]?.event).toMatchObject({
      key: 'alice',
      phase: 'operation',
      reason: 'text-marker',
    });
    expect(events[2]?.event).toMatchObject({ key: 'alice', attempts: 2 });
    await pool.close();
  });

  it('reruns the operation even when it swallowed the expiry and returned something else', async () => {
    const site = await startSite();
    const pool = createSessionPool({ kind: siteKind(site), background: false });
    await pool.use('alice', accountOf);
    site.expireSessions();

    const answer = await pool.use('alice', async (session) => {
      try {
        return await accountOf(session);
      } catch {
        return 'a fallback built from an expired page';
      }
    });
    expect(answer).toBe('alice');
    await pool.close();
  });

  it('before use: a session idle past probeAfterIdleSeconds is probed, and an expired one replaced before the operation sees it', async () => {
    const site = await startSite();
    const clock = createManualClock();
    const pool = createSessionPool({
      kind: siteKind(site),
      background: false,
      probeAfterIdleSeconds: 60,
      clock,
    });
    await pool.use('alice', accountOf);
    const events = record(pool, 'expired');
    site.expireSessions();
    clock.advance(61);
    const expiredHitsBefore = site.stats().expiredHits;

    const attempts: number[] = [];
    const answer = await pool.use('alice', async (session, { attempt }) => {
      attempts.push(attempt);
      return accountOf(session);
    });

    expect(answer).toBe('alice');
    expect(attempts).toEqual([1]); // the operation never met the expired session
    expect(events.map((e) => e.event.phase)).toEqual(['before-use']);
    expect(site.stats().expiredHits).toBe(expiredHitsBefore + 1); // the probe's, not the operation's
    expect(site.stats().logins).toBe(2);
    await pool.close();
  });

  it("passes the operation's own error to the caller unchanged, without a rerun or a new login", async () => {
    const site = await startSite();
    const pool = createSessionPool({ kind: siteKind(site), background: false });
    const boom = new TypeError('the operation failed by itself');
    let runs = 0;
    await expect(
      pool.use('alice', async (session) => {
        runs++;
        await accountOf(session);
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(runs).toBe(1);
    expect(await pool.use('alice', accountOf)).toBe('alice');
    expect(site.stats().logins).toBe(1);
    await pool.close();
  });

  it('an operation that keeps meeting expired sessions fails alone, with UpstreamKeptExpiringError', async () => {
    const site = await startSite();
    const pool = createSessionPool({ kind: siteKind(site), background: false, maxAttempts: 3 });
    let badRuns = 0;
    // It logs its own session out before looking: every session it gets is expired when it looks.
    const bad = pool.use('alice', async (session) => {
      badRuns++;
      await session.fetch('/logout', { method: 'POST', redirect: 'manual' });
      return accountOf(session);
    });
    const good = Array.from({ length: 20 }, (_, i) =>
      pool.use(i % 2 === 0 ? 'bob' : 'carol', accountOf),
    );

    const error = await bad.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(UpstreamKeptExpiringError);
    expect(error).toMatchObject({
      code: 'UPSTREAM_KEPT_EXPIRING',
      status: 502,
      action: 'retry',
      key: 'alice',
      attempts: 3,
    });
    expect(badRuns).toBe(3);
    expect(await Promise.all(good)).toEqual(
      Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? 'bob' : 'carol')),
    );
    // The key itself still works for operations that do not log themselves out.
    expect(await pool.use('alice', accountOf)).toBe('alice');
    await pool.close();
  });

  it('a rerun that lands on a sibling which expired unnoticed does not count against maxAttempts', async () => {
    const site = await startSite();
    const pool = createSessionPool({
      kind: siteKind(site, { concurrency: 1 }),
      background: false,
      sessionsPerKey: 2,
      maxAttempts: 2,
    });
    // Two sessions for alice: two operations at once on sessions that take one each.
    const both = gate();
    let started = 0;
    const hold = async (session: HttpSession) => {
      if (++started === 2) both.open();
      await both.promise;
      return accountOf(session);
    };
    await Promise.all([pool.use('alice', hold), pool.use('alice', hold)]);
    expect(pool.stats().sessions).toBe(2);
    site.expireSessions(); // both die upstream; the pool knows of neither

    const attempts: number[] = [];
    const answer = await pool.use('alice', async (session, { attempt }) => {
      attempts.push(attempt);
      return accountOf(session);
    });
    // 1: the first session, expired (counted). 2: its sibling, expired unnoticed (not counted).
    // 3: a fresh login.
    expect(answer).toBe('alice');
    expect(attempts).toEqual([1, 2, 3]);
    await pool.close();
  });

  it('on a shared session, only the operation whose own answer showed the expiry runs again', async () => {
    const site = await startSite();
    const pool = createSessionPool({
      kind: siteKind(site, { concurrency: 2 }),
      background: false,
    });
    await pool.use('alice', accountOf);
    const firstDone = gate();
    const release = gate();
    const runsA: number[] = [];
    const runsB: number[] = [];
    // A books an appointment (a side effect that must not happen twice), then waits.
    const a = pool.use('alice', async (session, { attempt }) => {
      runsA.push(attempt);
      const booked = await session.fetch('/appointments', {
        method: 'POST',
        form: { slot: '2026-03-02T09:00' },
      });
      firstDone.open();
      await release.promise;
      return booked.status;
    });
    await firstDone.promise;
    // B, on the same session, meets the expiry while A is still running.
    site.expireSessions();
    const b = pool.use('alice', async (session, { attempt }) => {
      runsB.push(attempt);
      return accountOf(session);
    });
    expect(await b).toBe('alice');
    release.open();
    expect(await a).toBe(200);
    expect(runsA).toEqual([1]);
    expect(runsB).toEqual([1, 2]);
    expect(site.stats().bookings).toBe(1);
    await pool.close();
  });

  it('a kind that can log in again in place keeps its session object', async () => {
    const site = await startSite();
    const http = siteKind(site);
    const kind: SessionKind<HttpSession, HttpSessionState> = {
      ...http,
      name: 'http-in-place',
      concurrency: 1,
      async login(session) {
        await session.jar.removeAllCookies();
        await formLogin(session);
      },
    };
    const pool = createSessionPool({ kind, background: false });
    const created = record(pool, 'created', 'replaced');
    const first = await pool.use('alice', async (session) => session);
    site.expireSessions();
    const seen: HttpSession[] = [];
    const answer = await pool.use('alice', async (session) => {
      seen.push(session);
      return accountOf(session);
    });
    expect(answer).toBe('alice');
    expect(seen).toEqual([first, first]);
    expect(created.map((e) => e.name)).toEqual(['created', 'replaced']);
    expect(site.stats().logins).toBe(2);
    await pool.close();
  });

  it('detects a redirect to the login page before following it', async () => {
    const site = await startSite({ expiryMode: 'redirect' });
    const pool = createSessionPool({
      kind: siteKind(site),
      background: false,
      detectors: [detectors.loginRedirect('/login')],
    });
    await pool.use('alice', accountOf);
    site.expireSessions();
    const events = record(pool, 'expired');
    const loginPagesBefore = site.requestsTo('/login');
    expect(await pool.use('alice', accountOf)).toBe('alice');
    expect(events[0]?.event).toMatchObject({ reason: 'login-redirect', detail: 'sent to /login' });
    // The 302 was enough: /login saw only the new login's POST, the form page was never fetched.
    expect(site.requestsTo('/login')).toBe(loginPagesBefore + 1);
    await pool.close();
  });

  it('rejects with UpstreamSessionExpiredError from a session used outside the pool', async () => {
    const site = await startSite({ expiryMode: '401' });
    const pool = createSessionPool({ kind: siteKind(site), background: false });
    const session = await pool.use('alice', async (s) => s);
    site.expireSessions();
    // An operation that leaks its session and uses it after `use` returned: no rerun is possible.
    await expect(session.fetch('/account')).rejects.toBeInstanceOf(UpstreamSessionExpiredError);
    await pool.close();
  });

  it('logs "expiry detected", "replaced" and "recovered in N ms", and counts them in the metrics', async () => {
    const site = await startSite();
    const lines: { msg: string; [field: string]: unknown }[] = [];
    const logger = pino(
      { level: 'info' },
      new Writable({
        write(chunk, _encoding, done) {
          lines.push(JSON.parse(String(chunk)));
          done();
        },
      }),
    );
    const registry = new Registry();
    const pool = createSessionPool({
      kind: siteKind(site),
      background: false,
      logger,
      registry,
      name: 'appointments',
    });
    const hold = gate();
    const started = gate();
    await pool.use('alice', accountOf);
    const running = pool.use('alice', async (session) => {
      started.open();
      await hold.promise;
      return accountOf(session);
    });
    await started.promise;
    const during = await registry.getMetricsAsJSON();
    const gauge = (metrics: typeof during, name: string) =>
      metrics.find((m) => m.name === name)?.values.find((v) => v.labels.pool === 'appointments')
        ?.value;
    expect(gauge(during, 'sessionkeeper_pool_sessions_in_use')).toBe(1);
    expect(gauge(during, 'sessionkeeper_pool_sessions_healthy')).toBe(1);
    site.expireSessions();
    hold.open();
    expect(await running).toBe('alice');

    const messages = lines.map((line) => line.msg);
    expect(messages).toContain('expiry detected');
    expect(messages).toContain('replaced');
    expect(messages.some((m) => /^recovered in \d+ ms$/.test(m))).toBe(true);
    expect(lines.find((l) => l.msg === 'expiry detected')).toMatchObject({
      pool: 'appointments',
      kind: 'http',
      key: 'alice',
      phase: 'operation',
    });
    const after = await registry.getMetricsAsJSON();
    expect(gauge(after, 'sessionkeeper_pool_sessions_in_use')).toBe(0);
    expect(gauge(after, 'sessionkeeper_pool_sessions_replaced_total')).toBe(1);
    const recovery = after.find((m) => m.name === 'sessionkeeper_pool_recovery_seconds');
    expect(
      recovery?.values.find(
        (v) =>
          (v as { metricName?: string }).metricName === 'sessionkeeper_pool_recovery_seconds_count',
      )?.value,
    ).toBe(1);
    await pool.close();
  });
});
