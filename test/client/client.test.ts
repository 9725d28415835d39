import { createServer, type Server } from 'node:http';
import { describe, expect, it, vi } from 'vitest';
import { StoreUnavailableError } from '../../packages/sessionkeeper/src/core/errors.js';
import { createMemoryStore } from '../../packages/sessionkeeper/src/memory/index.js';
import { createSqliteStore } from '../../packages/sessionkeeper/src/sqlite/index.js';
import { failingStore } from '../server/harness.js';
import { withTempDir } from '../sqlite/temp-dir.js';
import type { ApiServer } from './api-server.js';
import { clientFixtures } from './node-fixtures.js';

const { server, client, defer } = clientFixtures();

const tempPath = withTempDir('client');

describe('the client against a real server', () => {
  it('100 concurrent requests with an access token the server finds expired cause exactly 1 refresh', async () => {
    const api = await server();
    const sk = client({ baseUrl: api.url });
    sk.setTokens(await api.login());
    api.clock.advance(16 * 60); // past the 15-minute access token; the client's clock does not know
    const responses = await Promise.all(
      Array.from({ length: 100 }, () => sk.fetch(`${api.url}/api/whoami`)),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(100).fill(200));
    expect(api.counts['POST /v1/session/refresh']).toBe(1);
    expect(api.counts['GET /api/whoami']).toBe(200); // each one sent, refused, retried once
  });

  it('refreshes once, before sending, when its own clock says the token is due', async () => {
    const api = await server();
    let now = Date.now();
    const sk = client({ baseUrl: api.url, now: () => now });
    sk.setTokens(await api.login());
    now += 14.7 * 60_000; // inside the 30 s leeway
    const refreshed = vi.fn();
    sk.on('refreshed', refreshed);
    const responses = await Promise.all(
      Array.from({ length: 100 }, () => sk.fetch(`${api.url}/api/whoami`)),
    );
    expect(responses.every((r) => r.status === 200)).toBe(true);
    expect(api.counts['POST /v1/session/refresh']).toBe(1);
    expect(api.counts['GET /api/whoami']).toBe(100); // no request was refused
    expect(refreshed).toHaveBeenCalledTimes(1);
  });

  it('refreshes across a server restart on the same SQLite file', async () => {
    const path = tempPath('restart.db');
    const first = await server({ store: createSqliteStore({ path }) });
    const reauthenticate = vi.fn(async () => null);
    const sk = client({ baseUrl: first.url, reauthenticate });
    sk.setTokens(await first.login());
    expect((await sk.fetch(`${first.url}/api/whoami`)).status).toBe(200);
    await first.close();

    const second = await server({ store: createSqliteStore({ path }), port: first.port });
    second.clock.advance(16 * 60);
    const response = await sk.fetch(`${second.url}/api/whoami`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ sub: 'user-1' });
    expect(second.counts['POST /v1/session/refresh']).toBe(1);
    expect(reauthenticate).not.toHaveBeenCalled();
  });

  it('re-authenticates silently, once, when a restarted memory store lost the session', async () => {
    const first = await server({ store: createMemoryStore() });
    const sk = client({
      baseUrl: first.url,
      reauthenticate: async () => {
        calls++;
        return second.login('user-1');
      },
    });
    let calls = 0;
    let second: ApiServer = first;
    const loggedOut = vi.fn();
    const reauthenticated = vi.fn();
    sk.on('loggedOut', loggedOut);
    sk.on('reauthenticated', reauthenticated);
    sk.setTokens(await first.login());
    await first.close();
    second = await server({ store: createMemoryStore(), port: first.port });

    const responses = await Promise.all(
      Array.from({ length: 30 }, () => sk.fetch(`${second.url}/api/whoami`)),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(30).fill(200));
    expect(calls).toBe(1);
    expect(reauthenticated).toHaveBeenCalledTimes(1);
    expect(loggedOut).not.toHaveBeenCalled();
  });

  it('a refresh that finds the session gone runs reauthenticate; when that fails, loggedOut', async () => {
    const first = await server({ store: createMemoryStore() });
    const sk = client({ baseUrl: first.url, reauthenticate: async () => null });
    const loggedOut = vi.fn();
    sk.on('loggedOut', loggedOut);
    sk.setTokens(await first.login());
    await first.close();
    const second = await server({ store: createMemoryStore(), port: first.port });
    expect(await sk.refresh()).toBe(false);
    expect(loggedOut).toHaveBeenCalledTimes(1);
    expect(loggedOut.mock.calls[0]?.[0]).toMatchObject({ reason: 'SESSION_NOT_FOUND' });
    expect(sk.getState().status).toBe('loggedOut');
    expect(sk.getTokens()).toBeNull();
    expect(second.counts['POST /v1/session/refresh']).toBe(1);
  });

  it('retries through a 503 store outage (refresh and API call) and never logs out', async () => {
    let down = false;
    const api = await server({
      store: failingStore(createMemoryStore(), () =>
        down ? new StoreUnavailableError('the test took the store down') : null,
      ),
    });
    const sk = client({ baseUrl: api.url });
    const loggedOut = vi.fn();
    const errors = vi.fn();
    sk.on('loggedOut', loggedOut);
    sk.on('error', errors);
    sk.setTokens(await api.login());
    api.clock.advance(16 * 60);
    down = true;
    setTimeout(() => {
      down = false;
    }, 250);
    const responses = await Promise.all([
      sk.fetch(`${api.url}/api/whoami`),
      sk.fetch(`${api.url}/api/session`),
    ]);
    expect(responses.map((r) => r.status)).toEqual([200, 200]);
    expect(api.counts['503']).toBeGreaterThan(0);
    expect(loggedOut).not.toHaveBeenCalled();
    expect(sk.getState().status).toBe('active');
  });

  it('an outage longer than the retries is an error, not a logout', async () => {
    let down = false;
    const api = await server({
      store: failingStore(createMemoryStore(), () =>
        down ? new StoreUnavailableError('down') : null,
      ),
    });
    const sk = client({ baseUrl: api.url, retry: { retries: 2, baseDelayMs: 5, maxDelayMs: 10 } });
    const loggedOut = vi.fn();
    const errors = vi.fn();
    sk.on('loggedOut', loggedOut);
    sk.on('error', errors);
    sk.setTokens(await api.login());
    down = true;
    expect(await sk.refresh()).toBe(false);
    expect(errors).toHaveBeenCalled();
    expect(loggedOut).not.toHaveBeenCalled();
    expect(sk.getTokens()).not.toBeNull();
  });

  it('leaves requests to other origins alone: no token, no refresh on their 401', async () => {
    const api = await server();
    const seen: (string | undefined)[] = [];
    const other: Server = createServer((request, response) => {
      seen.push(request.headers.authorization);
      response.writeHead(401, { 'content-type': 'application/problem+json' });
      response.end(
        JSON.stringify({ code: 'ACCESS_TOKEN_EXPIRED', action: 'refresh', status: 401 }),
      );
    });
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    defer(() => new Promise((resolve) => other.close(resolve)));
    const address = other.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const sk = client({ baseUrl: api.url });
    sk.setTokens(await api.login());
    const response = await sk.fetch(`http://127.0.0.1:${port}/data`);
    expect(response.status).toBe(401);
    expect(seen).toEqual([undefined]);
    expect(api.counts['POST /v1/session/refresh']).toBeUndefined();
  });

  it('a request refused for an older token retries with the current one, without a new refresh', async () => {
    const api = await server();
    let releaseFirst: () => void = () => undefined;
    const firstHeld = new Promise<void>((resolve) => {
      releaseFirst = resolve;
    });
    const sent: string[] = [];
    const sk = client({
      baseUrl: api.url,
      fetch: async (input, init) => {
        const url = String(input instanceof Request ? input.url : input);
        if (!url.endsWith('/api/whoami')) return fetch(input, init);
        sent.push(new Headers(init?.headers).get('authorization') ?? '');
        const response = await fetch(input, init);
        if (sent.length === 1) await firstHeld; // its 401 arrives after someone else refreshed
        return response;
      },
    });
    sk.setTokens(await api.login());
    api.clock.advance(16 * 60);
    const slow = sk.fetch(`${api.url}/api/whoami`);
    await vi.waitFor(() => expect(sent).toHaveLength(1));
    expect(await sk.refresh()).toBe(true);
    releaseFirst();
    expect((await slow).status).toBe(200);
    expect(api.counts['POST /v1/session/refresh']).toBe(1);
    expect(sent).toEqual([sent[0], `Bearer ${sk.getTokens()?.accessToken}`]);
    expect(sent[0]).not.toBe(sent[1]);
  });

  it('warns before the session ends, and extend() renews it', async () => {
    const api = await server();
    let now = Date.now();
    const sk = client({ baseUrl: api.url, now: () => now, warnBeforeSeconds: 60 });
    sk.setTokens({ ...(await api.login()), refreshTokenExpiresIn: 120 });
    const expiring = vi.fn();
    sk.on('expiring', expiring);
    now += 75_000;
    sk.check();
    expect(sk.getState()).toMatchObject({ status: 'expiring', secondsLeft: 45 });
    expect(expiring).toHaveBeenLastCalledWith({ secondsLeft: 45 });
    expect(await sk.extend()).toBe(true);
    expect(api.counts['POST /v1/session/renew']).toBe(1);
    expect(sk.getState()).toMatchObject({ status: 'active', secondsLeft: 1800 });
  });

  it('keeps the session alive while active, not while idle', async () => {
    const api = await server();
    let now = Date.now();
    const sk = client({
      baseUrl: api.url,
      now: () => now,
      keepAlive: { intervalSeconds: 60, idleAfterSeconds: 120 },
    });
    sk.setTokens(await api.login());
    await sk.fetch(`${api.url}/api/whoami`);
    now += 61_000;
    sk.check();
    await vi.waitFor(() => expect(api.counts['POST /v1/session/renew']).toBe(1));
    now += 61_000; // no activity since the renewal
    sk.check();
    now += 200_000;
    sk.check();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(api.counts['POST /v1/session/renew']).toBe(1);
  });

  it('logout ends the session on the server', async () => {
    const api = await server();
    const sk = client({ baseUrl: api.url });
    const loggedOut = vi.fn();
    sk.on('loggedOut', loggedOut);
    sk.setTokens(await api.login());
    await sk.logout();
    expect(api.counts['DELETE /v1/session']).toBe(1);
    expect(loggedOut).toHaveBeenCalledWith({ reason: 'logout' });
    expect(sk.getState().status).toBe('loggedOut');
  });
});
