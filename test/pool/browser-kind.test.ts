// The browser session kind on its own, in real Chromium against a real (fake) upstream site.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ExpiryMode,
  type FakeUpstream,
  startFakeUpstream,
} from '../../examples/shared/fake-upstream.js';
import {
  type BrowserSession,
  type BrowserSessionKind,
  browserSessionKind,
  DEFAULT_CHROMIUM_ARGS,
} from '../../packages/pool/src/browser/index.js';
import { detectors, runDetectors } from '../../packages/pool/src/detectors.js';
import type { ExpiryVerdict, SessionContext } from '../../packages/pool/src/kind.js';
import { createManualClock } from '../../packages/sessionkeeper/src/core/clock.js';
import {
  PoolClosedError,
  UpstreamSessionExpiredError,
} from '../../packages/sessionkeeper/src/core/errors.js';
import { chromiumAvailable, isAlive, processesOf } from './chromium.js';

const available = chromiumAvailable('the browser kind tests');

// ---- a SessionContext like the pool's: its detectors, its expiry error ----------------------------

const DETECTORS = [detectors.status(), detectors.loginRedirect('/login'), detectors.text()];

interface Observer {
  ctx: SessionContext;
  verdicts: ExpiryVerdict[];
  urls: string[];
  controller: AbortController;
}

function observer(key: string): Observer {
  const controller = new AbortController();
  const verdicts: ExpiryVerdict[] = [];
  const urls: string[] = [];
  return {
    controller,
    verdicts,
    urls,
    ctx: {
      key,
      signal: controller.signal,
      async observe(response) {
        urls.push(new URL(response.url).pathname);
        const verdict = await runDetectors(DETECTORS, response, () => {});
        if (!verdict) return;
        verdicts.push(verdict);
        throw new UpstreamSessionExpiredError(key, verdict.reason, verdict.detail);
      },
    },
  };
}

/** The app's login: the site's real form, then the signed-in page (or a throw). */
function loginThrough(upstream: FakeUpstream) {
  return async (page: Page, { key }: { key: string }) => {
    await page.goto(`${upstream.url}/login`);
    await page.fill('input[name="username"]', key);
    await page.fill('input[name="password"]', 'secret');
    await page.click('form[action="/login"] button[type="submit"]');
    const user = await page.getAttribute('[data-user]', 'data-user');
    if (user !== key) throw new Error(`login as ${key} failed at ${page.url()}`);
  };
}

function launchOptions(marker: string) {
  return {
    args: [...DEFAULT_CHROMIUM_ARGS],
    env: { ...process.env, SESSIONKEEPER_BROWSER_TEST: marker },
  };
}

describe.skipIf(!available)('browser session kind', () => {
  let upstream: FakeUpstream;
  let kind: BrowserSessionKind;
  const marker = `kind-${process.pid}-${Date.now()}`;

  beforeAll(async () => {
    upstream = await startFakeUpstream();
    kind = browserSessionKind({
      login: loginThrough(upstream),
      probeUrl: `${upstream.url}/account`,
      launchOptions: launchOptions(marker),
      timeoutSeconds: 10,
    });
  });
  afterAll(async () => {
    await kind?.close();
    await upstream?.close();
  });

  it('logs in through the real form, and a probe of the fresh session finds it healthy', async () => {
    const before = upstream.stats().logins;
    const { ctx, urls } = observer('alice');
    const session = await kind.create(ctx);
    expect(upstream.stats().logins - before).toBe(1);
    // The login form and its post are not detection material.
    expect(urls).toEqual([]);
    expect(await kind.probe(session, ctx)).toBeUndefined();
    expect(urls).toEqual(['/account']);
    const response = await session.goto(`${upstream.url}/appointments`);
    expect(response?.status()).toBe(200);
    expect(await session.page.getAttribute('[data-user]', 'data-user')).toBe('alice');
    expect(urls).toEqual(['/account', '/appointments']);
    // A same-document navigation brings no new document to check.
    await session.page.evaluate('history.pushState({}, "", "/appointments?view=week")');
    expect(session.page.url()).toContain('view=week');
    expect(urls).toEqual(['/account', '/appointments']);
    await kind.destroy(session);
    expect(session.page.isClosed()).toBe(true);
    await kind.destroy(session); // a dead session's destroy does not throw
  });

  const verdictByMode: Record<ExpiryMode, string> = {
    page: 'text-marker',
    '401': 'status-401',
    redirect: 'login-redirect',
    inactivity: 'text-marker',
  };
  for (const [mode, reason] of Object.entries(verdictByMode)) {
    it(`a probe after the upstream dropped the session returns the verdict (${mode}), and goto rejects`, async () => {
      upstream.setExpiryMode(mode as ExpiryMode);
      try {
        const { ctx, verdicts } = observer('bob');
        const session = await kind.create(ctx);
        expect(upstream.expireSessions('bob')).toBe(1);
        expect(await kind.probe(session, ctx)).toMatchObject({ reason });
        expect(verdicts.map((v) => v.reason)).toEqual([reason]);
        await kind.destroy(session);

        const other = await kind.create(observer('bob').ctx);
        upstream.expireSessions('bob');
        const failure = await other.goto(`${upstream.url}/appointments`).catch((e: unknown) => e);
        expect(failure).toBeInstanceOf(UpstreamSessionExpiredError);
        expect((failure as UpstreamSessionExpiredError).reason).toBe(reason);
        await kind.destroy(other);
      } finally {
        upstream.setExpiryMode('page');
      }
    });
  }

  it('a navigation inside the operation (a click) is checked, and the logged-out page stops the operation at once', async () => {
    const { ctx, verdicts, urls } = observer('carol');
    const session = await kind.create(ctx);
    await session.goto(`${upstream.url}/account`);
    upstream.expireSessions('carol');
    const started = performance.now();
    // An operation that clicks through and waits for what only a logged-in user sees.
    const outcome = await (async () => {
      await session.page.click('a[href="/appointments"]');
      return session.page.getAttribute('[data-user]', 'data-user');
    })().catch((e: unknown) => e);
    expect(outcome).toBeInstanceOf(Error);
    // Far below the 10 s action timeout: the kind closed the context when detection fired.
    expect(performance.now() - started).toBeLessThan(5000);
    expect(urls).toEqual(['/account', '/appointments']);
    expect(verdicts.map((v) => v.reason)).toEqual(['text-marker']);
    expect(await kind.probe(session, ctx)).toMatchObject({ reason: 'page-closed' });
    await kind.destroy(session);
  });

  it('exported storage state resumes logged in without a new login, until the upstream drops it', async () => {
    const { ctx } = observer('dave');
    const session = await kind.create(ctx);
    // What a store keeps: JSON.
    const saved = JSON.parse(JSON.stringify(await kind.exportState(session)));
    expect(saved.cookies.map((c: { name: string }) => c.name)).toEqual(['fa_session']);
    await kind.destroy(session);

    const logins = upstream.stats().logins;
    const resumed = await kind.create(ctx, saved);
    expect(await kind.probe(resumed, ctx)).toBeUndefined();
    expect(await resumed.page.getAttribute('[data-user]', 'data-user')).toBe('dave');
    expect(upstream.stats().logins).toBe(logins);
    await kind.destroy(resumed);

    // Saved state goes stale silently: only the probe before use can tell.
    upstream.expireSessions('dave');
    const stale = await kind.create(ctx, saved);
    expect(upstream.stats().logins).toBe(logins);
    expect(await kind.probe(stale, ctx)).toMatchObject({ reason: 'text-marker' });
    await kind.destroy(stale);
  });

  it('with the app’s own browser: a failed login closes its context; close() leaves the browser running', async () => {
    const { ctx } = observer('erin');
    const host = await kind.create(ctx);
    const browser = host.context.browser();
    if (!browser) throw new Error('a launched browser has a Browser');
    const login = loginThrough(upstream);
    const appKind = browserSessionKind({
      login: async (page, info) => {
        if (info.key === 'mallory') throw new Error('wrong password');
        await login(page, info);
      },
      probeUrl: `${upstream.url}/account`,
      refreshUrl: `${upstream.url}/appointments`,
      browser,
    });
    const contexts = browser.contexts().length;
    await expect(appKind.create(observer('mallory').ctx)).rejects.toThrow('wrong password');
    expect(browser.contexts().length).toBe(contexts);
    const own = observer('frank');
    const session = await appKind.create(own.ctx);
    expect(await appKind.probe(session, own.ctx)).toBeUndefined();
    expect(await appKind.refresh(session, own.ctx)).toBeUndefined();
    expect(own.urls).toEqual(['/account', '/appointments']);
    expect(appKind.stats()).toEqual({ browsersStarted: 1, browsersOpen: 1, contextsOpen: 1 });
    await appKind.close();
    expect(session.page.isClosed()).toBe(true);
    expect(browser.isConnected()).toBe(true);
    await expect(appKind.create(observer('frank').ctx)).rejects.toBeInstanceOf(PoolClosedError);
    expect(await kind.probe(host, ctx)).toBeUndefined();
    await kind.destroy(host);
  });
});

describe.skipIf(!available)('browser session kind: the browser processes', () => {
  let upstream: FakeUpstream;
  beforeAll(async () => {
    upstream = await startFakeUpstream();
  });
  afterAll(async () => {
    await upstream?.close();
  });

  it('rolls over to a fresh browser after browserMaxContexts and after browserMaxAgeSeconds; the old one closes with its last context', async () => {
    const clock = createManualClock();
    const marker = `rolling-${process.pid}-${Date.now()}`;
    const kind = browserSessionKind({
      login: loginThrough(upstream),
      probeUrl: `${upstream.url}/account`,
      launchOptions: launchOptions(marker),
      browserMaxContexts: 2,
      browserMaxAgeSeconds: 60,
      clock,
    });
    try {
      // Three at once: two fit the first browser, the third starts the second one.
      const [a, b, c] = (await Promise.all(
        ['k1', 'k2', 'k3'].map((key) => kind.create(observer(key).ctx)),
      )) as [BrowserSession, BrowserSession, BrowserSession];
      const browsers = new Set([a, b, c].map((s) => s.context.browser()));
      expect(browsers.size).toBe(2);
      expect(kind.stats()).toEqual({ browsersStarted: 2, browsersOpen: 2, contextsOpen: 3 });
      const [first, second] = [...browsers];
      const onFirst = [a, b, c].filter((s) => s.context.browser() === first);
      expect(onFirst).toHaveLength(2);

      // The retired browser keeps serving its sessions until the last one goes.
      await kind.destroy(onFirst[0] as BrowserSession);
      expect(first?.isConnected()).toBe(true);
      const still = onFirst[1] as BrowserSession;
      expect(await kind.probe(still, observer(still.key).ctx)).toBeUndefined();
      await kind.destroy(still);
      expect(first?.isConnected()).toBe(false);
      expect(kind.stats()).toEqual({ browsersStarted: 2, browsersOpen: 1, contextsOpen: 1 });

      // Past its max age, the current browser takes no more sessions.
      clock.advance(61);
      const d = await kind.create(observer('k4').ctx);
      expect(d.context.browser()).not.toBe(second);
      expect(kind.stats()).toEqual({ browsersStarted: 3, browsersOpen: 2, contextsOpen: 2 });
    } finally {
      await kind.close();
    }
    expect(kind.stats()).toEqual({ browsersStarted: 3, browsersOpen: 0, contextsOpen: 0 });
  });

  it('a browser that dies is reported by probe as dead, and new sessions get a fresh one', async () => {
    const marker = `crash-${process.pid}-${Date.now()}`;
    const kind = browserSessionKind({
      login: loginThrough(upstream),
      probeUrl: `${upstream.url}/account`,
      launchOptions: launchOptions(marker),
    });
    try {
      const { ctx } = observer('gina');
      const session = await kind.create(ctx);
      const browser = session.context.browser();
      const disconnected = new Promise<void>((resolve) =>
        browser?.once('disconnected', () => resolve()),
      );
      for (const pid of processesOf(marker)) process.kill(pid, 'SIGKILL');
      await disconnected;
      expect(await kind.probe(session, ctx)).toMatchObject({ reason: 'browser-disconnected' });
      await kind.destroy(session);
      const fresh = await kind.create(ctx);
      expect(await kind.probe(fresh, ctx)).toBeUndefined();
      expect(kind.stats()).toEqual({ browsersStarted: 2, browsersOpen: 1, contextsOpen: 1 });
    } finally {
      await kind.close();
    }
    // Neither the killed browser's helpers nor the fresh browser outlive close().
    expect(processesOf(marker)).toEqual([]);
  });

  it('close() leaves no Chromium process behind', async () => {
    const marker = `close-${process.pid}-${Date.now()}`;
    const kind = browserSessionKind({
      login: loginThrough(upstream),
      probeUrl: `${upstream.url}/account`,
      launchOptions: launchOptions(marker),
    });
    const sessions = await Promise.all(['h1', 'h2'].map((key) => kind.create(observer(key).ctx)));
    const running = processesOf(marker);
    // The browser, its zygotes, renderers and helpers.
    expect(running.length).toBeGreaterThan(3);
    await kind.close();
    expect(processesOf(marker)).toEqual([]);
    expect(running.filter(isAlive)).toEqual([]);
    expect(sessions.every((s) => s.page.isClosed())).toBe(true);
    await kind.destroy(sessions[0] as BrowserSession); // after close, still no throw
  });
});
