import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { SessionMiddlewareOptions } from '../../packages/middleware/src/index.js';
import { buildApp } from '../../packages/server/src/server/index.js';
import {
  createManualClock,
  type ManualClock,
} from '../../packages/sessionkeeper/src/core/clock.js';
import {
  createSessionEngine,
  type SessionEngine,
} from '../../packages/sessionkeeper/src/core/engine.js';
import type { Problem } from '../../packages/sessionkeeper/src/core/problem.js';
import { createSqliteStore } from '../../packages/sessionkeeper/src/sqlite/index.js';
import type { RunningApp, StartApp } from './app-contract.js';
import { startExpressApp } from './express-app.js';
import { startFastifyApp } from './fastify-app.js';
import { FileJobs } from './file-jobs.js';
import { startHonoApp } from './hono-app.js';
import { type HttpResult, type RequestInit, send } from './http-client.js';

// Issue 19 item 3: each adapter serves the holder calls the client makes, with the service's
// answers (one implementation: packages/middleware/src/holder-routes.ts); item 5: the problem pages behind
// `type`; issue 13 item 8: cross-site cookie calls are refused, reads included.

const API_KEY = 'holder-routes-test-key-0123456789';

interface Setup {
  clock: ManualClock;
  engine: SessionEngine;
  files: FileJobs;
  app: RunningApp;
  service: RunningApp;
}

let root: string | undefined;
const running: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of running.splice(0).reverse()) await close();
});
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

/** An adapter's app and `sessionkeeper serve`'s app over one engine (SQLite file, manual clock). */
async function setup(start: StartApp, options: SessionMiddlewareOptions = {}): Promise<Setup> {
  root ??= await mkdtemp(join(tmpdir(), 'sk-holder-'));
  const dir = await mkdtemp(join(root, 'app-'));
  const clock = createManualClock();
  const engine = await createSessionEngine({
    store: createSqliteStore({ path: join(dir, 'sessions.db') }),
    clock,
    background: false,
    logger: pino({ level: 'silent' }),
  });
  const files = new FileJobs(join(dir, 'files'), 10);
  const app = await start({ engine, files, options: { holderRoutes: true, ...options } });
  const server = buildApp(engine, { apiKey: API_KEY, rateLimitFailuresPerMinute: 0 });
  const address = await server.listen({ host: '127.0.0.1', port: 0 });
  const service: RunningApp = { url: new URL(address).origin, close: () => server.close() };
  running.push(() => engine.close(), app.close, service.close);
  return { clock, engine, files, app, service };
}

/** A problem's fields that do not depend on the request (no requestId, same clock). */
function comparable(result: HttpResult, withDetail: boolean): Record<string, unknown> {
  const type = String(result.headers['content-type']).split(';')[0];
  if (type !== 'application/problem+json') return { status: result.status, type };
  const { requestId: _id, detail, ...problem } = result.json<Problem & { requestId?: string }>();
  return {
    httpStatus: result.status,
    wwwAuthenticate: result.headers['www-authenticate'] === undefined ? 'none' : 'sent',
    ...problem,
    ...(withDetail ? { detail } : {}),
  };
}

const adapters: [string, StartApp][] = [
  ['express', startExpressApp],
  ['fastify', startFastifyApp],
  ['hono', startHonoApp],
];

describe.each(adapters)('holder routes on a %s app', (_name, start) => {
  it('answer every holder call as the service does, successes and problems alike', async () => {
    const { clock, engine, app, service } = await setup(start);
    const live = await engine.create({ subject: 'ann', tokens: true });
    const ended = await engine.create({ subject: 'bob' });
    await engine.revoke(ended.session.id, 'admin');
    const idle = await engine.create({ subject: 'cy', idleTimeoutSeconds: 60 });
    clock.advance(61);
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
    const json = { 'content-type': 'application/json' };
    const cases: [string, RequestInit, boolean][] = [
      ['/v1/session/validate', { method: 'POST' }, false], // no credential
      ['/v1/session/validate', { method: 'POST', headers: bearer('sks_nonsense') }, true],
      ['/v1/session/validate', { method: 'POST', headers: bearer(ended.token) }, true],
      ['/v1/session/validate', { method: 'POST', headers: bearer(idle.token) }, true],
      ['/v1/session', { headers: bearer(ended.token) }, true],
      ['/v1/session/renew', { method: 'POST', headers: bearer(idle.token) }, true],
      ['/v1/session', { method: 'DELETE', headers: bearer('sks_nonsense') }, true],
      [
        '/v1/session/leases',
        { method: 'POST', headers: { ...bearer(live.token), ...json }, body: '{}' },
        true,
      ],
      [
        '/v1/session/leases',
        { method: 'POST', headers: { ...bearer(live.token), ...json }, body: '{"ttl":"x"}' },
        true,
      ],
      [
        '/v1/session/leases',
        { method: 'POST', headers: { ...bearer(live.token), ...json }, body: '{"ttl":' },
        true,
      ],
      [
        '/v1/session/leases',
        {
          method: 'POST',
          headers: { ...bearer(live.token), 'content-type': 'text/plain' },
          body: 'ttl=5',
        },
        true,
      ],
      ['/v1/session/leases/not-a-lease', { method: 'DELETE', headers: bearer(live.token) }, true],
      ['/v1/session/refresh', { method: 'POST' }, true],
      [
        '/v1/session/refresh',
        { method: 'POST', headers: json, body: '{"refreshToken":"x"}' },
        true,
      ],
      [
        '/v1/session/refresh',
        { method: 'POST', headers: json, body: '{"refreshToken":"x","extra":1}' },
        true,
      ],
    ];
    for (const [path, init, withDetail] of cases) {
      const fromService = await send(`${service.url}${path}`, init);
      const fromApp = await send(`${app.url}${path}`, init);
      expect(fromService.status, `${init.method ?? 'GET'} ${path}`).toBeGreaterThanOrEqual(400);
      expect(comparable(fromApp, withDetail), `${init.method ?? 'GET'} ${path}`).toEqual(
        comparable(fromService, withDetail),
      );
    }

    // Successes: the same bodies (the clock does not move between the two calls).
    const validated = await Promise.all(
      [service.url, app.url].map((url) =>
        send(`${url}/v1/session/validate`, { method: 'POST', headers: bearer(live.token) }),
      ),
    );
    expect(validated.map((r) => r.status)).toEqual([200, 200]);
    expect(validated[1]?.json()).toEqual(validated[0]?.json());
    expect(validated[1]?.json()).toMatchObject({ valid: true, session: { subject: 'ann' } });
    const info = await send(`${app.url}/v1/session`, { headers: bearer(live.token) });
    expect(info.json()).toMatchObject({ session: { id: live.session.id }, idleRemaining: 1800 });
    expect(
      (await send(`${app.url}/v1/session/renew`, { method: 'POST', headers: bearer(live.token) }))
        .status,
    ).toBe(200);

    const lease = await send(`${app.url}/v1/session/leases`, {
      method: 'POST',
      headers: { ...bearer(live.token), ...json },
      body: '{"ttl":120}',
    });
    expect(lease.status, lease.text).toBe(201);
    const { leaseId, expiresIn } = lease.json<{ leaseId: string; expiresIn: number }>();
    expect(expiresIn).toBe(120);
    clock.advance(1800 + 60); // past the idle timeout: only the lease keeps the session
    expect((await send(`${app.url}/v1/session`, { headers: bearer(live.token) })).status).toBe(200);
    const released = await send(`${app.url}/v1/session/leases/${leaseId}`, {
      method: 'DELETE',
      headers: bearer(live.token),
    });
    expect(released.status, released.text).toBe(204);

    const refreshed = await send(`${app.url}/v1/session/refresh`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ refreshToken: live.tokens?.refreshToken }),
    });
    expect(refreshed.status, refreshed.text).toBe(200);
    expect(refreshed.headers['cache-control']).toBe('no-store');
    const pair = refreshed.json<{ accessToken: string; refreshToken: string }>();
    expect(pair.refreshToken).not.toBe(live.tokens?.refreshToken);
    expect((await engine.verifyAccessToken(pair.accessToken)).ok).toBe(true);

    const logout = await send(`${app.url}/v1/session`, {
      method: 'DELETE',
      headers: bearer(live.token),
    });
    expect(logout.status).toBe(204);
    expect((await engine.get(live.session.id))?.session.status).toBe('revoked');
    // Logging out again, of an ended session, succeeds as on the service.
    expect(
      (await send(`${app.url}/v1/session`, { method: 'DELETE', headers: bearer(live.token) }))
        .status,
    ).toBe(204);
  });

  it('with the cookie: logout deletes it and runs the cleanup hooks; other sites get 403 before the store is read', async () => {
    const { clock, engine, files, app } = await setup(start);
    const { session, token } = await engine.create({ subject: 'ann' });
    await files.saveUpload(session.id, Buffer.from('hello'));
    const cookie = { cookie: `sk_session=${token}` };
    const lastActive = async () => (await engine.get(session.id))?.session.lastActiveAt.getTime();
    const before = await lastActive();
    clock.advance(10 * 60); // past the touch interval: any use would write lastActiveAt

    for (const [method, path] of [
      ['GET', '/v1/session'],
      ['POST', '/v1/session/validate'],
      ['POST', '/v1/session/renew'],
      ['DELETE', '/v1/session'],
    ] as const) {
      const refused = await send(`${app.url}${path}`, {
        method,
        headers: { ...cookie, 'sec-fetch-site': 'cross-site' },
      });
      expect(refused.status, `${method} ${path}: ${refused.text}`).toBe(403);
      expect(refused.json<Problem>().code).toBe('CSRF_REJECTED');
      expect(refused.text).not.toContain(session.id);
      const byOrigin = await send(`${app.url}${path}`, {
        method,
        headers: { ...cookie, origin: 'https://evil.example' },
      });
      expect(byOrigin.status).toBe(403);
    }
    // Nor does any other route of the app count a cross-site read of the holder calls.
    expect(await lastActive()).toBe(before);
    expect((await engine.get(session.id))?.session.status).toBe('active');

    const own = await send(`${app.url}/v1/session`, {
      headers: { ...cookie, 'sec-fetch-site': 'same-origin' },
    });
    expect(own.status, own.text).toBe(200);
    expect(await lastActive()).toBe(clock.now());

    const logout = await send(`${app.url}/v1/session`, {
      method: 'DELETE',
      headers: { ...cookie, 'sec-fetch-site': 'same-origin' },
    });
    expect(logout.status).toBe(204);
    expect(logout.headers['set-cookie']).toEqual(
      expect.arrayContaining([expect.stringMatching(/^sk_session=; .*Max-Age=0/)]),
    );
    await engine.deliverEvents();
    expect(await files.readResult(session.id)).toBeNull();
    const { existsSync } = await import('node:fs');
    expect(existsSync(files.dirOf(session.id))).toBe(false);
  });

  it('serves the page behind every problem type; a refused request links to it', async () => {
    const { app } = await setup(start);
    const refused = await send(`${app.url}/api/session`, {
      headers: { authorization: 'Bearer sks_nonsense' },
    });
    const { type } = refused.json<Problem>();
    expect(type).toBe('/problems/invalid-token');
    const page = await send(new URL(type, app.url).href);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.text).toContain('invalid-token');
    const index = await send(`${app.url}/problems`);
    expect(index.text).toContain('/problems/session-expired');
    // Not one of ours: left to the app (its 404).
    expect((await send(`${app.url}/problems/not-a-problem`)).status).toBe(404);
  });

  it('with problemTypeBase, types point there and the app serves no pages', async () => {
    const { app } = await setup(start, { problemTypeBase: 'https://sessions.example.com/' });
    const refused = await send(`${app.url}/api/session`);
    expect(refused.json<Problem>().type).toBe('https://sessions.example.com/problems/unauthorized');
    expect((await send(`${app.url}/problems/unauthorized`)).status).toBe(404);
  });

  it('under a prefix, and not at all by default', async () => {
    const { engine, app } = await setup(start, { holderRoutes: { prefix: '/auth' } });
    const { token } = await engine.create({ subject: 'ann' });
    const headers = { authorization: `Bearer ${token}` };
    expect((await send(`${app.url}/auth/v1/session`, { headers })).status).toBe(200);
    expect((await send(`${app.url}/v1/session`, { headers })).status).toBe(404);
    const plain = await setup(start, { holderRoutes: false });
    expect((await send(`${plain.app.url}/v1/session`, { headers })).status).toBe(404);
  });
});

describe('holder routes of the Fastify plugin registered under a prefix', () => {
  it('are served relative to the scope, with the problem pages', async () => {
    const { default: Fastify } = await import('fastify');
    const { sessionPlugin } = await import('../../packages/fastify/src/index.js');
    const engine = await createSessionEngine({
      store: createSqliteStore({ path: join(await mkdtemp(join(tmpdir(), 'sk-scope-')), 's.db') }),
      background: false,
      logger: pino({ level: 'silent' }),
    });
    const app = Fastify();
    await app.register(
      async (scope) => {
        await scope.register(sessionPlugin, { engine, holderRoutes: true });
      },
      { prefix: '/app' },
    );
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    running.push(
      () => engine.close(),
      () => app.close(),
    );
    const { token } = await engine.create({ subject: 'ann' });
    const info = await send(`${address}/app/v1/session`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(info.status, info.text).toBe(200);
    expect((await send(`${address}/app/problems/session-expired`)).status).toBe(200);
    expect((await send(`${address}/app/problems/nothing-of-ours`)).status).toBe(404);
  });
});
