import { describe, expect, it } from 'vitest';
import {
  type BreakerState,
  createSessionPool,
  type HttpSession,
  PoolTimeoutError,
  UpstreamUnavailableError,
} from '../../packages/pool/src/index.js';
import { createManualClock } from '../../packages/sessionkeeper/src/core/clock.js';
import { signedInAs, siteKind, startSite } from './http-site.js';

async function accountOf(session: HttpSession): Promise<string | undefined> {
  return signedInAs(await (await session.fetch('/account')).text());
}

describe('upstream down', () => {
  it('the breaker opens; waiting callers get a typed error within their timeout; logins are not retried in a spin', async () => {
    const site = await startSite();
    const clock = createManualClock();
    const pool = createSessionPool({
      kind: siteKind(site),
      background: false,
      breaker: { failureThreshold: 3, cooldownSeconds: 10 },
      clock,
    });
    const breaker: BreakerState[] = [];
    pool.on('breaker', (e) => breaker.push(e.state));
    site.setLoginFailing(true);

    const timeoutSeconds = 2;
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const t0 = performance.now();
        const error = await pool.use(`user${i}`, accountOf, { timeoutSeconds }).then(
          () => undefined,
          (e: unknown) => e,
        );
        return { error, ms: performance.now() - t0 };
      }),
    );
    for (const { error, ms } of outcomes) {
      expect(
        error instanceof UpstreamUnavailableError || error instanceof PoolTimeoutError,
        String(error),
      ).toBe(true);
      expect(ms).toBeLessThan(timeoutSeconds * 1000 + 500);
    }
    const unavailable = outcomes.find((o) => o.error instanceof UpstreamUnavailableError)?.error;
    expect(unavailable).toMatchObject({
      code: 'UPSTREAM_UNAVAILABLE',
      status: 503,
      action: 'retry',
      retryAfterSeconds: 10,
    });
    expect((unavailable as Error).cause).toBeInstanceOf(Error); // the login's own failure
    // One login per key that needed one (they started together), no retry in a loop, and none
    // at all while the breaker is open.
    expect(site.stats().loginAttempts).toBe(10);
    expect(breaker).toEqual(['open']);
    await expect(pool.use('user0', accountOf)).rejects.toBeInstanceOf(UpstreamUnavailableError);
    await expect(pool.use('user10', accountOf)).rejects.toBeInstanceOf(UpstreamUnavailableError);
    expect(site.stats().loginAttempts).toBe(10);

    // After the cooldown one trial login runs; it fails, so the breaker opens again.
    clock.advance(10);
    const trials = await Promise.allSettled([
      pool.use('user0', accountOf),
      pool.use('user1', accountOf),
      pool.use('user2', accountOf),
    ]);
    for (const trial of trials) {
      expect(trial.status === 'rejected' && trial.reason).toBeInstanceOf(UpstreamUnavailableError);
    }
    expect(site.stats().loginAttempts).toBe(11);
    expect(breaker).toEqual(['open', 'half-open', 'open']);

    // The upstream is back: the next trial succeeds and closes the breaker.
    site.setLoginFailing(false);
    clock.advance(10);
    expect(await pool.use('user0', accountOf)).toBe('user0');
    expect(await pool.use('user1', accountOf)).toBe('user1');
    expect(breaker).toEqual(['open', 'half-open', 'open', 'half-open', 'closed']);
    await pool.close();
  });

  it('failing logins fail only the callers that need a login; sessions already logged in keep serving', async () => {
    const site = await startSite();
    const pool = createSessionPool({
      kind: siteKind(site),
      background: false,
      breaker: { failureThreshold: 2, cooldownSeconds: 30 },
    });
    expect(await pool.use('alice', accountOf)).toBe('alice');
    site.setLoginFailing(true);
    const bob = await pool.use('bob', accountOf, { timeoutSeconds: 5 }).catch((e: unknown) => e);
    expect(bob).toBeInstanceOf(UpstreamUnavailableError);
    const alice = await Promise.all(Array.from({ length: 5 }, () => pool.use('alice', accountOf)));
    expect(alice).toEqual(['alice', 'alice', 'alice', 'alice', 'alice']);
    await pool.close();
  });
});
