import { strict as assert } from 'node:assert';
import { pino } from 'pino';
import { createManualClock, type ManualClock } from '../core/clock.js';
import { createSessionEngine, type SessionEngine } from '../core/engine.js';
import { PayloadTooLargeError, SessionLimitReachedError, ValidationError } from '../core/errors.js';
import type { SessionEngineOptions } from '../core/options.js';
import type { SessionStore } from '../core/store.js';
import { EVENT_TYPES, type SessionEvent } from '../core/types.js';
import { assertFields, assertInstanceOf, assertLength, assertMatches } from './assert.js';
import type { DefineCase } from './define-case.js';
import { tokenCases } from './token-conformance.js';

export interface StoreFactory {
  /** A new, empty store (its own file or key prefix) for one test. */
  create(): Promise<SessionStore>;
  /** Runs once after the whole suite, e.g. to remove a temp directory. */
  cleanup?(): Promise<void>;
  /**
   * How long one case may take on this store before it fails, in milliseconds (default 20 000).
   * The suite enforces it itself, since node:test has no default timeout, and hands it to the
   * runner's `it` so that vitest's and jest's shorter defaults do not cut a case short.
   */
  timeoutMs?: number;
}

/**
 * The functions of a test runner the suite registers its cases with: vitest's and jest's
 * `{ describe, it, afterEach, afterAll }` fit as they are; for node:test pass
 * `{ describe, it, afterEach, afterAll: after }`. Typed loosely so each runner's own signatures fit.
 */
export interface TestRunner {
  describe: (name: string, body: () => void) => unknown;
  /** The third argument is a timeout in milliseconds (vitest, jest); node:test ignores it. */
  it: (name: string, body: () => Promise<void>, timeoutMs?: number) => unknown;
  afterEach: (hook: () => Promise<void>) => unknown;
  afterAll: (hook: () => Promise<void>) => unknown;
}

interface Harness {
  engine: SessionEngine;
  clock: ManualClock;
  events: SessionEvent[];
}

const DEFAULT_TIMEOUT_MS = 20_000;
/** The runner's own timeout is a little longer, so that ours fails first and says why. */
const RUNNER_TIMEOUT_MARGIN_MS = 2_000;

async function withinTimeout(body: () => Promise<void>, timeoutMs: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(
        new Error(
          `the case did not finish within ${timeoutMs} ms (StoreFactory.timeoutMs): a store call that never settles?`,
        ),
      );
    }, timeoutMs);
  });
  try {
    await Promise.race([body(), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

function checkRunner(runner: TestRunner | undefined): asserts runner is TestRunner {
  for (const key of ['describe', 'it', 'afterEach', 'afterAll'] as const) {
    if (typeof runner?.[key] !== 'function') {
      throw new ValidationError(
        `runner.${key}`,
        "pass the test runner's functions, e.g. { describe, it, afterEach, afterAll } from vitest or jest, or { describe, it, afterEach, afterAll: after } from node:test",
      );
    }
  }
}

/**
 * The contract every store must meet, as named cases: expiry, throttled touch, caps and eviction,
 * revocation, listing, leases, the sweeper, the event outbox, and concurrency. It runs through the
 * engine so that what is checked is what users observe. Assertions use node:assert, and the test
 * runner's functions are passed in (`runner` is required), so it runs under vitest, jest or
 * node:test alike.
 */
export function describeStoreConformance(
  name: string,
  factory: StoreFactory,
  runner: TestRunner,
): void {
  checkRunner(runner);
  const { describe, afterEach, afterAll } = runner;
  const timeoutMs = factory.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const it: DefineCase = (caseName, body) => {
    runner.it(caseName, () => withinTimeout(body, timeoutMs), timeoutMs + RUNNER_TIMEOUT_MARGIN_MS);
  };

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
        assertMatches(token, /^sks_[A-Za-z0-9_-]{8,64}\.[A-Za-z0-9_-]{43}$/);
        assert.ok(
          token.includes(session.id),
          `token ${token} does not carry the session id ${session.id}`,
        );
        const result = await engine.validate(token);
        assert.equal(result.ok, true);
        if (!result.ok) return;
        assertFields(result.session, {
          id: session.id,
          subject: 'user-1',
          status: 'active',
          data: { cart: [1, 2], name: 'Ada' },
        });
        assert.equal(result.timing.idleRemainingSeconds, 60);
        assert.equal(result.timing.absoluteRemainingSeconds, 3600);
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
          assert.equal(result.ok, false, `${JSON.stringify(presented)} validated`);
          if (!result.ok) {
            const got = result.error.slug;
            assert.equal(got, slug, `${JSON.stringify(presented)}: ${got}, expected ${slug}`);
          }
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
          assertInstanceOf(error, Error, JSON.stringify(input));
          const got = (error as ValidationError).field;
          assert.equal(got, field, `${JSON.stringify(input)}: field ${got}, expected ${field}`);
        }
        assert.equal((await engine.stats()).active, 0);
      });
    });

    describe('idle and absolute expiry', () => {
      it('expires a session once its idle timeout passes without activity, with a specific detail', async () => {
        const { engine, clock } = await setup();
        const { token } = await engine.create({ subject: 'user-1' });
        clock.advance(59.9);
        assert.equal((await engine.validate(token)).ok, true); // touches: idle runs from here
        clock.advance(59.9);
        assert.equal((await engine.validate(token)).ok, true);
        const lastActivity = new Date(clock.now()).toISOString().slice(0, 19);
        clock.advance(60);
        const result = await engine.validate(token);
        assert.equal(result.ok, false);
        if (result.ok) return;
        assert.equal(result.error.slug, 'session-expired');
        assert.equal(result.error.reason, 'idle-expired');
        assert.equal(
          result.error.detail,
          `Session expired after 1 minute of inactivity; last activity at ${lastActivity}Z`,
        );
      });

      it('ends a session at its absolute lifetime whatever its activity', async () => {
        const { engine, clock } = await setup({ absoluteTimeoutSeconds: 120 });
        const { token } = await engine.create({ subject: 'user-1' });
        for (let t = 0; t < 119; t += 10) {
          assert.equal((await engine.validate(token)).ok, true);
          clock.advance(10);
        }
        clock.advance(1);
        const result = await engine.validate(token);
        assert.equal(!result.ok && result.error.slug, 'session-lifetime-exceeded');
        assertMatches(!result.ok && result.error.detail, /maximum lifetime of 2 minutes/);
      });

      it('applies per-session timeouts over the engine defaults', async () => {
        const { engine, clock } = await setup();
        const { token } = await engine.create({
          subject: 'u',
          idleTimeoutSeconds: 10,
          absoluteTimeoutSeconds: 20,
        });
        clock.advance(9);
        assert.equal((await engine.validate(token)).ok, true);
        clock.advance(10);
        assert.equal((await engine.validate(token)).ok, false);
      });
    });

    describe('throttled touch', () => {
      it('writes activity at most once per touch interval and says when it did (fresh)', async () => {
        const { engine, clock } = await setup();
        const { token, session } = await engine.create({ subject: 'u' });
        clock.advance(2);
        const quiet = await engine.validate(token);
        assert.equal(quiet.ok && quiet.fresh, false);
        assert.equal(
          (await engine.get(session.id))?.session.lastActiveAt.getTime(),
          session.createdAt.getTime(),
        );
        clock.advance(4);
        const touched = await engine.validate(token);
        assert.equal(touched.ok && touched.fresh, true);
        assert.equal((await engine.get(session.id))?.session.lastActiveAt.getTime(), clock.now());
      });

      it('never lets a session in steady use expire, whatever the throttle', async () => {
        const { engine, clock } = await setup({ idleTimeoutSeconds: 10, touchIntervalSeconds: 60 });
        const { token } = await engine.create({ subject: 'u' });
        for (let i = 0; i < 200; i++) {
          clock.advance(9.9);
          const result = await engine.validate(token);
          assert.equal(result.ok, true, `expired after ${i} uses 9.9 s apart (idle timeout 10 s)`);
        }
      });

      it('renew always records activity', async () => {
        const { engine, clock } = await setup();
        const { token } = await engine.create({ subject: 'u' });
        clock.advance(1);
        const result = await engine.renew(token);
        assert.equal(result.ok && result.fresh, true);
        assert.equal(result.ok && result.timing.idleRemainingSeconds, 60);
      });
    });

    describe('data, info and listing', () => {
      it('updates the data of an active session only', async () => {
        const { engine } = await setup();
        const { session, token } = await engine.create({ subject: 'u', data: { step: 1 } });
        assert.deepEqual((await engine.update(session.id, { step: 2 }))?.data, { step: 2 });
        const validated = await engine.validate(token);
        assert.deepEqual(validated.ok && validated.session.data, { step: 2 });
        await engine.revoke(session.id);
        assert.equal(await engine.update(session.id, { step: 3 }), null);
      });

      it('patches top-level keys: set adds or replaces, remove deletes, the rest stays', async () => {
        const { engine, clock } = await setup();
        const { session, token } = await engine.create({
          subject: 'u',
          data: { keep: 'k', a: 1, gone: true },
        });
        clock.advance(10);
        const patched = await engine.patch(session.id, {
          set: { a: 2, b: 'new' },
          remove: ['gone', 'never-there'],
        });
        assert.deepEqual(patched?.data, { keep: 'k', a: 2, b: 'new' });
        // Not activity, like update: the idle deadline does not move.
        assert.equal(patched?.lastActiveAt.getTime(), session.lastActiveAt.getTime());
        const validated = await engine.validate(token);
        assert.deepEqual(validated.ok && validated.session.data, { keep: 'k', a: 2, b: 'new' });
        assert.deepEqual((await engine.patch(session.id, {}))?.data, { keep: 'k', a: 2, b: 'new' });
        const error = await engine
          .patch(session.id, { set: { a: 3 }, remove: ['a'] })
          .catch((e: unknown) => e);
        assertFields(error, { field: 'patch.remove' });
        assertInstanceOf(error, ValidationError);
      });

      it('keeps patched values exactly: [] and {}, big integers, floats, unicode', async () => {
        const { engine } = await setup();
        const { session } = await engine.create({ subject: 'u', data: { first: [] } });
        const values: Record<string, unknown> = {
          list: [],
          object: {},
          nested: { a: [], b: {}, c: [[], {}, [1, [2, {}]]] },
          safe: Number.MAX_SAFE_INTEGER,
          big: Number('12345678901234567890'),
          negative: -Number('9007199254740993'),
          float: 0.1 + 0.2,
          tiny: 5e-324,
          huge: Number.MAX_VALUE,
          exponent: 1.5e-7,
          text: 'héllo ✓ 😀 \u2028 "quoted" \\ / \u0001 {not: json} [',
          'ключ 😀': 'unicode key',
          'a"b\\c': 'escaped key',
          '': 'empty key',
          'nul\u0000key': 'nul \u0000 in a key and a value',
          flags: [true, false, null],
        };
        const patched = await engine.patch(session.id, { set: values });
        const expected: Record<string, unknown> = { first: [], ...values };
        assert.deepEqual(patched?.data, expected);
        // A second patch merges into the text the first one wrote: values it does not name stay.
        const again = await engine.patch(session.id, { set: { more: 1 }, remove: ['safe'] });
        const { safe: _safe, ...rest } = expected;
        assert.deepEqual(again?.data, { ...rest, more: 1 });
        const stored = (await engine.get(session.id))?.session.data ?? {};
        for (const [key, value] of Object.entries(rest)) {
          assert.equal(JSON.stringify(stored[key]), JSON.stringify(value), `value of ${key}`);
        }
        assert.deepEqual(stored, { ...rest, more: 1 });
      });

      it('checks the size limit on the merged data and writes nothing over it', async () => {
        const { engine } = await setup({ maxDataBytes: 200 });
        const { session } = await engine.create({ subject: 'u', data: { a: 'x'.repeat(80) } });
        const b = 'y'.repeat(80);
        assert.deepEqual((await engine.patch(session.id, { set: { b } }))?.data, {
          a: 'x'.repeat(80),
          b,
        });
        // Each patch fits on its own; the merged data would not.
        const error = await engine
          .patch(session.id, { set: { c: 'z'.repeat(80) } })
          .catch((e: unknown) => e);
        assertInstanceOf(error, PayloadTooLargeError);
        assertFields(error, { field: 'data', limitBytes: 200 });
        assertMatches((error as Error).message, /is 262 bytes/);
        assert.deepEqual((await engine.get(session.id))?.session.data, { a: 'x'.repeat(80), b });
        // The same key fits once a removal makes room in the same step.
        const swapped = await engine.patch(session.id, {
          set: { c: 'z'.repeat(80) },
          remove: ['a'],
        });
        assert.deepEqual(swapped?.data, { b, c: 'z'.repeat(80) });
        // Values nest under the same limit as update's: data itself is level 1.
        let deep: unknown = 'leaf';
        for (let level = 0; level < 32; level++) deep = [deep];
        const nested = await engine
          .patch(session.id, { set: { d: deep } })
          .catch((e: unknown) => e);
        assertInstanceOf(nested, ValidationError);
        assertMatches((nested as ValidationError).field, /^data\.d/);
      });

      it('never patches a session that ended', async () => {
        const { engine, clock } = await setup();
        const revoked = await engine.create({ subject: 'u', data: { n: 1 } });
        await engine.revoke(revoked.session.id);
        assert.equal(await engine.patch(revoked.session.id, { set: { n: 2 } }), null);
        assert.deepEqual((await engine.get(revoked.session.id))?.session.data, { n: 1 });
        const idle = await engine.create({ subject: 'u', data: { n: 1 } });
        clock.advance(61_000); // past the idle timeout, before any sweep
        assert.equal(await engine.patch(idle.session.id, { set: { n: 2 } }), null);
        assert.deepEqual((await engine.get(idle.session.id))?.session.data, { n: 1 });
        assert.equal(await engine.patch('unknown-session-id', { set: { n: 2 } }), null);
      });

      it('reports age and seconds left without counting as activity', async () => {
        const { engine, clock } = await setup();
        const { session } = await engine.create({ subject: 'u' });
        clock.advance(30);
        const info = await engine.get(session.id);
        assert.deepEqual(info?.timing, {
          idleRemainingSeconds: 30,
          absoluteRemainingSeconds: 3570,
          ageSeconds: 30,
        });
        assert.equal(info?.session.lastActiveAt.getTime(), session.createdAt.getTime());
        assert.equal(await engine.get('unknownsessionid'), null);
        clock.advance(30); // past the idle deadline, not yet swept: reported as it stands
        assertFields((await engine.get(session.id))?.session, {
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
          assert.ok(
            page.sessions.length <= 3,
            `a page of ${page.sessions.length} sessions with limit 3`,
          );
          seen.push(...page.sessions.map((s) => s.id));
          cursor = page.nextCursor;
        } while (cursor);
        assert.deepEqual(seen, ids);
        await assert.rejects(engine.list('lister', { cursor: 'garbage!' }), ValidationError);
      });

      it('counts only active sessions', async () => {
        const { engine, clock } = await setup();
        const a = await engine.create({ subject: 'a' });
        await engine.create({ subject: 'b', idleTimeoutSeconds: 5 });
        await engine.create({ subject: 'c' });
        await engine.revoke(a.session.id);
        clock.advance(6);
        assert.deepEqual(await engine.stats(), { active: 1 });
      });
    });

    describe('revocation', () => {
      it('revokes one session with a reason that validation reports', async () => {
        const { engine } = await setup();
        const { session, token } = await engine.create({ subject: 'u' });
        assert.equal(await engine.revoke(session.id, 'admin'), true);
        assert.equal(await engine.revoke(session.id, 'admin'), false);
        const result = await engine.validate(token);
        assert.equal(!result.ok && result.error.slug, 'session-revoked');
        assertMatches(!result.ok && result.error.detail, /\(reason: admin\)$/);
      });

      it('revokes all of a subject’s sessions and no one else’s', async () => {
        const { engine } = await setup();
        const mine = await Promise.all([1, 2, 3].map(() => engine.create({ subject: 'me' })));
        const other = await engine.create({ subject: 'other' });
        assert.equal(await engine.revokeSubject('me', 'password-changed'), 3);
        for (const { token } of mine) assert.equal((await engine.validate(token)).ok, false);
        assert.equal((await engine.validate(other.token)).ok, true);
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
        assert.equal(!evicted.ok && evicted.error.slug, 'session-revoked');
        assertMatches(!evicted.ok && evicted.error.detail, /reason: evicted/);
        assert.equal((await engine.validate(first.token)).ok, true);
        assert.equal((await engine.validate(third.token)).ok, true);
        await engine.deliverEvents();
        assert.deepEqual(
          events.filter((e) => e.type === 'evicted').map((e) => e.session.id),
          [second.session.id],
        );
      });

      it('refuses a new session at a refuse cap and changes nothing', async () => {
        const { engine } = await setup({ limits: { perSubject: { max: 2, policy: 'refuse' } } });
        await engine.create({ subject: 'u' });
        await engine.create({ subject: 'u' });
        const error = await engine.create({ subject: 'u' }).catch((e: unknown) => e);
        assertInstanceOf(error, SessionLimitReachedError);
        assert.equal((error as SessionLimitReachedError).slug, 'session-limit-reached');
        assertLength((await engine.list('u')).sessions, 2);
        await engine.create({ subject: 'v' });
      });

      it('applies a global cap across subjects', async () => {
        const { engine } = await setup({ limits: { global: { max: 3 } } });
        const tokens = [];
        for (const subject of ['a', 'b', 'c', 'd'])
          tokens.push((await engine.create({ subject })).token);
        assert.equal((await engine.stats()).active, 3);
        assert.equal((await engine.validate(tokens[0] as string)).ok, false);
        const refusing = await setup({ limits: { global: { max: 1, policy: 'refuse' } } });
        await refusing.engine.create({ subject: 'a' });
        await assert.rejects(refusing.engine.create({ subject: 'b' }), SessionLimitReachedError);
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
        assert.equal(typeof leaseId, 'string', 'acquireLease returns the lease id');
        clock.advance(250);
        assert.equal((await engine.get(session.id))?.timing.idleRemainingSeconds, 110);
        assert.equal(await engine.releaseLease(session.id, leaseId as string), true);
        clock.advance(59);
        assert.equal((await engine.get(session.id))?.session.status, 'active');
        clock.advance(1);
        const result = await engine.validate(token);
        assert.equal(!result.ok && result.error.slug, 'session-expired');
      });

      it('never holds a session past its absolute lifetime', async () => {
        const { engine, clock } = await setup({ absoluteTimeoutSeconds: 100 });
        const { session, token } = await engine.create({ subject: 'u' });
        await engine.acquireLease(session.id, 1000);
        clock.advance(100);
        const result = await engine.validate(token);
        assert.equal(!result.ok && result.error.slug, 'session-lifetime-exceeded');
        assert.equal(await engine.acquireLease(session.id, 10), null);
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
        assert.deepEqual(await engine.sweep(), { expired: 21, purged: 0 });
        assert.deepEqual(await engine.sweep(), { expired: 0, purged: 0 });
        await engine.deliverEvents();
        const expired = events.filter((e) => e.type === 'expired');
        assertLength(expired, 21);
        assert.equal(new Set(expired.map((e) => e.session.id)).size, 21);
        assert.equal(expired.find((e) => e.session.id === lifetime.session.id)?.reason, 'absolute');
        assert.equal(expired.find((e) => e.session.id === idle[0]?.session.id)?.reason, 'idle');
        assert.ok(
          typeof expired[0]?.session.data === 'object' && expired[0].session.data !== null,
          'an expired event carries the session data',
        );
        const tomb = await engine.validate(idle[3]?.token as string);
        assert.equal(!tomb.ok && tomb.error.slug, 'session-expired');
        assert.equal((await engine.validate(alive.token)).ok, true);
        clock.advance(600);
        assert.equal((await engine.sweep()).purged, 21);
        const purged = await engine.validate(idle[3]?.token as string);
        assert.equal(!purged.ok && purged.error.slug, 'session-not-found');
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
          assert.ok(
            r.expired > 0,
            `a sweep expired nothing with ${60 - total} expired sessions left`,
          );
          total += r.expired;
        }
        assert.equal(total, 60);
        await engine.deliverEvents();
        assertLength(
          events.filter((e) => e.type === 'expired'),
          60,
        );
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
        assert.deepEqual(
          events.map((e) => e.type),
          ['created', 'revoked'],
        );
        assertFields(events[1], {
          reason: 'logout',
          session: { id: session.id, status: 'revoked', data: { upload: '/tmp/a' } },
        });
        assert.equal(await engine.deliverEvents(), 0); // held by the failed attempt's lease
        clock.advance(31);
        assert.equal(await engine.deliverEvents(), 1);
        assert.deepEqual(
          events.map((e) => e.type),
          ['created', 'revoked', 'revoked'],
        );
        assert.equal(events[2]?.id, events[1]?.id);
        clock.advance(31);
        assert.equal(await engine.deliverEvents(), 0);
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
        assertLength(ids, 30);
        assert.equal(new Set(ids).size, 30);
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
        assert.equal(await engine.deliverEvents(), 4); // created + revoked to default, and to service
        assert.deepEqual(
          events.map((e) => e.type),
          ['created', 'revoked'],
        );
        assert.deepEqual(
          service.map((e) => [e.type, e.id]),
          [['revoked', events[1]?.id]],
        );
        assert.equal(await engine.deliverEvents(), 0);
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
        assert.equal(await app.deliverEvents(), 0); // the app's group exists before the events
        await service.create({ subject: 'a' });
        const { session } = await service.create({ subject: 'b' });
        await service.revoke(session.id, 'logout');
        assert.equal(await service.deliverEvents(), 3); // the service group only
        assert.deepEqual(
          hooks.map((e) => e.type),
          ['revoked'],
        );
        assertLength(events, 0); // the service claimed nothing for the app's group
        assert.equal(await app.deliverEvents(), 3);
        assert.deepEqual(
          events.map((e) => e.type),
          ['created', 'created', 'revoked'],
        );
        assert.equal(events[2]?.id, hooks[0]?.id);
        assert.equal(await service.deliverEvents(), 0);
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
          assertLength(claimed, group === 'a' ? 30 : 24, `group ${group}`);
          assert.equal(
            new Set(ids(claimed)).size,
            claimed.length,
            `group ${group}: an event claimed twice`,
          );
        }
        const rest = await engine.store.claimEvents(nowMs, 100, 30_000, 'b');
        assertLength(rest, 6);
      });

      it('lets a group that was away catch up, and deletes an event once every group has it', async () => {
        const { engine, clock } = await setup();
        const store = engine.store;
        // Both groups exist before the events happen.
        assert.deepEqual(await store.claimEvents(clock.now(), 10, 30_000, 'app'), []);
        assert.deepEqual(await store.claimEvents(clock.now(), 10, 30_000, 'hooks'), []);
        const made = await Promise.all(
          Array.from({ length: 5 }, (_, i) => engine.create({ subject: `u${i}` })),
        );
        const forHooks = await store.claimEvents(clock.now(), 10, 30_000, 'hooks');
        assertLength(forHooks, 5);
        await store.ackEvents(ids(forHooks), 'hooks');
        clock.advance(30 * 60); // the app is away for half an hour
        const caughtUp = await store.claimEvents(clock.now(), 10, 30_000, 'app');
        assert.deepEqual(ids(caughtUp), ids(forHooks));
        assert.deepEqual(
          caughtUp.map((e) => e.session.id).sort(),
          made.map((m) => m.session.id).sort(),
        );
        assert.equal(
          caughtUp.every((e) => e.attempts === 0),
          true,
        );
        await store.ackEvents(ids(caughtUp), 'app');
        // Acknowledged by every group: gone, so even a new group finds nothing.
        assert.deepEqual(await store.claimEvents(clock.now(), 10, 30_000, 'newcomer'), []);
        clock.advance(60);
        assert.deepEqual(await store.claimEvents(clock.now(), 10, 30_000, 'app'), []);
        // Events after the outbox emptied still reach every group.
        const later = await engine.create({ subject: 'later' });
        for (const group of ['app', 'hooks']) {
          const [event] = await store.claimEvents(clock.now(), 10, 30_000, group);
          assert.equal(
            event?.session.id,
            later.session.id,
            `group ${group} got ${event?.session.id}, expected the later session`,
          );
        }
      });

      it('retries a failed event on the group’s own schedule without holding up other groups', async () => {
        const { engine, clock } = await setup();
        const store = engine.store;
        await store.claimEvents(clock.now(), 10, 30_000, 'slow');
        await engine.create({ subject: 'u' });
        await engine.create({ subject: 'v' });
        const failed = await store.claimEvents(clock.now(), 10, 30_000, 'slow');
        assert.deepEqual(
          failed.map((e) => e.attempts),
          [0, 0],
        );
        const event = failed[0];
        await store.retryEvents(ids(failed), clock.now() + 5000, 'slow');
        const fast = await store.claimEvents(clock.now(), 10, 30_000, 'fast');
        assert.deepEqual(ids(fast), ids(failed));
        clock.advance(4.9);
        assert.deepEqual(await store.claimEvents(clock.now(), 10, 30_000, 'slow'), []);
        clock.advance(0.1);
        const again = await store.claimEvents(clock.now(), 10, 30_000, 'slow');
        assert.deepEqual(ids(again), ids(failed));
        assert.deepEqual(
          again.map((e) => e.attempts),
          [1, 1],
        );
        await store.ackEvents(
          again.filter((e) => e.id !== event?.id).map((e) => e.id),
          'slow',
        );
        // Retrying an acknowledged event does not bring it back.
        await store.ackEvents([event?.id as string], 'slow');
        await store.retryEvents([event?.id as string], clock.now(), 'slow');
        clock.advance(60);
        assert.deepEqual(await store.claimEvents(clock.now(), 10, 30_000, 'slow'), []);
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
        assert.deepEqual(await store.forgetEventGroups(clock.now() - 3_600_000), []);
        clock.advance(1801);
        assert.deepEqual(await store.claimEvents(clock.now(), 10, 30_000, 'stays'), []);
        assert.deepEqual(await store.forgetEventGroups(clock.now() - 3_600_000), ['leaves']);
        // The event only `leaves` still needed is gone: a group by that name starts afresh.
        assert.deepEqual(await store.claimEvents(clock.now(), 10, 30_000, 'leaves'), []);
      });

      it('keeps events for a while when no group reads them, then drops them', async () => {
        const { engine, clock } = await setup();
        await engine.create({ subject: 'u' });
        const createdAt = clock.now();
        clock.advance(10);
        assert.deepEqual(await engine.store.forgetEventGroups(createdAt), []);
        const kept = await engine.store.claimEvents(clock.now(), 10, 30_000, 'late');
        assertLength(kept, 1);
        await engine.store.forgetEventGroups(clock.now() + 1); // forgets `late`, then no group
        assert.deepEqual(await engine.store.claimEvents(clock.now(), 10, 30_000, 'later'), []);
      });

      it('refuses a group name that could not be a store key, naming the field', async () => {
        const { engine } = await setup();
        for (const group of ['', 'a{b}', 'x'.repeat(65), 'a b', 'a*']) {
          assert.throws(
            () => engine.on('created', () => {}, { group }),
            ValidationError,
            `group ${JSON.stringify(group)} was accepted`,
          );
        }
        assert.throws(
          () => engine.on('created', () => {}, { group: 'a{b}' }),
          (error: unknown) => error instanceof Error && /group/.test(error.message),
        );
      });
    });

    describe('access and refresh tokens', () => tokenCases(it, setup));

    describe('concurrency', () => {
      it('never exceeds a subject’s cap under many parallel creations', async () => {
        const { engine } = await setup({ limits: { perSubject: { max: 5 } } });
        await Promise.all(Array.from({ length: 50 }, () => engine.create({ subject: 'busy' })));
        assertLength((await engine.list('busy')).sessions, 5);
        const refusing = await setup({ limits: { perSubject: { max: 5, policy: 'refuse' } } });
        const outcomes = await Promise.allSettled(
          Array.from({ length: 50 }, () => refusing.engine.create({ subject: 'busy' })),
        );
        assertLength(
          outcomes.filter((o) => o.status === 'fulfilled'),
          5,
        );
        for (const o of outcomes)
          if (o.status === 'rejected') assertInstanceOf(o.reason, SessionLimitReachedError);
      });

      it('answers parallel validations of one session consistently', async () => {
        const { engine, clock } = await setup();
        const { token, session } = await engine.create({ subject: 'u' });
        clock.advance(30);
        const results = await Promise.all(Array.from({ length: 50 }, () => engine.validate(token)));
        assert.equal(
          results.every((r) => r.ok && r.session.id === session.id),
          true,
        );
        assert.equal((await engine.get(session.id))?.session.lastActiveAt.getTime(), clock.now());
      });

      it('keeps every key of many parallel patches of one session', async () => {
        const { engine } = await setup();
        const initial = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`old${i}`, i]));
        const { session } = await engine.create({ subject: 'u', data: initial });
        const results = await Promise.all([
          ...Array.from({ length: 50 }, (_, i) =>
            engine.patch(session.id, { set: { [`key${i}`]: { i, list: [i] } } }),
          ),
          ...Array.from({ length: 10 }, (_, i) =>
            engine.patch(session.id, { remove: [`old${i}`] }),
          ),
        ]);
        assert.equal(
          results.every((r) => r !== null),
          true,
        );
        const expected = Object.fromEntries(
          Array.from({ length: 50 }, (_, i) => [`key${i}`, { i, list: [i] }]),
        );
        assert.deepEqual((await engine.get(session.id))?.session.data, expected);
      });

      it('lets exactly one of parallel revocations win', async () => {
        const { engine, events } = await setup();
        const { session } = await engine.create({ subject: 'u' });
        const wins = await Promise.all(Array.from({ length: 10 }, () => engine.revoke(session.id)));
        assertLength(wins.filter(Boolean), 1);
        await engine.deliverEvents();
        assertLength(
          events.filter((e) => e.type === 'revoked'),
          1,
        );
      });
    });
  });
}

/**
 * The names of the suite's cases in the order they run, each as `group > case` (one per `it`), for
 * checking that a run executed all of them. Nothing is run and no store is made.
 */
export function conformanceCaseNames(): string[] {
  const names: string[] = [];
  const groups: string[] = [];
  const notRun = (): Promise<SessionStore> => Promise.reject(new Error('only listing the cases'));
  describeStoreConformance(
    'listing',
    { create: notRun },
    {
      describe: (name, body) => {
        groups.push(name);
        body();
        groups.pop();
      },
      it: (name) => {
        names.push([...groups.slice(1), name].join(' > '));
      },
      afterEach: () => undefined,
      afterAll: () => undefined,
    },
  );
  return names;
}
