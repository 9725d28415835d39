import { describe, expect, it, vi } from 'vitest';
import { SessionClientError } from '../../packages/client/src/index.js';
import { createManualClock } from '../../packages/sessionkeeper/src/core/clock.js';
import { createSessionEngine } from '../../packages/sessionkeeper/src/core/engine.js';
import { createMemoryStore } from '../../packages/sessionkeeper/src/memory/index.js';
import { clientFixtures } from './node-fixtures.js';

const { server, client } = clientFixtures();

/** A request body that can be read only once, as an upload from a file or a generator is. */
function streamOf(text: string): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  return new ReadableStream({
    start(controller) {
      controller.enqueue(bytes.slice(0, 5));
      controller.enqueue(bytes.slice(5));
      controller.close();
    },
  });
}

const echoed = (api: { authorizations: { path: string; authorization?: string }[] }) =>
  api.authorizations.filter((entry) => entry.path === '/api/echo').map((e) => e.authorization);

describe('Request objects as input', () => {
  it('a Request gets the access token, like a URL does', async () => {
    const api = await server();
    const sk = client({ baseUrl: api.url });
    sk.setTokens(await api.login());
    const response = await sk.fetch(new Request(`${api.url}/api/whoami`));
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ sub: 'user-1' });
    expect(api.authorizations.at(-1)).toEqual({
      path: '/api/whoami',
      authorization: `Bearer ${sk.getTokens()?.accessToken}`,
    });
  });

  it('a refused Request is sent again with the new token, its body replayed', async () => {
    const api = await server();
    const sk = client({ baseUrl: api.url });
    sk.setTokens(await api.login());
    const first = sk.getTokens()?.accessToken;
    api.clock.advance(16 * 60); // the server finds the token expired; the client's clock does not
    const request = new Request(`${api.url}/api/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-trace': 'kept' },
      body: JSON.stringify({ order: 42 }),
    });
    const response = await sk.fetch(request);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      contentType: 'application/json',
      body: { order: 42 },
    });
    const current = sk.getTokens()?.accessToken;
    expect(current).not.toBe(first);
    expect(echoed(api)).toEqual([`Bearer ${first}`, `Bearer ${current}`]);
    expect(api.counts['POST /v1/session/refresh']).toBe(1);
    expect(request.bodyUsed).toBe(false); // the caller's Request is untouched (clones were sent)
  });

  it('a Request whose body is a stream is replayed from its clone', async () => {
    const api = await server();
    const sk = client({ baseUrl: api.url });
    sk.setTokens(await api.login());
    api.clock.advance(16 * 60);
    const response = await sk.fetch(
      new Request(`${api.url}/api/echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: streamOf(JSON.stringify({ lines: ['one', 'two'] })),
        duplex: 'half',
      } as RequestInit),
    );
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ body: { lines: ['one', 'two'] } });
    expect(echoed(api)).toHaveLength(2);
  });

  it('a stream body (init.body) is sent once: its 401 is returned, the token refreshed for a resend', async () => {
    const api = await server();
    const sk = client({ baseUrl: api.url });
    sk.setTokens(await api.login());
    const first = sk.getTokens()?.accessToken;
    api.clock.advance(16 * 60);
    const upload = () =>
      sk.fetch(`${api.url}/api/echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: streamOf(JSON.stringify({ once: true })),
        duplex: 'half',
      } as RequestInit);
    const refused = await upload();
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ code: 'ACCESS_TOKEN_EXPIRED', action: 'refresh' });
    expect(echoed(api)).toEqual([`Bearer ${first}`]);
    // The refresh already happened, so the caller's own resend (a new stream) goes through.
    expect(api.counts['POST /v1/session/refresh']).toBe(1);
    const resent = await upload();
    expect(resent.status).toBe(200);
    expect(await resent.json()).toMatchObject({ body: { once: true } });
    expect(api.counts['POST /v1/session/refresh']).toBe(1);
    expect(echoed(api)).toEqual([`Bearer ${first}`, `Bearer ${sk.getTokens()?.accessToken}`]);
  });
});

describe('the refresh cap', () => {
  it('an app that answers every token with 401 refresh gets at most N refreshes a minute', async () => {
    // The app beside the API verifies access tokens with a clock two hours fast, so every token
    // it sees has "expired": it answers 401 action: refresh for ever.
    const store = createMemoryStore();
    const api = await server({
      store,
      routes: async (app, harness) => {
        const fastClock = createManualClock(harness.clock.now() + 2 * 3600_000);
        const skewed = await createSessionEngine({ store, clock: fastClock, background: false });
        app.get('/api/skewed', async (request) => {
          const token = (request.headers.authorization ?? '').replace(/^Bearer /, '');
          const result = await skewed.verifyAccessToken(token);
          if (!result.ok) throw result.error;
          return { sub: result.claims.sub };
        });
      },
    });
    let now = Date.now();
    const sk = client({ baseUrl: api.url, now: () => now, maxRefreshesPerMinute: 3 });
    const errors: SessionClientError[] = [];
    const loggedOut = vi.fn();
    sk.on('error', (error) => errors.push(error));
    sk.on('loggedOut', loggedOut);
    sk.setTokens(await api.login());

    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      statuses.push((await sk.fetch(`${api.url}/api/skewed`)).status);
      now += 1000;
    }
    // Each request refreshes and retries once while under the cap; past it, no refresh at all.
    expect(statuses).toEqual(Array(8).fill(401));
    expect(api.counts['POST /v1/session/refresh']).toBe(3);
    expect(api.counts['GET /api/skewed']).toBe(3 * 2 + 5);
    expect(errors).toHaveLength(5);
    for (const error of errors) {
      expect(error).toBeInstanceOf(SessionClientError);
      expect(error.code).toBe('REFRESH_LIMIT');
    }
    expect(loggedOut).not.toHaveBeenCalled();
    expect(sk.getState().status).toBe('active');

    // Concurrent callers past the cap: one error per request, still no refresh.
    await Promise.all(Array.from({ length: 10 }, () => sk.fetch(`${api.url}/api/skewed`)));
    expect(api.counts['POST /v1/session/refresh']).toBe(3);

    // A minute after the first refresh, the window has room again.
    now += 60_000;
    expect((await sk.fetch(`${api.url}/api/whoami`)).status).toBe(200);
    expect((await sk.fetch(`${api.url}/api/skewed`)).status).toBe(401);
    expect(api.counts['POST /v1/session/refresh']).toBe(4);
  });
});

describe('timer-driven refreshes', () => {
  it('run for a user active within idleAfterSeconds, and not for an idle one', async () => {
    const api = await server();
    let now = Date.now();
    const sk = client({
      baseUrl: api.url,
      now: () => now,
      keepAlive: { intervalSeconds: 600, idleAfterSeconds: 300 },
    });
    sk.setTokens(await api.login());
    now += 5 * 60_000;
    expect((await sk.fetch(`${api.url}/api/whoami`)).status).toBe(200); // the last activity
    now += 9.6 * 60_000; // inside the 30 s leeway, 9.6 minutes after the last activity
    sk.check();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(api.counts['POST /v1/session/refresh']).toBeUndefined();

    // An idle user's next request refreshes first: nothing is refused.
    expect((await sk.fetch(`${api.url}/api/whoami`)).status).toBe(200);
    expect(api.counts['POST /v1/session/refresh']).toBe(1);
    expect(api.counts['401']).toBeUndefined();

    // Active (a request 4 minutes before the token is due): the timer refreshes on its own.
    now += 10 * 60_000;
    expect((await sk.fetch(`${api.url}/api/whoami`)).status).toBe(200);
    now += 4.6 * 60_000;
    sk.check();
    await vi.waitFor(() => expect(api.counts['POST /v1/session/refresh']).toBe(2));
  });
});

describe('an idle client', () => {
  it('does not wake up every 50 ms while its token is due and the user is away', async () => {
    const api = await server();
    let now = Date.now();
    let reads = 0;
    const sk = client({
      baseUrl: api.url,
      now: () => {
        reads++;
        return now;
      },
      keepAlive: { intervalSeconds: 60, idleAfterSeconds: 120 },
    });
    sk.setTokens(await api.login());
    await sk.fetch(`${api.url}/api/whoami`);
    now += 61_000;
    sk.check(); // renews (activity since the last renewal)
    await vi.waitFor(() => expect(api.counts['POST /v1/session/renew']).toBe(1));
    now += 14 * 60_000; // idle, and the access token is due: nothing to do until the user returns
    sk.check();
    await new Promise((resolve) => setTimeout(resolve, 100));
    reads = 0;
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(reads).toBe(0);
    expect(api.counts['POST /v1/session/refresh']).toBeUndefined();
  });
});
