import { afterEach, describe, expect, it } from 'vitest';
import { createSession, expectProblem, type Harness, startHarness } from './harness.js';

// Issue 13 item 8: a cross-site request carrying the session cookie must not count as the user's
// activity nor reveal the session, reads included. The service refuses it (403 csrf-rejected)
// before the store is read; the middleware's holder routes do the same
// (test/middleware/holder-routes.test.ts).

const harnesses: Harness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

describe('cookie-authenticated holder calls from another site', () => {
  it('GET /v1/session and POST /v1/session/validate are refused and do not move lastActiveAt', async () => {
    const harness = await startHarness({ app: { corsOrigins: ['https://app.example'] } });
    harnesses.push(harness);
    const { app, engine, clock } = harness;
    const { id, token } = await createSession(app);
    const lastActive = async () => (await engine.get(id))?.session.lastActiveAt.getTime();
    const created = await lastActive();
    clock.advance(10 * 60); // well past the touch interval: any use would write lastActiveAt

    const cookie = { cookie: `sk_session=${token}` };
    for (const [method, url] of [
      ['GET', '/v1/session'],
      ['POST', '/v1/session/validate'],
      ['POST', '/v1/session/renew'],
    ] as const) {
      const bySite = await app.inject({
        method,
        url,
        headers: { ...cookie, 'sec-fetch-site': 'cross-site' },
      });
      const problem = expectProblem(bySite, 403, 'CSRF_REJECTED');
      expect(problem.detail).toContain(`cross-site ${method}`);
      expect(bySite.body).not.toContain(id); // nothing about the session is revealed
      // A browser without Fetch Metadata: the Origin of another site counts the same.
      const byOrigin = await app.inject({
        method,
        url,
        headers: { ...cookie, origin: 'https://evil.example' },
      });
      expectProblem(byOrigin, 403, 'CSRF_REJECTED');
    }
    expect(await lastActive()).toBe(created);

    // The app's own pages, a trusted (CORS) origin, and Bearer callers are served as before.
    const own = await app.inject({
      method: 'GET',
      url: '/v1/session',
      headers: { ...cookie, 'sec-fetch-site': 'same-origin' },
    });
    expect(own.statusCode).toBe(200);
    expect(await lastActive()).toBe(clock.now());
    clock.advance(10 * 60);
    const trusted = await app.inject({
      method: 'GET',
      url: '/v1/session',
      headers: { ...cookie, 'sec-fetch-site': 'cross-site', origin: 'https://app.example' },
    });
    expect(trusted.statusCode).toBe(200);
    const bearer = await app.inject({
      method: 'GET',
      url: '/v1/session',
      headers: { authorization: `Bearer ${token}`, 'sec-fetch-site': 'cross-site' },
    });
    expect(bearer.statusCode).toBe(200);
  });
});
