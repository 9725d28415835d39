import { afterEach, describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../packages/sessionkeeper/src/core/errors.js';
import {
  codeForSlug,
  errorCodes,
  problemRegistry,
} from '../../packages/sessionkeeper/src/core/problems.js';
import { createMemoryStore } from '../../packages/sessionkeeper/src/memory/index.js';
import {
  API_KEY,
  backend,
  createSession,
  expectProblem,
  failingStore,
  type Harness,
  holder,
  startHarness,
} from './harness.js';

const harnesses: Harness[] = [];
async function setup(options: Parameters<typeof startHarness>[0] = {}): Promise<Harness> {
  const harness = await startHarness(options);
  harnesses.push(harness);
  return harness;
}
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

const INVALID_TOKEN_HEADER =
  /^Bearer realm="sessionkeeper", error="invalid_token", error_description="[^"\\]+"$/;

describe('backend: POST /v1/sessions', () => {
  it('creates a session and returns it with its token, uncacheable', async () => {
    const { app } = await setup();
    const response = await app.inject({
      method: 'POST',
      url: '/v1/sessions',
      headers: backend,
      payload: {
        subject: 'user-1',
        data: { cart: [1, 2] },
        idleTimeout: 600,
        absoluteTimeout: 3600,
      },
    });
    expect(response.statusCode).toBe(201);
    expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.headers['x-request-id']).toEqual(expect.any(String));
    const body = response.json();
    expect(body.token).toMatch(/^sks_[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(response.headers.location).toBe(`/v1/sessions/${body.session.id}`);
    expect(body.session).toEqual({
      id: expect.any(String),
      subject: 'user-1',
      data: { cart: [1, 2] },
      status: 'active',
      createdAt: '2026-01-15T10:00:00.000Z',
      lastActiveAt: '2026-01-15T10:00:00.000Z',
      expiresAt: '2026-01-15T10:10:00.000Z',
      absoluteExpiresAt: '2026-01-15T11:00:00.000Z',
      idleTimeout: 600,
      endReason: null,
      endedAt: null,
    });
  });

  it('asks for credentials when there are none, without an error code', async () => {
    const { app } = await setup();
    const response = await app.inject({
      method: 'POST',
      url: '/v1/sessions',
      payload: { subject: 'u' },
    });
    const problem = expectProblem(response, 401, 'UNAUTHORIZED');
    expect(problem.action).toBe('fix-request');
    expect(problem.instance).toBe('/v1/sessions');
    expect(response.headers['www-authenticate']).toBe('Bearer realm="sessionkeeper"');
  });

  it('treats a non-Bearer Authorization header as missing credentials', async () => {
    const { app } = await setup();
    const response = await app.inject({
      method: 'POST',
      url: '/v1/sessions',
      headers: { authorization: `Basic ${Buffer.from(`x:${API_KEY}`).toString('base64')}` },
      payload: { subject: 'u' },
    });
    expectProblem(response, 401, 'UNAUTHORIZED');
    expect(response.headers['www-authenticate']).toBe('Bearer realm="sessionkeeper"');
  });

  it('refuses a wrong API key, or a session token in its place, as invalid_token', async () => {
    const { app } = await setup();
    const { token } = await createSession(app);
    for (const key of [`${API_KEY}x`, 'k', token]) {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/sessions',
        headers: { authorization: `Bearer ${key}` },
        payload: { subject: 'u' },
      });
      const problem = expectProblem(response, 401, 'UNAUTHORIZED');
      expect(problem.detail).toBe('The API key is not valid');
      expect(response.headers['www-authenticate']).toMatch(INVALID_TOKEN_HEADER);
    }
  });

  it('names the offending field of an invalid body', async () => {
    const { app } = await setup();
    const cases: [unknown, string][] = [
      [{}, 'subject'],
      [{ subject: 42 }, 'subject'],
      [{ subject: '' }, 'subject'],
      [{ subject: 'a\u0000b' }, 'subject'],
      [{ subject: 'x'.repeat(300) }, 'subject'],
      [{ subject: 'u', data: [1] }, 'data'],
      [{ subject: 'u', data: 'text' }, 'data'],
      [{ subject: 'u', idleTimeout: '30m' }, 'idleTimeout'],
      [{ subject: 'u', idleTimeout: -1 }, 'idleTimeout'],
      [{ subject: 'u', idleTimeout: 0 }, 'idleTimeout'],
      [{ subject: 'u', absoluteTimeout: 1e12 }, 'absoluteTimeout'],
      [{ subject: 'u', idleTimeout: 600, absoluteTimeout: 60 }, 'absoluteTimeout'],
      [{ subject: 'u', idleTimeoutSeconds: 60 }, 'idleTimeoutSeconds'],
      [[{ subject: 'u' }], 'body'],
      ['"u"', 'body'],
    ];
    for (const [payload, field] of cases) {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/sessions',
        headers: { ...backend, 'content-type': 'application/json' },
        payload: JSON.stringify(payload),
      });
      const problem = expectProblem(response, 400, 'VALIDATION_FAILED');
      expect(problem.field, JSON.stringify(payload)).toBe(field);
      expect(problem.detail.startsWith(`${field}: `)).toBe(true);
      expect(problem.action).toBe('fix-request');
    }
  });

  it('refuses a missing body as validation-failed on body', async () => {
    const { app } = await setup();
    const response = await app.inject({ method: 'POST', url: '/v1/sessions', headers: backend });
    expect(expectProblem(response, 400, 'VALIDATION_FAILED').field).toBe('body');
  });

  it('refuses session data over the data limit as payload-too-large', async () => {
    const { app } = await setup({ engine: { maxDataBytes: 1024 } });
    const response = await app.inject({
      method: 'POST',
      url: '/v1/sessions',
      headers: backend,
      payload: { subject: 'u', data: { big: 'x'.repeat(2000) } },
    });
    const problem = expectProblem(response, 413, 'PAYLOAD_TOO_LARGE');
    expect(problem.detail).toMatch(/limit is 1024 bytes/);
  });

  it('answers 409 session-limit-reached when a refusing cap is full', async () => {
    const { app } = await setup({
      engine: { limits: { perSubject: { max: 1, policy: 'refuse' } } },
    });
    await createSession(app);
    const response = await app.inject({
      method: 'POST',
      url: '/v1/sessions',
      headers: backend,
      payload: { subject: 'user-1' },
    });
    expectProblem(response, 409, 'SESSION_LIMIT_REACHED');
  });
});

describe("Fastify's own failures are our problems", () => {
  it('bad JSON is validation-failed on body', async () => {
    const { app } = await setup();
    for (const payload of [
      '{bad',
      '{"subject": "u",}',
      '{"__proto__": {"x": 1}, "subject": "u"}',
    ]) {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/sessions',
        headers: { ...backend, 'content-type': 'application/json' },
        payload,
      });
      expect(expectProblem(response, 400, 'VALIDATION_FAILED').field).toBe('body');
    }
  });

  it('an empty JSON body is validation-failed on body', async () => {
    const { app } = await setup();
    const response = await app.inject({
      method: 'POST',
      url: '/v1/sessions',
      headers: { ...backend, 'content-type': 'application/json' },
      payload: '',
    });
    expect(expectProblem(response, 400, 'VALIDATION_FAILED').field).toBe('body');
  });

  it('a body over the body limit is payload-too-large', async () => {
    const { app } = await setup();
    const response = await app.inject({
      method: 'POST',
      url: '/v1/sessions',
      headers: backend,
      payload: { subject: 'u', data: { big: 'x'.repeat(70_000) } },
    });
    const problem = expectProblem(response, 413, 'PAYLOAD_TOO_LARGE');
    expect(problem.detail).toMatch(/65536 bytes/);
  });

  it('a body that is not JSON is refused as the wrong media type', async () => {
    const { app } = await setup();
    // The registry decides the status: 415 once it has `unsupported-media-type`, until then 400 on content-type.
    const code = codeForSlug('unsupported-media-type') ?? 'VALIDATION_FAILED';
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'application/xml',
      'multipart/form-data; boundary=x',
    ]) {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/sessions',
        headers: { ...backend, 'content-type': type },
        payload: 'subject=u',
      });
      const problem = expectProblem(response, problemRegistry[code].status, code);
      expect(problem.detail).toContain('application/json');
    }
  });

  it('an unknown route is not-found', async () => {
    const { app } = await setup();
    for (const [method, url] of [
      ['GET', '/nope'],
      ['PUT', '/v2/sessions'],
      ['GET', '/v2/sessions'],
      ['POST', '/v1/session/nope'],
    ] as const) {
      const response = await app.inject({ method, url, headers: backend });
      const problem = expectProblem(response, 404, 'NOT_FOUND');
      expect(problem.instance).toBe(url);
      expect(problem.detail).toContain(`${method} ${url}`);
    }
  });

  it('a thrown bug is a 500 problem that shows nothing of it, logged with the request id', async () => {
    let fail = false;
    const store = failingStore(createMemoryStore(), () =>
      fail ? new Error('secret internal detail') : null,
    );
    const { app, logs } = await setup({ store });
    fail = true;
    const response = await app.inject({ method: 'GET', url: '/v1/stats', headers: backend });
    expect(response.statusCode).toBe(500);
    expect(response.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(response.body).not.toContain('secret internal detail');
    const problem = response.json();
    expect(problem.status).toBe(500);
    expect(problem.requestId).toBe(response.headers['x-request-id']);
    expect(problem.detail).toContain(problem.requestId);
    const logged = logs.map((line) => JSON.parse(line)).find((line) => line.level === 50);
    expect(logged).toMatchObject({
      reqId: problem.requestId,
      err: { message: 'secret internal detail' },
    });
  });
});

describe('backend: reading, listing, updating and revoking', () => {
  it('GET /v1/sessions/{id} returns the session with its timing; unknown and bad ids are problems', async () => {
    const { app, clock } = await setup();
    const { id } = await createSession(app);
    clock.advance(100);
    const response = await app.inject({
      method: 'GET',
      url: `/v1/sessions/${id}`,
      headers: backend,
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      session: { id, status: 'active' },
      age: 100,
      idleRemaining: 1700,
      absoluteRemaining: 86300,
    });

    const unknown = await app.inject({
      method: 'GET',
      url: '/v1/sessions/AAAAAAAAAAAAAAAAAAAAAA',
      headers: backend,
    });
    expect(expectProblem(unknown, 404, 'NOT_FOUND').detail).toContain('AAAAAAAAAAAAAAAAAAAAAA');
    const bad = await app.inject({
      method: 'GET',
      url: '/v1/sessions/..%2F..%2Fetc',
      headers: backend,
    });
    expect(expectProblem(bad, 400, 'VALIDATION_FAILED').field).toBe('id');
    const noKey = await app.inject({ method: 'GET', url: `/v1/sessions/${id}` });
    expectProblem(noKey, 401, 'UNAUTHORIZED');
  });

  it('GET /v1/sessions lists a subject page by page', async () => {
    const { app, clock } = await setup();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push((await createSession(app, { subject: 'user-1' })).id);
      clock.advance(1);
    }
    await createSession(app, { subject: 'someone-else' });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = `subject=user-1&limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const response = await app.inject({
        method: 'GET',
        url: `/v1/sessions?${query}`,
        headers: backend,
      });
      expect(response.statusCode).toBe(200);
      const page = response.json<{ sessions: { id: string }[]; nextCursor: string | null }>();
      seen.push(...page.sessions.map((s) => s.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
  });

  it('GET /v1/sessions names the bad query parameter', async () => {
    const { app } = await setup();
    const cases: [string, string][] = [
      ['', 'subject'],
      ['subject=', 'subject'],
      ['subject=u&limit=abc', 'limit'],
      ['subject=u&limit=0', 'limit'],
      ['subject=u&limit=5000', 'limit'],
      ['subject=u&cursor=nonsense', 'cursor'],
      ['subject=u&subject=v', 'subject'],
      ['subject=u&sort=asc', 'sort'],
    ];
    for (const [query, field] of cases) {
      const response = await app.inject({
        method: 'GET',
        url: `/v1/sessions?${query}`,
        headers: backend,
      });
      expect(expectProblem(response, 400, 'VALIDATION_FAILED').field, query).toBe(field);
    }
  });

  it('PATCH /v1/sessions/{id} replaces the data of an active session only', async () => {
    const { app } = await setup();
    const { id, token } = await createSession(app, { subject: 'u', data: { step: 1 } });
    const response = await app.inject({
      method: 'PATCH',
      url: `/v1/sessions/${id}`,
      headers: backend,
      payload: { data: { step: 2 } },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json().session.data).toEqual({ step: 2 });
    const validated = await app.inject({
      method: 'POST',
      url: '/v1/session/validate',
      headers: holder(token),
    });
    expect(validated.json().session.data).toEqual({ step: 2 });

    const noData = await app.inject({
      method: 'PATCH',
      url: `/v1/sessions/${id}`,
      headers: backend,
      payload: { step: 3 },
    });
    expect(expectProblem(noData, 400, 'VALIDATION_FAILED').field).toBe('data');
    const unknown = await app.inject({
      method: 'PATCH',
      url: '/v1/sessions/AAAAAAAAAAAAAAAAAAAAAA',
      headers: backend,
      payload: { data: {} },
    });
    expectProblem(unknown, 404, 'NOT_FOUND');
    await app.inject({ method: 'DELETE', url: `/v1/sessions/${id}`, headers: backend });
    const ended = await app.inject({
      method: 'PATCH',
      url: `/v1/sessions/${id}`,
      headers: backend,
      payload: { data: {} },
    });
    expect(expectProblem(ended, 404, 'NOT_FOUND').detail).toMatch(/was revoked/);
  });

  it('DELETE /v1/sessions/{id} revokes (idempotently) and the token stops working', async () => {
    const { app } = await setup();
    const { id, token } = await createSession(app);
    const response = await app.inject({
      method: 'DELETE',
      url: `/v1/sessions/${id}?reason=admin`,
      headers: backend,
    });
    expect(response.statusCode).toBe(204);
    expect(response.body).toBe('');
    const validated = await app.inject({
      method: 'POST',
      url: '/v1/session/validate',
      headers: holder(token),
    });
    const problem = expectProblem(validated, 401, 'SESSION_REVOKED');
    expect(problem.detail).toContain('reason: admin');
    expect(problem.action).toBe('reauthenticate');
    const again = await app.inject({
      method: 'DELETE',
      url: `/v1/sessions/${id}`,
      headers: backend,
    });
    expect(again.statusCode).toBe(204);
    const unknown = await app.inject({
      method: 'DELETE',
      url: '/v1/sessions/AAAAAAAAAAAAAAAAAAAAAA',
      headers: backend,
    });
    expectProblem(unknown, 404, 'NOT_FOUND');
    const badReason = await app.inject({
      method: 'DELETE',
      url: `/v1/sessions/${id}?reason=`,
      headers: backend,
    });
    expect(expectProblem(badReason, 400, 'VALIDATION_FAILED').field).toBe('reason');
  });

  it('DELETE /v1/subjects/{subject}/sessions revokes every session of that subject only', async () => {
    const { app } = await setup();
    const subject = 'tenant/42 ü';
    const mine = [await createSession(app, { subject }), await createSession(app, { subject })];
    const other = await createSession(app, { subject: 'other' });
    const response = await app.inject({
      method: 'DELETE',
      url: `/v1/subjects/${encodeURIComponent(subject)}/sessions`,
      headers: backend,
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ revoked: 2 });
    for (const { token } of mine) {
      const validated = await app.inject({
        method: 'POST',
        url: '/v1/session/validate',
        headers: holder(token),
      });
      expectProblem(validated, 401, 'SESSION_REVOKED');
    }
    const still = await app.inject({
      method: 'POST',
      url: '/v1/session/validate',
      headers: holder(other.token),
    });
    expect(still.statusCode).toBe(200);
    const bad = await app.inject({
      method: 'DELETE',
      url: `/v1/subjects/${'%20'.repeat(3)}/sessions`,
      headers: backend,
    });
    expect(expectProblem(bad, 400, 'VALIDATION_FAILED').field).toBe('subject');
  });

  it('GET /v1/stats counts active sessions', async () => {
    const { app, clock } = await setup({ engine: { idleTimeoutSeconds: 60 } });
    await createSession(app);
    await createSession(app, { subject: 'user-2', idleTimeout: 600 });
    expect(
      (await app.inject({ method: 'GET', url: '/v1/stats', headers: backend })).json(),
    ).toEqual({ active: 2 });
    clock.advance(61);
    expect(
      (await app.inject({ method: 'GET', url: '/v1/stats', headers: backend })).json(),
    ).toEqual({ active: 1 });
    expectProblem(await app.inject({ method: 'GET', url: '/v1/stats' }), 401, 'UNAUTHORIZED');
  });
});

describe('session holder', () => {
  it('POST /v1/session/validate accepts the token as Bearer or as the sk_session cookie', async () => {
    const { app, clock } = await setup();
    const { id, token } = await createSession(app, { subject: 'u', data: { a: 1 } });
    clock.advance(10);
    const byBearer = await app.inject({
      method: 'POST',
      url: '/v1/session/validate',
      headers: holder(token),
    });
    expect(byBearer.statusCode).toBe(200);
    expect(byBearer.headers['cache-control']).toBe('no-store');
    expect(byBearer.json()).toEqual({
      valid: true,
      session: expect.objectContaining({ id, data: { a: 1 } }),
      age: 10,
      idleRemaining: 1790, // under the touch interval, so not written: idle still runs from creation
      absoluteRemaining: 86390,
    });
    const byCookie = await app.inject({
      method: 'POST',
      url: '/v1/session/validate',
      headers: { cookie: `theme=dark; sk_session=${token}; other=1` },
    });
    expect(byCookie.statusCode).toBe(200);
  });

  it('reads the __Host-sk_session cookie the middleware sets over https, and prefers it', async () => {
    const { app } = await setup();
    const { id, token } = await createSession(app, { subject: 'secure' });
    const other = await createSession(app, { subject: 'plain' });
    const response = await app.inject({
      method: 'POST',
      url: '/v1/session/validate',
      headers: { cookie: `sk_session=${other.token}; __Host-sk_session=${token}` },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json().session.id).toBe(id);
  });

  it('refuses a cross-site state change made with the cookie, not with Bearer or from a CORS origin', async () => {
    const { app } = await setup({ app: { corsOrigins: ['https://app.example'] } });
    const { token } = await createSession(app);
    const cookie = { cookie: `sk_session=${token}` };
    const renew = (headers: Record<string, string>) =>
      app.inject({ method: 'POST', url: '/v1/session/renew', headers });
    const refused = await renew({
      ...cookie,
      'sec-fetch-site': 'cross-site',
      origin: 'https://evil.example',
    });
    expect(expectProblem(refused, 403, 'CSRF_REJECTED').detail).toContain('cross-site POST');
    expectProblem(await renew({ ...cookie, origin: 'https://evil.example' }), 403, 'CSRF_REJECTED');
    expect((await renew({ ...cookie, 'sec-fetch-site': 'same-origin' })).statusCode).toBe(200);
    expect(
      (await renew({ ...cookie, host: 'sk.example', origin: 'https://sk.example' })).statusCode,
    ).toBe(200);
    expect(
      (await renew({ ...cookie, 'sec-fetch-site': 'cross-site', origin: 'https://app.example' }))
        .statusCode,
    ).toBe(200);
    expect((await renew({ ...cookie })).statusCode).toBe(200); // no browser headers: not a browser
    expect(
      (
        await renew({
          ...holder(token),
          'sec-fetch-site': 'cross-site',
          origin: 'https://evil.example',
        })
      ).statusCode,
    ).toBe(200);
    const read = await app.inject({
      method: 'GET',
      url: '/v1/session',
      headers: { ...cookie, 'sec-fetch-site': 'cross-site' },
    });
    // A cross-site read is refused too (test/server/cross-site-read.test.ts has the details).
    expectProblem(read, 403, 'CSRF_REJECTED');
    const logout = await app.inject({
      method: 'DELETE',
      url: '/v1/session',
      headers: { ...cookie, 'sec-fetch-site': 'cross-site' },
    });
    expectProblem(logout, 403, 'CSRF_REJECTED');
  });

  it('DELETE /v1/session with the cookie also deletes the cookie; with Bearer it sets none', async () => {
    const { app } = await setup();
    const first = await createSession(app);
    const byCookie = await app.inject({
      method: 'DELETE',
      url: '/v1/session',
      headers: { cookie: `sk_session=${first.token}` },
    });
    expect(byCookie.statusCode).toBe(204);
    expect(byCookie.headers['set-cookie']).toEqual([
      '__Host-sk_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure',
      'sk_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax',
    ]);
    const second = await createSession(app);
    const byBearer = await app.inject({
      method: 'DELETE',
      url: '/v1/session',
      headers: holder(second.token),
    });
    expect(byBearer.statusCode).toBe(204);
    expect(byBearer.headers['set-cookie']).toBeUndefined();
  });

  it('tells a missing, malformed, wrong-secret and unknown token apart', async () => {
    const { app } = await setup();
    const { id, token } = await createSession(app);
    const none = await app.inject({ method: 'POST', url: '/v1/session/validate' });
    expectProblem(none, 401, 'UNAUTHORIZED');
    expect(none.headers['www-authenticate']).toBe('Bearer realm="sessionkeeper"');
    const cases: [string, string][] = [
      ['nonsense', 'INVALID_TOKEN'],
      [token.slice(0, -4), 'INVALID_TOKEN'],
      [`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`, 'INVALID_TOKEN'],
      [API_KEY, 'INVALID_TOKEN'],
      [token.replace(id, 'AAAAAAAAAAAAAAAAAAAAAA'), 'SESSION_NOT_FOUND'],
    ];
    for (const [presented, code] of cases) {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/session/validate',
        headers: holder(presented),
      });
      const problem = expectProblem(response, 401, code);
      expect(problem.action).toBe('reauthenticate');
      expect(response.headers['www-authenticate']).toMatch(INVALID_TOKEN_HEADER);
      expect(response.body).not.toContain(token.split('.')[1]);
    }
  });

  it('answers session-expired after the idle timeout, with when in the detail', async () => {
    const { app, clock } = await setup();
    const { token } = await createSession(app);
    clock.advance(1801);
    const response = await app.inject({
      method: 'POST',
      url: '/v1/session/validate',
      headers: holder(token),
    });
    const problem = expectProblem(response, 401, 'SESSION_EXPIRED');
    expect(problem.action).toBe('reauthenticate');
    expect(problem.detail).toMatch(
      /30 minutes of inactivity; last activity at 2026-01-15T10:00:00Z/,
    );
    expect(problem.timestamp).toBe(new Date(clock.now()).toISOString());
    expect(response.headers['www-authenticate']).toContain('30 minutes of inactivity');
  });

  it('answers session-lifetime-exceeded after the absolute timeout', async () => {
    const { app, clock } = await setup();
    const { token } = await createSession(app, {
      subject: 'u',
      idleTimeout: 600,
      absoluteTimeout: 900,
    });
    clock.advance(500);
    expect(
      (await app.inject({ method: 'POST', url: '/v1/session/renew', headers: holder(token) }))
        .statusCode,
    ).toBe(200);
    clock.advance(401);
    const response = await app.inject({
      method: 'GET',
      url: '/v1/session',
      headers: holder(token),
    });
    expectProblem(response, 401, 'SESSION_LIFETIME_EXCEEDED');
  });

  it('GET /v1/session reports status and time left; renew extends the idle deadline', async () => {
    const { app, clock } = await setup({ engine: { touchIntervalSeconds: 600 } });
    const { token } = await createSession(app);
    clock.advance(120);
    const info = await app.inject({ method: 'GET', url: '/v1/session', headers: holder(token) });
    expect(info.statusCode).toBe(200);
    // Under the touch interval the read is not written, so the idle deadline has not moved yet.
    expect(info.json()).toMatchObject({
      session: { status: 'active' },
      age: 120,
      idleRemaining: 1680,
    });
    const renewed = await app.inject({
      method: 'POST',
      url: '/v1/session/renew',
      headers: holder(token),
    });
    expect(renewed.statusCode).toBe(200);
    expect(renewed.json()).toMatchObject({ idleRemaining: 1800, absoluteRemaining: 86280 });
  });

  it('DELETE /v1/session logs out; logging out of an ended session still succeeds', async () => {
    const { app, clock } = await setup();
    const { token } = await createSession(app);
    const response = await app.inject({
      method: 'DELETE',
      url: '/v1/session',
      headers: holder(token),
    });
    expect(response.statusCode).toBe(204);
    const after = await app.inject({
      method: 'POST',
      url: '/v1/session/validate',
      headers: holder(token),
    });
    expect(expectProblem(after, 401, 'SESSION_REVOKED').detail).toContain('reason: logout');
    expect(
      (await app.inject({ method: 'DELETE', url: '/v1/session', headers: holder(token) }))
        .statusCode,
    ).toBe(204);

    const expiring = await createSession(app);
    clock.advance(1801);
    expect(
      (await app.inject({ method: 'DELETE', url: '/v1/session', headers: holder(expiring.token) }))
        .statusCode,
    ).toBe(204);
    const forged = await app.inject({
      method: 'DELETE',
      url: '/v1/session',
      headers: holder('sks_nope'),
    });
    expectProblem(forged, 401, 'INVALID_TOKEN');
    expectProblem(await app.inject({ method: 'DELETE', url: '/v1/session' }), 401, 'UNAUTHORIZED');
  });

  it('a lease holds the session past its idle timeout until released', async () => {
    const { app, clock } = await setup();
    const { token } = await createSession(app);
    const response = await app.inject({
      method: 'POST',
      url: '/v1/session/leases',
      headers: holder(token),
      payload: { ttl: 3600 },
    });
    expect(response.statusCode).toBe(201);
    const lease = response.json();
    expect(lease).toEqual({
      leaseId: expect.any(String),
      expiresAt: '2026-01-15T11:00:00.000Z',
      expiresIn: 3600,
    });
    clock.advance(3000); // well past the 30-minute idle timeout
    expect(
      (await app.inject({ method: 'POST', url: '/v1/session/validate', headers: holder(token) }))
        .statusCode,
    ).toBe(200);
    const released = await app.inject({
      method: 'DELETE',
      url: `/v1/session/leases/${lease.leaseId}`,
      headers: holder(token),
    });
    expect(released.statusCode).toBe(204);
    clock.advance(1801);
    const expired = await app.inject({
      method: 'POST',
      url: '/v1/session/validate',
      headers: holder(token),
    });
    expectProblem(expired, 401, 'SESSION_EXPIRED');
  });

  it("caps a lease's expiry at the absolute deadline", async () => {
    const { app } = await setup();
    const { token } = await createSession(app, {
      subject: 'u',
      idleTimeout: 60,
      absoluteTimeout: 120,
    });
    const response = await app.inject({
      method: 'POST',
      url: '/v1/session/leases',
      headers: holder(token),
      payload: { ttl: 3600 },
    });
    expect(response.json()).toMatchObject({
      expiresAt: '2026-01-15T10:02:00.000Z',
      expiresIn: 120,
    });
  });

  it('lease requests name their bad field and need a valid session', async () => {
    const { app, clock } = await setup();
    const { token } = await createSession(app);
    const cases: [unknown, string][] = [
      [{}, 'ttl'],
      [{ ttl: '1h' }, 'ttl'],
      [{ ttl: -5 }, 'ttl'],
      [{ ttl: 60, extra: true }, 'extra'],
    ];
    for (const [payload, field] of cases) {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/session/leases',
        headers: holder(token),
        payload: payload as object,
      });
      expect(expectProblem(response, 400, 'VALIDATION_FAILED').field, JSON.stringify(payload)).toBe(
        field,
      );
    }
    const badId = await app.inject({
      method: 'DELETE',
      url: '/v1/session/leases/..%2Fx',
      headers: holder(token),
    });
    expect(expectProblem(badId, 400, 'VALIDATION_FAILED').field).toBe('leaseId');
    expectProblem(
      await app.inject({ method: 'POST', url: '/v1/session/leases', payload: { ttl: 60 } }),
      401,
      'UNAUTHORIZED',
    );
    clock.advance(1801);
    const expired = await app.inject({
      method: 'POST',
      url: '/v1/session/leases',
      headers: holder(token),
      payload: { ttl: 60 },
    });
    expectProblem(expired, 401, 'SESSION_EXPIRED');
    const release = await app.inject({
      method: 'DELETE',
      url: '/v1/session/leases/8d1f7a52-3c0e-4b8e-9d7c-2f4a6b1e0c93',
      headers: holder(token),
    });
    expectProblem(release, 401, 'SESSION_EXPIRED');
  });
});

describe('store outages', () => {
  it('answers 503 store-unavailable with Retry-After, on API calls and on /readyz', async () => {
    let down = false;
    const store = failingStore(createMemoryStore(), () =>
      down
        ? new StoreUnavailableError('The session store memory: is unreachable', {
            retryAfterSeconds: 2,
          })
        : null,
    );
    const { app } = await setup({ store });
    const { token } = await createSession(app);
    expect((await app.inject({ method: 'GET', url: '/readyz' })).json()).toEqual({
      status: 'ready',
    });
    down = true;
    for (const request of [
      { method: 'POST' as const, url: '/v1/session/validate', headers: holder(token) },
      { method: 'POST' as const, url: '/v1/sessions', headers: backend, payload: { subject: 'u' } },
      { method: 'GET' as const, url: '/readyz' },
    ]) {
      const response = await app.inject(request);
      const problem = expectProblem(response, 503, 'STORE_UNAVAILABLE');
      expect(problem.action).toBe('retry');
      expect(response.headers['retry-after']).toBe('2');
    }
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    down = false;
    expect(
      (await app.inject({ method: 'POST', url: '/v1/session/validate', headers: holder(token) }))
        .statusCode,
    ).toBe(200);
  });
});

describe('operations and problem pages', () => {
  it('/healthz and /readyz answer without credentials', async () => {
    const { app } = await setup();
    expect((await app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await app.inject({ method: 'GET', url: '/readyz' })).json()).toEqual({
      status: 'ready',
    });
  });

  it('serves a human page for every registry entry, and an index', async () => {
    const { app } = await setup();
    for (const code of errorCodes) {
      const { slug, title } = problemRegistry[code];
      const response = await app.inject({ method: 'GET', url: `/problems/${slug}` });
      expect(response.statusCode, slug).toBe(200);
      expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(response.body).toContain(`<h1>${title}</h1>`);
      expect(response.body).toContain(code);
    }
    const index = await app.inject({ method: 'GET', url: '/problems' });
    expect(index.statusCode).toBe(200);
    for (const code of errorCodes)
      expect(index.body).toContain(`/problems/${problemRegistry[code].slug}`);
  });

  it('an unknown problem slug is a not-found problem', async () => {
    const { app } = await setup();
    const response = await app.inject({ method: 'GET', url: '/problems/no-such-thing' });
    expectProblem(response, 404, 'NOT_FOUND');
  });

  it('adopts a sane incoming X-Request-Id and replaces anything else', async () => {
    const { app } = await setup();
    const sane = await app.inject({
      method: 'GET',
      url: '/nope',
      headers: { 'x-request-id': 'trace-abc.123:4' },
    });
    expect(sane.headers['x-request-id']).toBe('trace-abc.123:4');
    expect(sane.json().requestId).toBe('trace-abc.123:4');
    for (const insane of ['has space', 'x'.repeat(200), '<script>', 'a\tb']) {
      const response = await app.inject({
        method: 'GET',
        url: '/healthz',
        headers: { 'x-request-id': insane },
      });
      expect(response.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('never logs a token or the API key', async () => {
    const { app, logs, clock } = await setup();
    const { id, token } = await createSession(app);
    await app.inject({ method: 'POST', url: '/v1/session/validate', headers: holder(token) });
    await app.inject({
      method: 'POST',
      url: '/v1/session/validate',
      headers: { cookie: `sk_session=${token}` },
    });
    await app.inject({ method: 'POST', url: '/v1/session/validate', headers: holder(`${token}x`) });
    clock.advance(1801);
    await app.inject({ method: 'POST', url: '/v1/session/validate', headers: holder(token) });
    await app.inject({ method: 'DELETE', url: `/v1/sessions/${id}`, headers: backend });
    const text = logs.join('');
    expect(text).toContain('request completed');
    expect(text).toContain(id); // ids are public and useful in logs
    expect(text).not.toContain(token.split('.')[1]);
    expect(text).not.toContain(API_KEY);
  });
});
