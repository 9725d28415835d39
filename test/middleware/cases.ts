import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { SessionMiddlewareOptions } from '../../packages/middleware/src/index.js';
import {
  createManualClock,
  type ManualClock,
} from '../../packages/sessionkeeper/src/core/clock.js';
import {
  createSessionEngine,
  type SessionEngine,
} from '../../packages/sessionkeeper/src/core/engine.js';
import { StoreUnavailableError } from '../../packages/sessionkeeper/src/core/errors.js';
import type { SessionEngineOptions } from '../../packages/sessionkeeper/src/core/options.js';
import type { Problem } from '../../packages/sessionkeeper/src/core/problem.js';
import type { SessionStore } from '../../packages/sessionkeeper/src/core/store.js';
import { createSqliteStore } from '../../packages/sessionkeeper/src/sqlite/index.js';
import type { RunningApp, SessionJson, StartApp } from './app-contract.js';
import { FileJobs } from './file-jobs.js';
import {
  CookieJar,
  cookieAttributes,
  type HttpResult,
  type RequestInit,
  send,
} from './http-client.js';

interface HarnessOptions {
  /** Default: the system clock. */
  clock?: ManualClock;
  engine?: SessionEngineOptions;
  middleware?: SessionMiddlewareOptions;
  /** Real milliseconds processing takes. Default 20. */
  processMs?: number;
  /** Lets a test make the store fail. */
  wrapStore?: (store: SessionStore) => SessionStore;
}

/** One app on 127.0.0.1:0 over an SQLite file and a files directory, both in a fresh temp dir. */
class Harness {
  engine!: SessionEngine;
  app!: RunningApp;
  readonly files: FileJobs;
  readonly #dbFile: string;

  constructor(
    readonly start: StartApp,
    readonly dir: string,
    readonly options: HarnessOptions,
  ) {
    this.files = new FileJobs(join(dir, 'files'), options.processMs ?? 20);
    this.#dbFile = join(dir, 'sessions.db');
  }

  get url(): string {
    return this.app.url;
  }

  async open(): Promise<this> {
    const store = createSqliteStore({ path: this.#dbFile });
    this.engine = await createSessionEngine({
      background: false,
      logger: pino({ level: 'silent' }),
      ...(this.options.clock ? { clock: this.options.clock } : {}),
      ...this.options.engine,
      store: this.options.wrapStore ? this.options.wrapStore(store) : store,
    });
    this.app = await this.start({
      engine: this.engine,
      files: this.files,
      options: this.options.middleware ?? {},
    });
    return this;
  }

  /** Stops the app and the engine, then starts both again on the same SQLite file and files. */
  async restart(): Promise<void> {
    await this.close();
    await this.open();
  }

  async close(): Promise<void> {
    await this.app.close();
    await this.engine.close();
  }

  /** Sweeps expired sessions and runs the cleanup hooks now. */
  async settle(): Promise<void> {
    await this.engine.sweep();
    await this.engine.deliverEvents();
  }

  request(path: string, init: RequestInit = {}, jar?: CookieJar): Promise<HttpResult> {
    return send(`${this.url}${path}`, {
      ...init,
      headers: { ...jar?.headers(), ...init.headers },
    }).then((result) => {
      jar?.update(result);
      return result;
    });
  }

  /** Signs in as `subject`; the jar then holds the session cookie. */
  async login(
    subject: string,
    jar = new CookieJar(),
    extra: Record<string, unknown> = {},
    headers: Record<string, string> = {},
  ): Promise<{ jar: CookieJar; result: HttpResult; sessionId: string; token: string }> {
    const result = await this.request(
      '/login',
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ subject, ...extra }),
      },
      jar,
    );
    expect(result.status, result.text).toBe(200);
    const body = result.json<{ sessionId: string; token: string }>();
    return { jar, result, sessionId: body.sessionId, token: body.token };
  }

  upload(jar: CookieJar, text: string, headers: Record<string, string> = {}): Promise<HttpResult> {
    return this.request(
      '/api/upload',
      {
        method: 'PUT',
        headers: { 'content-type': 'application/octet-stream', ...headers },
        body: text,
      },
      jar,
    );
  }

  process(jar: CookieJar, headers: Record<string, string> = {}): Promise<HttpResult> {
    return this.request('/api/process', { method: 'POST', headers }, jar);
  }

  download(jar: CookieJar, headers: Record<string, string> = {}): Promise<HttpResult> {
    return this.request('/api/download', { headers }, jar);
  }
}

function expectProblem(result: HttpResult, status: number, slug: string): Problem {
  expect(result.status, result.text).toBe(status);
  expect(result.headers['content-type']).toMatch(/^application\/problem\+json/);
  const problem = result.json<Problem>();
  expect(problem.type).toBe(`/problems/${slug}`);
  expect(problem.status).toBe(status);
  expect(typeof problem.detail).toBe('string');
  expect(problem.timestamp).toMatch(/^\d{4}-/);
  return problem;
}

function sessionCookieOf(result: HttpResult, name: string) {
  const header = result.setCookies.find((h) => h.startsWith(`${name}=`));
  expect(header, `Set-Cookie ${name} in ${JSON.stringify(result.setCookies)}`).toBeDefined();
  return cookieAttributes(header as string);
}

/**
 * The behaviour every adapter must show, as one list of cases run against each adapter's app (see
 * app-contract.ts for the routes): real HTTP on 127.0.0.1, SQLite and files in a temp directory.
 */
export function middlewareCases(adapter: string, start: StartApp): void {
  describe(`sessionkeeper/${adapter}`, () => {
    let root: string | undefined;
    const open: Harness[] = [];
    let count = 0;

    async function harness(options: HarnessOptions = {}): Promise<Harness> {
      root ??= await mkdtemp(join(tmpdir(), `sk-mw-${adapter}-`));
      const h = new Harness(start, join(root, `app-${++count}`), options);
      open.push(h);
      return h.open();
    }

    afterEach(async () => {
      await Promise.allSettled(open.splice(0).map((h) => h.close()));
    });
    afterAll(async () => {
      if (root) await rm(root, { recursive: true, force: true });
    });

    it('upload -> process -> download succeeds with an idle timeout shorter than the processing', async () => {
      const h = await harness({
        engine: {
          // The hold renews a lease of half the idle timeout every quarter of it (0.375 s): room
          // for a busy machine's event-loop stalls.
          idleTimeoutSeconds: 1.5,
          sweepIntervalSeconds: 0.2,
          eventPollIntervalSeconds: 0.2,
          background: true,
        },
        processMs: 3200,
      });
      const { jar, sessionId } = await h.login('ann');
      expect((await h.upload(jar, 'hello sessions')).status).toBe(201);

      const started = Date.now();
      const processing = h.process(jar);
      // Midway, past the 1.5 s idle timeout, the sweeper finds the session still held.
      await sleep(2000);
      await h.engine.sweep();
      expect((await h.engine.get(sessionId))?.session.status).toBe('active');
      const processed = await processing;
      expect(processed.status, processed.text).toBe(200);
      expect(Date.now() - started).toBeGreaterThanOrEqual(3100);

      const download = await h.download(jar);
      expect(download.status, download.text).toBe(200);
      expect(download.text).toBe('HELLO SESSIONS');
      expect(existsSync(h.files.dirOf(sessionId))).toBe(true);
    });

    it('after idle expiry the next call is session-expired and the files are gone', async () => {
      const clock = createManualClock();
      const h = await harness({ clock, engine: { idleTimeoutSeconds: 60 } });
      const { jar, sessionId } = await h.login('bob');
      await h.upload(jar, 'data');
      expect((await h.process(jar)).status).toBe(200);
      expect(existsSync(h.files.dirOf(sessionId))).toBe(true);

      clock.advance(61);
      await h.settle();
      const after = await h.download(jar);
      const problem = expectProblem(after, 401, 'session-expired');
      expect(problem.code).toBe('SESSION_EXPIRED');
      expect(problem.action).toBe('reauthenticate');
      expect(problem.instance).toBe('/api/download');
      expect(problem.detail).toMatch(
        /expired after 1 minute of inactivity; last activity at 2026-/,
      );
      expect(after.headers['www-authenticate']).toMatch(
        /^Bearer realm="sessionkeeper", error="invalid_token", error_description="Session expired after 1 minute/,
      );
      expect(existsSync(h.files.dirOf(sessionId))).toBe(false);
    });

    it('a restart between upload and download loses nothing', async () => {
      const clock = createManualClock();
      const h = await harness({ clock });
      const { jar } = await h.login('cat');
      await h.upload(jar, 'survives restarts');
      await h.restart();
      expect((await h.process(jar)).status).toBe(200);
      await h.restart();
      const download = await h.download(jar);
      expect(download.status, download.text).toBe(200);
      expect(download.text).toBe('SURVIVES RESTARTS');
    });

    it('refuses cross-site state changes made with the cookie, and cross-site logins', async () => {
      const h = await harness();
      const { jar, token } = await h.login('dan');
      await h.upload(jar, 'x');
      const crossSite: Record<string, string>[] = [
        { origin: 'https://evil.example' },
        { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' },
        { 'sec-fetch-site': 'same-site' },
        { origin: 'null' },
      ];
      for (const headers of crossSite) {
        const problem = expectProblem(await h.process(jar, headers), 403, 'csrf-rejected');
        expect(problem.code).toBe('CSRF_REJECTED');
        expect(problem.action).toBe('fix-request');
      }
      // The app's own pages, and non-browser clients (no Origin, no Sec-Fetch-Site), pass.
      expect((await h.process(jar, { 'sec-fetch-site': 'same-origin' })).status).toBe(200);
      expect((await h.process(jar, { origin: h.url })).status).toBe(200);
      expect((await h.process(jar)).status).toBe(200);
      // Reading is not a state change.
      expect((await h.download(jar, { 'sec-fetch-site': 'cross-site' })).status).toBe(200);
      // A Bearer token is never sent by a browser on its own: no CSRF check.
      const bearer = await h.request('/api/process', {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, origin: 'https://evil.example' },
      });
      expect(bearer.status).toBe(200);
      // Login CSRF: another site cannot sign the browser in to an account of its choosing.
      const crossLogin = await h.request('/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: 'https://evil.example' },
        body: JSON.stringify({ subject: 'mallory' }),
      });
      expectProblem(crossLogin, 403, 'csrf-rejected');
      expect(crossLogin.setCookies).toEqual([]);
    });

    it('double-submit token: required in a header when enabled, and trusted origins pass', async () => {
      const h = await harness({
        middleware: { csrf: { doubleSubmit: true, trustedOrigins: ['https://admin.example.com'] } },
      });
      const { jar, result } = await h.login('eve');
      const csrf = sessionCookieOf(result, 'sk_csrf');
      expect(csrf.attributes).not.toHaveProperty('httponly');
      expect(csrf.attributes.samesite?.toLowerCase()).toBe('lax');
      const token = jar.get('sk_csrf') as string;
      expect((await h.request('/api/session', {}, jar)).json<SessionJson>().csrfToken).toBe(token);

      expectProblem(await h.upload(jar, 'x'), 403, 'csrf-rejected');
      expectProblem(await h.upload(jar, 'x', { 'x-csrf-token': 'forged' }), 403, 'csrf-rejected');
      expect((await h.upload(jar, 'x', { 'x-csrf-token': token })).status).toBe(201);
      const trusted = await h.process(jar, {
        'x-csrf-token': token,
        origin: 'https://admin.example.com',
      });
      expect(trusted.status).toBe(200);
    });

    it('cookie attributes on http://localhost: HttpOnly, SameSite=Lax, not Secure, lifetime of the session', async () => {
      const h = await harness({ clock: createManualClock() });
      for (const host of [undefined, `localhost:${new URL(h.url).port}`]) {
        const { result } = await h.login('fay', new CookieJar(), {}, host ? { host } : {});
        const cookie = sessionCookieOf(result, 'sk_session');
        expect(cookie.value).toMatch(/^sks_/);
        expect(cookie.attributes).toHaveProperty('httponly');
        expect(cookie.attributes.samesite).toBe('Lax');
        expect(cookie.attributes.path).toBe('/');
        expect(cookie.attributes.secure).toBeUndefined();
        expect(cookie.attributes.domain).toBeUndefined();
        expect(Number(cookie.attributes['max-age'])).toBe(86400); // the absolute lifetime
      }
      // Plain http to any other host: the cookie is Secure anyway (the browser keeps it only over https).
      const remote = await h.login('fay', new CookieJar(), {}, { host: 'app.example.com' });
      expect(sessionCookieOf(remote.result, '__Host-sk_session').attributes).toHaveProperty(
        'secure',
      );
    });

    it('cookie attributes behind an https proxy: __Host- prefix, Secure, Path=/, no Domain', async () => {
      const behindProxy = { host: 'app.example.com', 'x-forwarded-proto': 'https' };
      const h = await harness({ middleware: { trustProxy: true } });
      const { jar, result } = await h.login('gus', new CookieJar(), {}, behindProxy);
      expect(result.setCookies.some((c) => c.startsWith('sk_session='))).toBe(false);
      const cookie = sessionCookieOf(result, '__Host-sk_session');
      expect(cookie.attributes).toHaveProperty('secure');
      expect(cookie.attributes).toHaveProperty('httponly');
      expect(cookie.attributes.samesite).toBe('Lax');
      expect(cookie.attributes.path).toBe('/');
      expect(cookie.attributes.domain).toBeUndefined();
      const read = await h.request('/api/session', { headers: behindProxy }, jar);
      expect(read.status, read.text).toBe(200);
      // The app's own https origin passes the CSRF check.
      const upload = await h.upload(jar, 'x', {
        ...behindProxy,
        origin: 'https://app.example.com',
      });
      expect(upload.status, upload.text).toBe(201);
      // Over https only the __Host- cookie counts (a subdomain could have planted the plain one).
      const plain = await h.request('/api/session', {
        headers: { ...behindProxy, cookie: `sk_session=${jar.get('__Host-sk_session')}` },
      });
      expectProblem(plain, 401, 'unauthorized');

      // Without trustProxy the header is ignored: this is plain http to 127.0.0.1.
      const direct = await harness();
      const plainLogin = await direct.login(
        'gus',
        new CookieJar(),
        {},
        { 'x-forwarded-proto': 'https' },
      );
      expect(sessionCookieOf(plainLogin.result, 'sk_session').attributes.secure).toBeUndefined();
    });

    it('Bearer transport: session tokens and access tokens, expired access tokens ask for a refresh', async () => {
      const clock = createManualClock();
      const h = await harness({ clock, engine: { tokens: { accessTokenTtlSeconds: 300 } } });
      const login = await h.request('/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ subject: 'hal', cookie: false, tokens: true }),
      });
      expect(login.setCookies).toEqual([]);
      const { token, accessToken, sessionId } = login.json<{
        token: string;
        accessToken: string;
        sessionId: string;
      }>();

      const viaToken = await h.request('/api/session', {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(viaToken.json<SessionJson>()).toMatchObject({
        subject: 'hal',
        sessionId,
        via: 'bearer',
      });
      const viaJwt = await h.request('/api/session', {
        headers: { authorization: `Bearer ${accessToken}` },
      });
      expect(viaJwt.json<SessionJson>()).toMatchObject({
        subject: 'hal',
        sessionId,
        via: 'access-token',
      });

      const garbage = await h.request('/api/session', {
        headers: { authorization: 'Bearer nope' },
      });
      expect(expectProblem(garbage, 401, 'invalid-token').action).toBe('reauthenticate');

      clock.advance(331); // past exp + 30 s clock tolerance
      const expired = await h.request('/api/session', {
        headers: { authorization: `Bearer ${accessToken}` },
      });
      expect(expectProblem(expired, 401, 'access-token-expired').action).toBe('refresh');
      expect(expired.headers['www-authenticate']).toContain('error="invalid_token"');
    });

    it('the guard: 401 without credentials, and a redirect to the login page for browser navigations', async () => {
      const clock = createManualClock();
      const h = await harness({ clock, engine: { idleTimeoutSeconds: 60 } });
      const anonymous = await h.request('/api/session');
      expect(expectProblem(anonymous, 401, 'unauthorized').action).toBe('fix-request');
      expect(anonymous.headers['www-authenticate']).toBe('Bearer realm="sessionkeeper"');
      expect((await h.request('/public')).json()).toEqual({ subject: null });

      const page = await h.request('/page?tab=2', { headers: { accept: 'text/html,*/*' } });
      expect(page.status).toBe(303);
      expect(page.headers.location).toBe(
        '/login-page?returnTo=%2Fpage%3Ftab%3D2&reason=unauthorized',
      );

      const { jar } = await h.login('ida');
      expect((await h.request('/page', { headers: { accept: 'text/html' } }, jar)).status).toBe(
        200,
      );
      clock.advance(61);
      const expired = await h.request('/page', { headers: { accept: 'text/html' } }, jar);
      expect(expired.headers.location).toBe('/login-page?returnTo=%2Fpage&reason=session-expired');
      // Not a browser navigation: the problem, even on that route.
      expectProblem(await h.request('/page', {}, jar), 401, 'session-expired');
    });

    it('logout revokes, deletes the cookie and the files; logging in again never keeps the old id', async () => {
      const h = await harness({ clock: createManualClock() });
      const first = await h.login('joe');
      const oldCookie = first.jar.headers();
      const second = await h.login('joe', first.jar);
      expect(second.sessionId).not.toBe(first.sessionId);
      const replaced = await h.request('/api/session', { headers: oldCookie });
      expect(expectProblem(replaced, 401, 'session-revoked').detail).toContain('replaced-by-login');

      await h.upload(second.jar, 'bye');
      const stale = second.jar.headers();
      const logout = await h.request('/logout', { method: 'POST' }, second.jar);
      expect(logout.json()).toEqual({ revoked: true });
      expect(sessionCookieOf(logout, 'sk_session').attributes['max-age']).toBe('0');
      expect(second.jar.get('sk_session')).toBeUndefined();
      await h.engine.deliverEvents();
      expect(existsSync(h.files.dirOf(second.sessionId))).toBe(false);
      const after = await h.request('/api/session', { headers: stale });
      expect(expectProblem(after, 401, 'session-revoked').detail).toContain('logout');
    });

    it('store down: 503 store-unavailable with Retry-After, nobody is logged out', async () => {
      let down = false;
      const h = await harness({
        wrapStore: (store) =>
          new Proxy(store, {
            get(target, property) {
              const value: unknown = Reflect.get(target, property, target);
              if (typeof value !== 'function') return value;
              if (down && property === 'get')
                return () => Promise.reject(new StoreUnavailableError('SQLite is locked (test)'));
              return value.bind(target);
            },
          }),
      });
      const { jar } = await h.login('kim');
      down = true;
      const during = await h.request('/api/session', {}, jar);
      expect(expectProblem(during, 503, 'store-unavailable').action).toBe('retry');
      expect(during.headers['retry-after']).toBe('1');
      expect(during.setCookies).toEqual([]);
      expect((await h.request('/public')).status).toBe(200); // no credential, no store call
      down = false;
      expect((await h.request('/api/session', {}, jar)).status).toBe(200);
    });

    it("cookie lifetime 'idle': re-sent with a new Max-Age whenever the idle deadline moves", async () => {
      const clock = createManualClock();
      const h = await harness({
        clock,
        engine: { idleTimeoutSeconds: 60 },
        middleware: { cookie: { lifetime: 'idle' } },
      });
      const { jar, result } = await h.login('lea');
      expect(sessionCookieOf(result, 'sk_session').attributes['max-age']).toBe('60');
      clock.advance(10); // past the touch interval (a tenth of the idle timeout)
      const fresh = await h.request('/api/session', {}, jar);
      expect(sessionCookieOf(fresh, 'sk_session').attributes['max-age']).toBe('60');
      clock.advance(2);
      expect((await h.request('/api/session', {}, jar)).setCookies).toEqual([]);
    });

    it("a handler's sessionkeeper error becomes its problem", async () => {
      const h = await harness();
      const bad = await h.request('/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ subject: '' }),
      });
      expect(expectProblem(bad, 400, 'validation-failed')).toMatchObject({ field: 'subject' });
    });
  });
}
