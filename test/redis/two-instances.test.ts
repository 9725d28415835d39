import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createRedisStore } from '../../packages/redis/src/index.js';
import {
  createManualClock,
  type ManualClock,
} from '../../packages/sessionkeeper/src/core/clock.js';
import {
  createSessionEngine,
  type SessionEngine,
} from '../../packages/sessionkeeper/src/core/engine.js';
import { SessionLimitReachedError } from '../../packages/sessionkeeper/src/core/errors.js';
import type { SessionEngineOptions } from '../../packages/sessionkeeper/src/core/options.js';
import { deleteKeys, REDIS_URL, redisAvailable, uniquePrefix } from './redis-env.js';

/**
 * Two engine instances, each with its own store and connection, on one Redis: what several
 * sessionkeeper servers behind a load balancer do.
 */
describe.skipIf(!redisAvailable)('two instances on one Redis', () => {
  const prefixes: string[] = [];
  const engines: SessionEngine[] = [];

  async function pair(
    options: SessionEngineOptions = {},
  ): Promise<[SessionEngine, SessionEngine, ManualClock]> {
    const keyPrefix = uniquePrefix();
    prefixes.push(keyPrefix);
    const clock = createManualClock();
    const make = async () => {
      const engine = await createSessionEngine({
        store: await createRedisStore({ url: REDIS_URL, keyPrefix }),
        clock,
        background: false,
        logger: pino({ level: 'silent' }),
        ...options,
      });
      engines.push(engine);
      return engine;
    };
    return [await make(), await make(), clock];
  }

  afterEach(async () => {
    await Promise.all(engines.splice(0).map((engine) => engine.close()));
  });
  afterAll(async () => {
    for (const prefix of prefixes) await deleteKeys(REDIS_URL, prefix);
  });

  it('sees a revoke made by the other instance at once', async () => {
    const [a, b] = await pair();
    const { session, token } = await a.create({ subject: 'alice' });
    expect((await b.validate(token)).ok).toBe(true);
    expect(await a.revoke(session.id, 'logout')).toBe(true);
    const result = await b.validate(token);
    expect(!result.ok && result.error.slug).toBe('session-revoked');
    expect(await b.revoke(session.id, 'logout')).toBe(false);

    const others = await Promise.all([1, 2, 3].map(() => b.create({ subject: 'bob' })));
    expect(await a.revokeSubject('bob', 'password-changed')).toBe(3);
    for (const { token: t } of others) expect((await b.validate(t)).ok).toBe(false);
  });

  it('never exceeds the per-subject cap under parallel creations from both instances', async () => {
    const [a, b] = await pair({ limits: { perSubject: { max: 5 } } });
    await Promise.all(
      Array.from({ length: 60 }, (_, k) => (k % 2 ? a : b).create({ subject: 'busy' })),
    );
    expect((await a.list('busy', { limit: 100 })).sessions).toHaveLength(5);
    expect((await b.stats()).active).toBe(5);
  });

  it('admits exactly the cap under parallel creations with the refuse policy', async () => {
    const [a, b] = await pair({ limits: { perSubject: { max: 5, policy: 'refuse' } } });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 60 }, (_, k) => (k % 2 ? a : b).create({ subject: 'busy' })),
    );
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(5);
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') {
        expect(outcome.reason).toBeInstanceOf(SessionLimitReachedError);
      }
    }
    expect((await b.list('busy', { limit: 100 })).sessions).toHaveLength(5);
  });

  it('emits each expired event once when both instances sweep at the same time', async () => {
    const [a, b, clock] = await pair({ sweepBatchSize: 7 });
    await Promise.all(
      Array.from({ length: 40 }, (_, k) => (k % 2 ? a : b).create({ subject: `s${k % 9}` })),
    );
    const nowMs = clock.now() + 2 * 3600_000; // past the default 30-minute idle timeout
    const sweeps = await Promise.all([a, b, a, b].map((engine) => engine.store.sweep(nowMs, 7, 0)));
    let expired = sweeps.reduce((sum, result) => sum + result.expired, 0);
    for (let round = 0; round < 20 && expired < 40; round++) {
      const [x, y] = await Promise.all([a.store.sweep(nowMs, 7, 0), b.store.sweep(nowMs, 7, 0)]);
      expired += (x?.expired ?? 0) + (y?.expired ?? 0);
    }
    expect(expired).toBe(40);
    const claimed = await Promise.all([
      a.store.claimEvents(nowMs, 100, 30_000),
      b.store.claimEvents(nowMs, 100, 30_000),
    ]);
    const expiredEvents = claimed.flat().filter((event) => event.type === 'expired');
    expect(expiredEvents).toHaveLength(40);
    expect(new Set(expiredEvents.map((event) => event.session.id)).size).toBe(40);
  });
});
