import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SessionRejection } from '../../packages/express-session/src/index.js';
import type { SessionEvent } from '../../packages/sessionkeeper/src/core/types.js';
import { createSqliteStore } from '../../packages/sessionkeeper/src/sqlite/index.js';
import {
  type AppOptions,
  Browser,
  type RunningApp,
  STORE_KINDS,
  type StorePlace,
  startApp,
} from './harness.js';

for (const kind of STORE_KINDS) {
  describe.skipIf(!kind.available)(`express-session on the bridge (${kind.name})`, () => {
    let place: StorePlace;
    const apps: RunningApp[] = [];

    beforeEach(async () => {
      place = await kind.place();
    });
    afterEach(async () => {
      for (const app of apps.splice(0)) await app.close();
      await place.dispose();
    });

    async function start(options: AppOptions = {}): Promise<RunningApp> {
      const app = await startApp(() => place.open(), options);
      apps.push(app);
      return app;
    }

    function rejections(app: RunningApp): SessionRejection[] {
      const seen: SessionRejection[] = [];
      app.store.on('rejected', (r: SessionRejection) => seen.push(r));
      return seen;
    }

    it('saveUninitialized: false stores nothing and sets no cookie until the session changes', async () => {
      const app = await start();
      const browser = new Browser(app.url);
      expect(await browser.me()).toEqual({});
      expect(browser.lastSetCookie).toEqual([]);
      expect((await app.engine.stats()).active).toBe(0);
    });

    it('login with regenerate: a new sid, the user listed, the pre-login sid dead', async () => {
      const app = await start();
      const seen = rejections(app);
      const browser = new Browser(app.url);
      await browser.json('POST', '/set?key=theme&value=dark');
      const before = browser.cookies.get('connect.sid');
      await browser.json('POST', '/login?user=alice');
      expect(browser.cookies.get('connect.sid')).not.toBe(before);
      expect(await browser.me()).toEqual({ userId: 'alice' });

      const listed = await app.store.listUserSessions('alice');
      expect(listed).toHaveLength(1);
      expect(listed[0]?.subject).toBe('alice');
      expect(listed[0]?.data.userId).toBe('alice');

      // The pre-login cookie was destroyed by regenerate: it starts a fresh session, with a reason.
      const stale = new Browser(app.url);
      stale.cookies.set('connect.sid', before as string);
      expect(await stale.me()).toEqual({});
      expect(seen.at(-1)).toMatchObject({ status: 'revoked', reason: 'logout' });
    });

    it('the cookie carries maxAge, and maxAge is the idle timeout of the session', async () => {
      const app = await start({ session: { cookie: { maxAge: 90_000 } } });
      const browser = new Browser(app.url);
      await browser.json('POST', '/login?user=alice');
      const header = browser.lastSetCookie.join(';');
      expect(header).toMatch(/Expires=/);
      const [session] = await app.store.listUserSessions('alice');
      expect(session?.idleTimeoutSeconds).toBe(90);

      app.clock.advance(89);
      expect(await browser.me()).toMatchObject({ userId: 'alice' });
      app.clock.advance(91);
      expect(await browser.me()).toEqual({});
      expect((await app.engine.get(session?.id as string))?.session.endReason).toBe('idle');
    });

    it('touch with rolling: activity re-sends the cookie and extends the idle deadline', async () => {
      const app = await start({ session: { rolling: true, cookie: { maxAge: 60_000 } } });
      const browser = new Browser(app.url);
      await browser.json('POST', '/login?user=alice');
      for (let i = 0; i < 5; i++) {
        app.clock.advance(45);
        expect(await browser.me()).toMatchObject({ userId: 'alice' });
        expect(browser.lastSetCookie.join(';')).toMatch(/connect\.sid=/);
      }
      // 225 s after login under a 60 s idle timeout: alive because every request touched it.
      const [session] = await app.store.listUserSessions('alice');
      expect(session?.status).toBe('active');
      app.clock.advance(61);
      expect(await browser.me()).toEqual({});
    });

    it('resave: false writes nothing for a request that changes nothing; touch is throttled', async () => {
      const app = await start();
      const browser = new Browser(app.url);
      await browser.json('POST', '/login?user=alice');
      const set = vi.spyOn(app.store, 'set');
      const touch = vi.spyOn(app.engine, 'touch');
      for (let i = 0; i < 5; i++) await browser.me();
      expect(set).not.toHaveBeenCalled();
      expect(touch).not.toHaveBeenCalled(); // within the touch interval: no store write
      app.clock.advance(10);
      await browser.me();
      expect(touch).toHaveBeenCalledTimes(1);
      expect(set).not.toHaveBeenCalled();
    });

    it('save: an explicit save is in the store before the response ends', async () => {
      const app = await start();
      const browser = new Browser(app.url);
      await browser.json('POST', '/login?user=alice');
      const { stored } = await browser.json('POST', '/save?key=step&value=2');
      expect(stored).toMatchObject({ userId: 'alice', step: '2' });
      expect(await browser.me()).toMatchObject({ userId: 'alice', step: '2' });
    });

    it('destroy ends the session (reason logout) and runs the cleanup hook once with its data', async () => {
      const app = await start();
      const ended: SessionEvent[] = [];
      app.store.onSessionEnded((event) => {
        ended.push(event);
      });
      const browser = new Browser(app.url);
      await browser.json('POST', '/login?user=alice');
      await browser.json('POST', '/set?key=upload&value=/tmp/a.bin');
      await browser.json('POST', '/logout');
      expect(await browser.me()).toEqual({});
      await app.engine.deliverEvents();
      const revoked = ended.filter((e) => e.session.data.userId === 'alice');
      expect(revoked).toHaveLength(1);
      expect(revoked[0]).toMatchObject({ type: 'revoked', reason: 'logout' });
      expect(revoked[0]?.session.data.upload).toBe('/tmp/a.bin');
      // The store's own bookkeeping (sid links) never reaches the app's hooks.
      expect(ended.every((e) => !e.session.subject.startsWith('express-session:sid:'))).toBe(true);
    });

    it('expiry is a durable event: the sweeper finds an idle session and the hook cleans up', async () => {
      const app = await start();
      const ended: SessionEvent[] = [];
      app.store.onSessionEnded((event) => {
        ended.push(event);
      });
      const browser = new Browser(app.url);
      await browser.json('POST', '/login?user=alice');
      await browser.json('POST', '/set?key=upload&value=/tmp/b.bin');
      app.clock.advance(61);
      await app.engine.sweep();
      await app.engine.deliverEvents();
      expect(ended).toHaveLength(1);
      expect(ended[0]).toMatchObject({ type: 'expired', reason: 'idle' });
      expect(ended[0]?.session.data).toMatchObject({ userId: 'alice', upload: '/tmp/b.bin' });
    });

    it('the absolute lifetime ends a session however active it is, and says why', async () => {
      const app = await start({
        store: { absoluteTimeoutSeconds: 120 },
        session: { rolling: true },
      });
      const seen = rejections(app);
      const browser = new Browser(app.url);
      await browser.json('POST', '/login?user=alice');
      for (let t = 0; t < 100; t += 20) {
        app.clock.advance(20);
        expect(await browser.me()).toMatchObject({ userId: 'alice' });
      }
      app.clock.advance(21);
      expect(await browser.me()).toEqual({});
      expect(seen.at(-1)).toMatchObject({ status: 'expired', reason: 'absolute' });
    });

    it('lists a user across browsers and revokes all of them at once', async () => {
      const app = await start();
      const [a1, a2, b] = [new Browser(app.url), new Browser(app.url), new Browser(app.url)];
      await a1.json('POST', '/login?user=alice');
      await a2.json('POST', '/login?user=alice');
      await b.json('POST', '/login?user=bob');
      expect(await app.store.listUserSessions('alice')).toHaveLength(2);
      expect(await app.store.revokeUser('alice')).toBe(2);
      expect(await a1.me()).toEqual({});
      expect(await a2.me()).toEqual({});
      expect(await b.me()).toEqual({ userId: 'bob' });
      expect(await app.store.listUserSessions('alice')).toHaveLength(0);
    });

    it('a user set without regenerate moves the session to that user, data and all', async () => {
      const app = await start({ store: { userField: (data) => data.userId } });
      const ended: SessionEvent[] = [];
      app.store.onSessionEnded((event) => {
        ended.push(event);
      });
      const browser = new Browser(app.url);
      await browser.json('POST', '/set?key=cart=&value=3-items');
      const sid = browser.cookies.get('connect.sid');
      await browser.json('POST', '/login-in-place?user=carol');
      expect(browser.cookies.get('connect.sid')).toBe(sid);
      expect(await browser.me()).toEqual({ 'cart=': '3-items', userId: 'carol' });
      expect(await app.store.listUserSessions('carol')).toHaveLength(1);
      await app.engine.deliverEvents();
      expect(ended).toEqual([]); // the anonymous session's data lives on: nothing to clean up
      expect(await app.store.revokeUser('carol')).toBe(1);
      expect(await browser.me()).toEqual({});
    });

    it('two concurrent requests writing different keys both survive, round after round', async () => {
      const app = await start();
      const browser = new Browser(app.url);
      await browser.json('POST', '/login?user=alice');
      const rounds = 200;
      for (let i = 0; i < rounds; i++) {
        // Both requests load the session before either saves (the delays), so each saves over
        // data that lacks the other's key: only a per-key write keeps both.
        await Promise.all([
          browser.json('POST', `/set?key=a&value=${i}&delay=${i % 3}`),
          browser.json('POST', `/set?key=b&value=${i}&delay=${(i + 1) % 3}`),
        ]);
        const data = await browser.me();
        expect(data, `round ${i}`).toMatchObject({ userId: 'alice', a: String(i), b: String(i) });
      }
    });

    it('two app instances saving one session at once, different keys: both survive, round after round', async () => {
      const a = await start();
      const b = await startApp(() => place.open(), {}, a.clock);
      apps.push(b);
      const browser = new Browser(a.url);
      await browser.json('POST', '/login?user=alice');
      const onB = new Browser(b.url);
      onB.cookies.set('connect.sid', browser.cookies.get('connect.sid') as string);
      // Only an atomic per-key merge in the store keeps both keys every round: a read-merge-write
      // per instance loses one now and then.
      expect(await overlappingSaves(browser, onB, 300)).toEqual([]);
    });

    it('the same key written by two concurrent requests: one whole value wins (documented)', async () => {
      const app = await start();
      const browser = new Browser(app.url);
      await browser.json('POST', '/login?user=alice');
      for (let i = 0; i < 20; i++) {
        await Promise.all([
          browser.json('POST', `/set?key=k&value=first-${i}&delay=1`),
          browser.json('POST', `/set?key=k&value=second-${i}&delay=1`),
        ]);
        expect([`first-${i}`, `second-${i}`]).toContain((await browser.me()).k);
      }
    });

    it('two app instances on one store: a login in one is followed by the other', async () => {
      const a = await start();
      const b = await startApp(() => place.open(), {}, a.clock);
      apps.push(b);
      const browser = new Browser(a.url);
      await browser.json('POST', '/set?key=cart&value=3-items');
      browser.baseUrl = b.url;
      expect(await browser.me()).toEqual({ cart: '3-items' }); // b now remembers this sid
      // A request on b loads the session, and while it runs a moves it to dana's session.
      const slow = new Browser(b.url);
      slow.cookies.set('connect.sid', browser.cookies.get('connect.sid') as string);
      const late = slow.json('POST', '/set?key=late&value=1&delay=300');
      await new Promise((resolve) => setTimeout(resolve, 100));
      browser.baseUrl = a.url;
      await browser.json('POST', '/login-in-place?user=dana');
      await late; // its save follows the move instead of writing to the ended session
      browser.baseUrl = b.url;
      expect(await browser.me()).toEqual({ cart: '3-items', userId: 'dana', late: '1' });
      expect(await b.store.listUserSessions('dana')).toHaveLength(1);
    });

    it('works without the sid cache: every request finds its session through the link', async () => {
      const app = await start({ store: { cacheSize: 0 } });
      const browser = new Browser(app.url);
      await browser.json('POST', '/login?user=erin');
      await browser.json('POST', '/set?key=x&value=1');
      expect(await browser.me()).toEqual({ userId: 'erin', x: '1' });
      expect(await app.store.revokeUser('erin')).toBe(1);
      expect(await browser.me()).toEqual({});
    });

    it('a session over the data limit fails its save with PayloadTooLargeError, keeping the old data', async () => {
      const app = await start();
      const browser = new Browser(app.url);
      await browser.json('POST', '/login?user=alice');
      // An explicit save gets the error in its callback: the app answers with it.
      const res = await browser.request('POST', '/big?bytes=20000&explicit');
      expect(res.status).toBe(500);
      expect(await res.json()).toEqual({ error: 'PayloadTooLargeError' });
      expect(await browser.me()).toEqual({ userId: 'alice' });
      // express-session's automatic save runs after the response is on its way: not saved.
      await browser.json('POST', '/big?bytes=20000');
      expect(await browser.me()).toEqual({ userId: 'alice' });
    });

    it('a store that cannot be reached fails the request with StoreUnavailableError, no fallback', async () => {
      const app = await start();
      const browser = new Browser(app.url);
      await browser.json('POST', '/login?user=alice');
      await app.engine.store.close();
      const res = await browser.request('GET', '/me');
      expect(res.status).toBe(500);
      expect(await res.json()).toEqual({ error: 'StoreUnavailableError' });
    });

    it('restart: close the app and the engine, start again on the same store, the cookie works', async () => {
      const first = await start();
      const browser = new Browser(first.url);
      await browser.json('POST', '/login?user=alice');
      await browser.json('POST', '/set?key=step&value=7');
      apps.splice(apps.indexOf(first), 1);
      await first.close();

      const second = await startApp(() => place.open(), {}, first.clock);
      apps.push(second);
      browser.baseUrl = second.url;
      expect(await browser.me()).toEqual({ userId: 'alice', step: '7' });
      await browser.json('POST', '/set?key=step&value=8');
      expect(await browser.me()).toEqual({ userId: 'alice', step: '8' });
      expect(await second.store.listUserSessions('alice')).toHaveLength(1);
    });

    it('all, length and clear say why they are not offered', async () => {
      const app = await start();
      const errors = await Promise.all(
        (['all', 'length', 'clear'] as const).map(
          (m) => new Promise<unknown>((resolve) => app.store[m]((err: unknown) => resolve(err))),
        ),
      );
      for (const err of errors) {
        expect(err).toMatchObject({ code: 'unsupported-store-operation' });
      }
    });
  });
}

/**
 * Rounds of two requests of one browser, through two instances at once, each setting its own key
 * (`a` through `first`, `b` through `second`) with the same delay, so both load the session and
 * then save at about the same moment. Returns the rounds where a key lost its new value.
 */
async function overlappingSaves(first: Browser, second: Browser, rounds: number) {
  const lost: string[] = [];
  for (let i = 0; i < rounds; i++) {
    const delay = i % 4;
    await Promise.all([
      first.json('POST', `/set?key=a&value=${i}&delay=${delay}`),
      second.json('POST', `/set?key=b&value=${i}&delay=${delay}`),
    ]);
    const data = await first.me();
    if (data.a !== String(i) || data.b !== String(i) || data.userId !== 'alice') {
      lost.push(`round ${i}: ${JSON.stringify(data)}`);
    }
  }
  return lost;
}

describe('express-session on the bridge: two processes on one SQLite file', () => {
  it('overlapping saves of different keys through either process both survive, round after round', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sk-es-procs-'));
    const path = join(dir, 'sessions.db');
    const secret = randomBytes(32).toString('hex');
    const app = await startApp(() => createSqliteStore({ path, busyTimeoutMs: 20_000 }), {
      session: { secret },
    });
    const fixture = fileURLToPath(new URL('./fixtures/sqlite-app.ts', import.meta.url));
    const child = spawn(
      process.execPath,
      ['-C', 'sessionkeeper-source', '--import', 'tsx', fixture, path, secret],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    const exited = new Promise((resolve) => child.once('close', resolve));
    try {
      const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
      const url = (await lines.next()).value as string;
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const browser = new Browser(app.url);
      await browser.json('POST', '/login?user=alice');
      const other = new Browser(url);
      other.cookies.set('connect.sid', browser.cookies.get('connect.sid') as string);
      expect(await overlappingSaves(browser, other, 300)).toEqual([]);
    } finally {
      child.stdin.end();
      await exited;
      await app.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
