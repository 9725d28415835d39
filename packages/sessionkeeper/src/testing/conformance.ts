import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createManualClock, type ManualClock } from '../core/clock.js';
import { createSessionEngine, type SessionEngine } from '../core/engine.js';
import { SessionLimitReachedError, ValidationError } from '../core/errors.js';
import type { SessionEngineOptions } from '../core/options.js';
import type { SessionStore } from '../core/store.js';
import { EVENT_TYPES, type SessionEvent } from '../core/types.js';
import { tokenCases } from './token-conformance.js';

export interface StoreFactory {
  /** A new, empty store (its own file or key prefix) for one test. */
  create(): Promise<SessionStore>;
  /** Runs once after the whole suite, e.g. to remove a temp directory. */
  cleanup?(): Promise<void>;
}

interface Harness {
  engine: SessionEngine;
  clock: ManualClock;
  events: SessionEvent[];
}

/**
 * The contract every store must meet, as named vitest cases: expiry, throttled touch, caps and
 * eviction, revocation, listing, leases, the sweeper, the event outbox, and concurrency. It runs
 * through the engine so that what is checked is what users observe.
 */
export function describeStoreConformance(name: string, factory: StoreFactory): void {
  describe(`store conformance: ${name}`, () => {
    const engines: SessionEngine[] = [];

    async function setup(options: SessionEngineOptions = {}): Promise<Harness> {
      const clock = createManualClock();
      const engine = await createSessionEngine({
        store: await factory.create(),
        clock,
        background: false,
        logger: pino({ level: 'silent' }),
        idleTimeoutSeconds: 60,
        absoluteTimeoutSeconds: 3600,
        touchIntervalSeconds: 5,
        ...options,
      });
      engines.push(engine);
      const events: SessionEvent[] = [];
      for (const type of EVENT_TYPES) {
        engine.on(type, (event) => {
          events.push(event);
        });
      }
      return { engine, clock, events };
    }

    afterEach(async () => {
      await Promise.all(engines.splice(0).map((engine) => engine.close()));
    });
    afterAll(async () => {
      await factory.cleanup?.();
    });

    describe('create and validate', () => {
      it('creates a session whose prefixed token validates and carries the data', async () => {
        const { engine } = await setup();
        const { session, token } = await engine.create({
          subject: 'user-1',
          data: { cart: [1, 2], name: 'Ada' },
        });
        expect(token).toMatch(/^sks_[A-Za-z0-9_-]{8,64}\.[A-Za-z0-9_-]{43}$/);
        expect(token).toContain(session.id);
        const result = await engine.validate(token);
        expect(result.ok).toBe(true);
        if (!result.ok) return;
        expect(result.session).toMatchObject({
          id: session.id,
          subject: 'user-1',
          status: 'active',
          data: { cart: [1, 2], name: 'Ada' },
        });
        expect(result.timing.idleRemainingSeconds).toBe(60);
        expect(result.timing.absoluteRemainingSeconds).toBe(3600);
      });

      it('tells a malformed, an unknown and a wrong-secret token apart', async () => {
        const { engine } = await setup();
        const { token, session } = await engine.create({ subject: 'user-1' });
        const cases: [string, string][] = [
          ['', 'invalid-token'],
          ['Bearer nonsense', 'invalid-token'],
          [token.slice(0, -5), 'invalid-token'],
          [`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`, 'invalid-token'],
          [token.replace(session.id, 'AAAAAAAAAAAAAAAAAAAAAA'), 'session-not-found'],
        ];
        for (const [presented, slug] of cases) {
          const result = await engine.validate(presented);
          expect(result.ok, presented).toBe(false);
          if (!result.ok) expect(result.error.slug, presented).toBe(slug);
        }
      });

      it('refuses bad input with a ValidationError naming the field and writes nothing', async () => {
        const { engine } = await setup({ maxDataBytes: 1024 });
        const bad: [Record<string, unknown>, string][] = [
          [{ subject: '' }, 'subject'],
          [{ subject: 42 }, 'subject'],
          [{ subject: 'u', data: 'text' }, 'data'],
          [{ subject: 'u', data: { when: new Date() } }, 'data.when'],
          [{ subject: 'u', data: { n: Number.NaN } }, 'data.n'],
          [{ subject: 'u', data: { f: () => 1 } }, 'data.f'],
          [{ subject: 'u', data: { big: 'x'.repeat(2000) } }, 'data'],
          [{ subject: 'u', idleTimeoutSeconds: 0 }, 'idleTimeoutSeconds'],
          [{ subject: 'u', idleTimeoutSeconds: -5 }, 'idleTimeoutSeconds'],
          [
            { subject: 'u', idleTimeoutSeconds: 600, absoluteTimeoutSeconds: 300 },
            'absoluteTimeoutSeconds',
          ],
        ];
        for (const [input, field] of bad) {
          const error = await engine.create(input as never).catch((e: unknown) => e);
          expect(error, JSON.stringify(input)).toBeInstanceOf(Error);
          expect((error as ValidationError).field, JSON.stringify(input)).toBe(field);
        }
        expect((await engine.stats()).active).toBe(0);
      });
    });

    describe('idle and absolute expiry', () => {
      it('expires a session once its idle timeout passes without activity, with a specific detail', async () => {
        const { engine, clock } = await setup();
        const { token } = await engine.create({ subject: 'user-1' });
        clock.advance(59.9);
        expect((await engine.validate(token)).ok).toBe(true); // touches: idle runs from here
        clock.advance(59.9);
        expect((await engine.validate(token)).ok).toBe(true);
        const lastActivity = new Date(clock.now()).toISOString().slice(0, 19);
        clock.advance(60);
        const result = await engine.validate(token);
        expect(result.ok).toBe(false);
        if (result.ok) return;
        expect(result.error.slug).toBe('session-expired');
        expect(result.error.reason).toBe('idle-expired');
        expect(result.error.detail).toBe(
          `Session expired after 1 minute of inactivity; last activity at ${lastActivity}Z`,
        );
      });

      it('ends a session at its absolute lifetime whatever its activity', async () => {
        const { engine, clock } = await setup({ absoluteTimeoutSeconds: 120 });
        const { token } = await engine.create({ subject: 'user-1' });
        for (let t = 0; t < 119; t += 10) {
          expect((await engine.validate(token)).ok).toBe(true);
          clock.advance(10);
        }
        clock.advance(1);
        const result = await engine.validate(token);
        expect(!result.ok && result.error.slug).toBe('session-lifetime-exceeded');
        expect(!result.ok && result.error.detail).toMatch(/maximum lifetime of 2 minutes/);
      });

      it('applies per-session timeouts over the engine defaults', async () => {
        const { engine, clock } = await setup();
        const { token } = await engine.create({
          subject: 'u',
          idleTimeoutSeconds: 10,
          absoluteTimeoutSeconds: 20,
        });
        clock.advance(9);
        expect((await engine.validate(token)).ok).toBe(true);
        clock.advance(10);
        expect((await engine.validate(token)).ok).toBe(false);
      });
    });

    describe('throttled touch', () => {
      it('writes activity at most once per touch interval and says when it did (fresh)', async () => {
        const { engine, clock } = await setup();
        const { token, session } = await engine.create({ subject: 'u' });
        clock.advance(2);
        const quiet = await engine.validate(token);
        expect(quiet.ok && quiet.fresh).toBe(false);
        expect((await engine.get(session.id))?.session.lastActiveAt.getTime()).toBe(
          session.createdAt.getTime(),
        );
        clock.advance(4);
        const touched = await engine.validate(token);
        expect(touched.ok && touched.fresh).toBe(true);
        expect((await engine.get(session.id))?.session.lastActiveAt.getTime()).toBe(clock.now());
      });

      it('never lets a session in steady use expire, whatever the throttle', async () => {
        const { engine, clock } = await setup({ idleTimeoutSeconds: 10, touchIntervalSeconds: 60 });
        const { token } = await engine.create({ subject: 'u' });
        for (let i = 0; i < 200; i++) {
          clock.advance(9.9);
          const result = await engine.validate(token);
          expect(result.ok, `after ${i} uses`).toBe(true);
        }
      });

      it('renew always records activity', async () => {
        const { engine, clock } = await setup();
        const { token } = await engine.create({ subject: 'u' });
        clock.advance(1);
        const result = await engine.renew(token);
        expect(result.ok && result.fresh).toBe(true);
        expect(result.ok && result.timing.idleRemainingSeconds).toBe(60);
      });
    });

    describe('data, info and listing', () => {
      it('updates the data of an active session only', async () => {
        const { engine } = await setup();
        const { session, token } = await engine.create({ subject: 'u', data: { step: 1 } });
        expect((await engine.update(session.id, { step: 2 }))?.data).toEqual({ step: 2 });
        const validated = await engine.validate(token);
        expect(validated.ok && validated.session.data).toEqual({ step: 2 });
        await engine.revoke(session.id);
        expect(await engine.update(session.id, { step: 3 })).toBeNull();
      });

      it('reports age and seconds left without counting as activity', async () => {
        const { engine, clock } = await setup();
        const { session } = await engine.create({ subject: 'u' });
        clock.advance(30);
        const info = await engine.get(session.id);
        expect(info?.timing).toEqual({
          idleRemainingSeconds: 30,
          absoluteRemainingSeconds: 3570,
          ageSeconds: 30,
        });
        expect(info?.session.lastActiveAt.getTime()).toBe(session.createdAt.getTime());
        expect(await engine.get('unknownsessionid')).toBeNull();
        clock.advance(30); // past the idle deadline, not yet swept: reported as it stands
        expect((await engine.get(session.id))?.session).toMatchObject({
          status: 'expired',
          endReason: 'idle',
          endedAt: new Date(session.createdAt.getTime() + 60_000),
        });
      });

      it('lists a subject’s active sessions newest first, page by page', async () => {
        const { engine, clock } = await setup();
        const ids: string[] = [];
        for (let i = 0; i < 7; i++) {
          ids.unshift((await engine.create({ subject: 'lister' })).session.id);
          clock.advance(1);
        }
        await engine.create({ subject: 'someone-else' });
        const revoked = ids.splice(2, 1)[0] as string;
        await engine.revoke(revoked);
        const seen: string[] = [];
        let cursor: string | null = null;
        do {
          const page = await engine.list('lister', { limit: 3, cursor });
          expect(page.sessions.length).toBeLessThanOrEqual(3);
          seen.push(...page.sessions.map((s) => s.id));
          cursor = page.nextCursor;
        } while (cursor);
        expect(seen).toEqual(ids);
        await expect(engine.list('lister', { cursor: 'garbage!' })).rejects.toBeInstanceOf(
          ValidationError,
        );
      });

      it('counts only active sessions', async () => {
        const { engine, clock } = await setup();
        const a = await engine.create({ subject: 'a' });
        await engine.create({ subject: 'b', idleTimeoutSeconds: 5 });
        await engine.create({ subject: 'c' });
        await engine.revoke(a.session.id);
        clock.advance(6);
        expect(await engine.stats()).toEqual({ active: 1 });
      });
    });

    describe('revocation', () => {
      it('revokes one session with a reason that validation reports', async () => {
        const { engine } = await setup();
        const { session, token } = await engine.create({ subject: 'u' });
        expect(await engine.revoke(session.id, 'admin')).toBe(true);
        expect(await engine.revoke(session.id, 'admin')).toBe(false);
        const result = await engine.validate(token);
        expect(!result.ok && result.error.slug).toBe('session-revoked');
        expect(!result.ok && result.error.detail).toMatch(/\(reason: admin\)$/);
      });

      it('revokes all of a subject’s sessions and no one else’s', async () => {
        const { engine } = await setup();
        const mine = await Promise.all([1, 2, 3].map(() => engine.create({ subject: 'me' })));
        const other = await engine.create({ subject: 'other' });
        expect(await engine.revokeSubject('me', 'password-changed')).toBe(3);
        for (const { token } of mine) expect((await engine.validate(token)).ok).toBe(false);
        expect((await engine.validate(other.token)).ok).toBe(true);
      });
    });

    describe('caps', () => {
      it('evicts the least recently active session of a subject at its cap', async () => {
        const { engine, clock, events } = await setup({ limits: { perSubject: { max: 2 } } });
        const first = await engine.create({ subject: 'u' });
        clock.advance(10);
        const second = await engine.create({ subject: 'u' });
        clock.advance(10);
        await engine.validate(first.token); // first is now the most recently active
        const third = await engine.create({ subject: 'u' });
        const evicted = await engine.validate(second.token);
        expect(!evicted.ok && evicted.error.slug).toBe('session-revoked');
        expect(!evicted.ok && evicted.error.detail).toMatch(/reason: evicted/);
        expect((await engine.validate(first.token)).ok).toBe(true);
        expect((await engine.validate(third.token)).ok).toBe(true);
        await engine.deliverEvents();
        expect(events.filter((e) => e.type === 'evicted').map((e) => e.session.id)).toEqual([
          second.session.id,
        ]);
      });

      it('refuses a new session at a refuse cap and changes nothing', async () => {
        const { engine } = await setup({ limits: { perSubject: { max: 2, policy: 'refuse' } } });
        await engine.create({ subject: 'u' });
        await engine.create({ subject: 'u' });
        const error = await engine.create({ subject: 'u' }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(SessionLimitReachedError);
        expect((error as SessionLimitReachedError).slug).toBe('session-limit-reached');
        expect((await engine.list('u')).sessions).toHaveLength(2);
        await engine.create({ subject: 'v' });
      });

      it('applies a global cap across subjects', async () => {
        const { engine } = await setup({ limits: { global: { max: 3 } } });
        const tokens = [];
        for (const subject of ['a', 'b', 'c', 'd'])
          tokens.push((await engine.create({ subject })).token);
        expect((await engine.stats()).active).toBe(3);
        expect((await engine.validate(tokens[0] as string)).ok).toBe(false);
        const refusing = await setup({ limits: { global: { max: 1, policy: 'refuse' } } });
        await refusing.engine.create({ subject: 'a' });
        await expect(refusing.engine.create({ subject: 'b' })).rejects.toBeInstanceOf(
          SessionLimitReachedError,
        );
      });

      it('does not count ended sessions against a cap', async () => {
        const { engine, clock } = await setup({
          limits: { perSubject: { max: 1, policy: 'refuse' } },
        });
        await engine.create({ subject: 'u', idleTimeoutSeconds: 5 });
        clock.advance(5);
        await engine.create({ subject: 'u' });
      });
    });

    describe('leases', () => {
      it('holds a session past its idle timeout until released, then idles from the release', async () => {
        const { engine, clock } = await setup();
        const { session, token } = await engine.create({ subject: 'u' });
        const leaseId = await engine.acquireLease(session.id, 300);
        expect(leaseId).toEqual(expect.any(String));
        clock.advance(250);
        expect((await engine.get(session.id))?.timing.idleRemainingSeconds).toBe(110);
        expect(await engine.releaseLease(session.id, leaseId as string)).toBe(true);
        clock.advance(59);
        expect((await engine.get(session.id))?.session.status).toBe('active');
        clock.advance(1);
        const result = await engine.validate(token);
        expect(!result.ok && result.error.slug).toBe('session-expired');
      });

      it('never holds a session past its absolute lifetime', async () => {
        const { engine, clock } = await setup({ absoluteTimeoutSeconds: 100 });
        const { session, token } = await engine.create({ subject: 'u' });
        await engine.acquireLease(session.id, 1000);
        clock.advance(100);
        const result = await engine.validate(token);
        expect(!result.ok && result.error.slug).toBe('session-lifetime-exceeded');
        expect(await engine.acquireLease(session.id, 10)).toBeNull();
      });
    });

    describe('sweeper and events', () => {
      it('marks expired sessions, emits one expired event each, and keeps them readable until purged', async () => {
        const { engine, clock, events } = await setup({
          sweepBatchSize: 7,
          tombstoneRetentionSeconds: 600,
        });
        const idle = await Promise.all(
          Array.from({ length: 20 }, () => engine.create({ subject: 'u', data: { file: 'x' } })),
        );
        const lifetime = await engine.create({ subject: 'v', absoluteTimeoutSeconds: 60 });
        const alive = await engine.create({ subject: 'w', idleTimeoutSeconds: 600 });
        clock.advance(61);
        expect(await engine.sweep()).toEqual({ expired: 21, purged: 0 });
        expect(await engine.sweep()).toEqual({ expired: 0, purged: 0 });
        await engine.deliverEvents();
        const expired = events.filter((e) => e.type === 'expired');
        expect(expired).toHaveLength(21);
        expect(new Set(expired.map((e) => e.session.id)).size).toBe(21);
        expect(expired.find((e) => e.session.id === lifetime.session.id)?.reason).toBe('absolute');
        expect(expired.find((e) => e.session.id === idle[0]?.session.id)?.reason).toBe('idle');
        expect(expired[0]?.session.data).toEqual(expect.any(Object));
        const tomb = await engine.validate(idle[3]?.token as string);
        expect(!tomb.ok && tomb.error.slug).toBe('session-expired');
        expect((await engine.validate(alive.token)).ok).toBe(true);
        clock.advance(600);
        expect((await engine.sweep()).purged).toBe(21);
        const purged = await engine.validate(idle[3]?.token as string);
        expect(!purged.ok && purged.error.slug).toBe('session-not-found');
      });

      it('gives each expired session to exactly one of several concurrent sweeps', async () => {
        const { engine, clock, events } = await setup({ sweepBatchSize: 10 });
        await Promise.all(
          Array.from({ length: 60 }, (_, i) => engine.create({ subject: `s${i % 7}` })),
        );
        clock.advance(61);
        const nowMs = clock.now();
        const results = await Promise.all([1, 2, 3, 4].map(() => engine.store.sweep(nowMs, 10, 0)));
        let total = results.reduce((sum, r) => sum + r.expired, 0);
        while (total < 60) {
          const r = await engine.store.sweep(nowMs, 10, 0);
          expect(r.expired).toBeGreaterThan(0);
          total += r.expired;
        }
        expect(total).toBe(60);
        await engine.deliverEvents();
        expect(events.filter((e) => e.type === 'expired')).toHaveLength(60);
      });

      it('delivers created and revoked events with the session, and redelivers after a failing listener', async () => {
        const { engine, clock, events } = await setup({ eventLeaseSeconds: 30 });
        let failures = 1;
        engine.on('revoked', () => {
          if (failures-- > 0) throw new Error('cleanup failed');
        });
        const { session } = await engine.create({ subject: 'u', data: { upload: '/tmp/a' } });
        await engine.revoke(session.id, 'logout');
        await engine.deliverEvents();
        expect(events.map((e) => e.type)).toEqual(['created', 'revoked']);
        expect(events[1]).toMatchObject({
          reason: 'logout',
          session: { id: session.id, status: 'revoked', data: { upload: '/tmp/a' } },
        });
        expect(await engine.deliverEvents()).toBe(0); // held by the failed attempt's lease
        clock.advance(31);
        expect(await engine.deliverEvents()).toBe(1);
        expect(events.map((e) => e.type)).toEqual(['created', 'revoked', 'revoked']);
        expect(events[2]?.id).toBe(events[1]?.id);
        clock.advance(31);
        expect(await engine.deliverEvents()).toBe(0);
      });

      it('hands each event to exactly one of several concurrent claimers', async () => {
        const { engine, clock } = await setup();
        await Promise.all(
          Array.from({ length: 30 }, (_, i) => engine.create({ subject: `s${i}` })),
        );
        const nowMs = clock.now();
        const batches = await Promise.all(
          [1, 2, 3].map(() => engine.store.claimEvents(nowMs, 20, 30_000)),
        );
        const ids = batches.flat().map((e) => e.id);
        expect(ids).toHaveLength(30);
        expect(new Set(ids).size).toBe(30);
      });
    });

    describe('consumer groups', () => {
      const ids = (events: readonly { id: string }[]) => events.map((e) => e.id).sort();

      it('delivers every event to every consumer group, once each', async () => {
        const { engine, events } = await setup();
        const service: SessionEvent[] = [];
        engine.onSessionEnded((event) => void service.push(event), { group: 'service' });
        const { session } = await engine.create({ subject: 'u', data: { upload: '/tmp/u' } });
        await engine.revoke(session.id, 'logout');
        expect(await engine.deliverEvents()).toBe(4); // created + revoked to default, and to service
        expect(events.map((e) => e.type)).toEqual(['created', 'revoked']);
        expect(service.map((e) => [e.type, e.id])).toEqual([['revoked', events[1]?.id]]);
        expect(await engine.deliverEvents()).toBe(0);
      });

      it('claims nothing for a group that has no listener in the process, so the app still gets its events', async () => {
        const { engine: app, clock, events } = await setup();
        // A second process on the same store, with listeners only in its own group (the service).
        const service = await createSessionEngine({
          store: app.store,
          clock,
          background: false,
          logger: pino({ level: 'silent' }),
        });
        const hooks: SessionEvent[] = [];
        service.onSessionEnded((event) => void hooks.push(event), { group: 'service' });
        expect(await app.deliverEvents()).toBe(0); // the app's group exists before the events
        await service.create({ subject: 'a' });
        const { session } = await service.create({ subject: 'b' });
        await service.revoke(session.id, 'logout');
        expect(await service.deliverEvents()).toBe(3); // the service group only
        expect(hooks.map((e) => e.type)).toEqual(['revoked']);
        expect(events).toEqual([]);
        expect(await app.deliverEvents()).toBe(3);
        expect(events.map((e) => e.type)).toEqual(['created', 'created', 'revoked']);
        expect(events[2]?.id).toBe(hooks[0]?.id);
        expect(await service.deliverEvents()).toBe(0);
      });

      it('shares a group’s events among its instances: each goes to exactly one claimer', async () => {
        const { engine, clock } = await setup();
        await Promise.all(
          Array.from({ length: 30 }, (_, i) => engine.create({ subject: `s${i}` })),
        );
        const nowMs = clock.now();
        const batches = await Promise.all(
          ['a', 'a', 'a', 'b', 'b'].map((group) =>
            engine.store
              .claimEvents(nowMs, 12, 30_000, group)
              .then((events) => ({ group, events })),
          ),
        );
        for (const group of ['a', 'b']) {
          const claimed = batches.filter((b) => b.group === group).flatMap((b) => b.events);
          expect(claimed, group).toHaveLength(group === 'a' ? 30 : 24);
          expect(new Set(ids(claimed)).size, group).toBe(claimed.length);
        }
        const rest = await engine.store.claimEvents(nowMs, 100, 30_000, 'b');
        expect(rest).toHaveLength(6);
      });

      it('lets a group that was away catch up, and deletes an event once every group has it', async () => {
        const { engine, clock } = await setup();
        const store = engine.store;
        // Both groups exist before the events happen.
        expect(await store.claimEvents(clock.now(), 10, 30_000, 'app')).toEqual([]);
        expect(await store.claimEvents(clock.now(), 10, 30_000, 'hooks')).toEqual([]);
        const made = await Promise.all(
          Array.from({ length: 5 }, (_, i) => engine.create({ subject: `u${i}` })),
        );
        const forHooks = await store.claimEvents(clock.now(), 10, 30_000, 'hooks');
        expect(forHooks).toHaveLength(5);
        await store.ackEvents(ids(forHooks), 'hooks');
        clock.advance(30 * 60); // the app is away for half an hour
        const caughtUp = await store.claimEvents(clock.now(), 10, 30_000, 'app');
        expect(ids(caughtUp)).toEqual(ids(forHooks));
        expect(caughtUp.map((e) => e.session.id).sort()).toEqual(
          made.map((m) => m.session.id).sort(),
        );
        expect(caughtUp.every((e) => e.attempts === 0)).toBe(true);
        await store.ackEvents(ids(caughtUp), 'app');
        // Acknowledged by every group: gone, so even a new group finds nothing.
        expect(await store.claimEvents(clock.now(), 10, 30_000, 'newcomer')).toEqual([]);
        clock.advance(60);
        expect(await store.claimEvents(clock.now(), 10, 30_000, 'app')).toEqual([]);
        // Events after the outbox emptied still reach every group.
        const later = await engine.create({ subject: 'later' });
        for (const group of ['app', 'hooks']) {
          const [event] = await store.claimEvents(clock.now(), 10, 30_000, group);
          expect(event?.session.id, group).toBe(later.session.id);
        }
      });

      it('retries a failed event on the group’s own schedule without holding up other groups', async () => {
        const { engine, clock } = await setup();
        const store = engine.store;
        await store.claimEvents(clock.now(), 10, 30_000, 'slow');
        await engine.create({ subject: 'u' });
        await engine.create({ subject: 'v' });
        const failed = await store.claimEvents(clock.now(), 10, 30_000, 'slow');
        expect(failed.map((e) => e.attempts)).toEqual([0, 0]);
        const event = failed[0];
        await store.retryEvents(ids(failed), clock.now() + 5000, 'slow');
        const fast = await store.claimEvents(clock.now(), 10, 30_000, 'fast');
        expect(ids(fast)).toEqual(ids(failed));
        clock.advance(4.9);
        expect(await store.claimEvents(clock.now(), 10, 30_000, 'slow')).toEqual([]);
        clock.advance(0.1);
        const again = await store.claimEvents(clock.now(), 10, 30_000, 'slow');
        expect(ids(again)).toEqual(ids(failed));
        expect(again.map((e) => e.attempts)).toEqual([1, 1]);
        await store.ackEvents(
          again.filter((e) => e.id !== event?.id).map((e) => e.id),
          'slow',
        );
        // Retrying an acknowledged event does not bring it back.
        await store.ackEvents([event?.id as string], 'slow');
        await store.retryEvents([event?.id as string], clock.now(), 'slow');
        clock.advance(60);
        expect(await store.claimEvents(clock.now(), 10, 30_000, 'slow')).toEqual([]);
      });

      it('forgets a group that claimed nothing within the retention, and drops what only it needed', async () => {
        const { engine, clock } = await setup({ eventGroupRetentionSeconds: 3600 });
        const store = engine.store;
        await store.claimEvents(clock.now(), 10, 30_000, 'stays');
        await store.claimEvents(clock.now(), 10, 30_000, 'leaves');
        await engine.create({ subject: 'u' });
        clock.advance(1800);
        const claimed = await store.claimEvents(clock.now(), 10, 30_000, 'stays');
        await store.ackEvents(ids(claimed), 'stays');
        expect(await store.forgetEventGroups(clock.now() - 3_600_000)).toEqual([]);
        clock.advance(1801);
        expect(await store.claimEvents(clock.now(), 10, 30_000, 'stays')).toEqual([]);
        expect(await store.forgetEventGroups(clock.now() - 3_600_000)).toEqual(['leaves']);
        // The event only `leaves` still needed is gone: a group by that name starts afresh.
        expect(await store.claimEvents(clock.now(), 10, 30_000, 'leaves')).toEqual([]);
      });

      it('keeps events for a while when no group reads them, then drops them', async () => {
        const { engine, clock } = await setup();
        await engine.create({ subject: 'u' });
        const createdAt = clock.now();
        clock.advance(10);
        expect(await engine.store.forgetEventGroups(createdAt)).toEqual([]);
        const kept = await engine.store.claimEvents(clock.now(), 10, 30_000, 'late');
        expect(kept).toHaveLength(1);
        await engine.store.forgetEventGroups(clock.now() + 1); // forgets `late`, then no group
        expect(await engine.store.claimEvents(clock.now(), 10, 30_000, 'later')).toEqual([]);
      });

      it('refuses a group name that could not be a store key, naming the field', async () => {
        const { engine } = await setup();
        for (const group of ['', 'a{b}', 'x'.repeat(65), 'a b', 'a*']) {
          expect(() => engine.on('created', () => {}, { group }), group).toThrow(ValidationError);
        }
        expect(() => engine.on('created', () => {}, { group: 'a{b}' })).toThrow(/group/);
      });
    });

    describe('access and refresh tokens', () => tokenCases(setup));

    describe('concurrency', () => {
      it('never exceeds a subject’s cap under many parallel creations', async () => {
        const { engine } = await setup({ limits: { perSubject: { max: 5 } } });
        await Promise.all(Array.from({ length: 50 }, () => engine.create({ subject: 'busy' })));
        expect((await engine.list('busy')).sessions).toHaveLength(5);
        const refusing = await setup({ limits: { perSubject: { max: 5, policy: 'refuse' } } });
        const outcomes = await Promise.allSettled(
          Array.from({ length: 50 }, () => refusing.engine.create({ subject: 'busy' })),
        );
        expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(5);
        for (const o of outcomes)
          if (o.status === 'rejected') expect(o.reason).toBeInstanceOf(SessionLimitReachedError);
      });

      it('answers parallel validations of one session consistently', async () => {
        const { engine, clock } = await setup();
        const { token, session } = await engine.create({ subject: 'u' });
        clock.advance(30);
        const results = await Promise.all(Array.from({ length: 50 }, () => engine.validate(token)));
        expect(results.every((r) => r.ok && r.session.id === session.id)).toBe(true);
        expect((await engine.get(session.id))?.session.lastActiveAt.getTime()).toBe(clock.now());
      });

      it('lets exactly one of parallel revocations win', async () => {
        const { engine, events } = await setup();
        const { session } = await engine.create({ subject: 'u' });
        const wins = await Promise.all(Array.from({ length: 10 }, () => engine.revoke(session.id)));
        expect(wins.filter(Boolean)).toHaveLength(1);
        await engine.deliverEvents();
        expect(events.filter((e) => e.type === 'revoked')).toHaveLength(1);
      });
    });
  });
}
