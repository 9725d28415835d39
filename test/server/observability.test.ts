import { afterEach, describe, expect, it } from 'vitest';
import { createServerMetrics, timedStore } from '../../packages/server/src/server/metrics.js';
import { createMemoryStore } from '../../packages/sessionkeeper/src/memory/index.js';
import {
  backend,
  createSession,
  expectProblem,
  type Harness,
  holder,
  startHarness,
} from './harness.js';

const open: Harness[] = [];
afterEach(async () => {
  for (const h of open.splice(0)) await h.close();
});

async function harness(options: Parameters<typeof startHarness>[0] = {}): Promise<Harness> {
  const h = await startHarness(options);
  open.push(h);
  return h;
}

/** The value of one sample line of the exposition text, or undefined. */
function sample(text: string, line: string): number | undefined {
  const hit = text.split('\n').find((l) => l.startsWith(`${line} `));
  return hit === undefined ? undefined : Number(hit.slice(line.length + 1));
}

describe('GET /metrics', () => {
  it('exports sessions, validations, refreshes, expirations, HTTP and store latency', async () => {
    const metrics = createServerMetrics();
    const h = await harness({
      store: timedStore(createMemoryStore(), metrics),
      app: { metrics },
    });
    const a = await createSession(h.app);
    await createSession(h.app, { subject: 'user-2', idleTimeout: 60 });
    await h.app.inject({ method: 'POST', url: '/v1/session/validate', headers: holder(a.token) });
    await h.app.inject({ method: 'POST', url: '/v1/session/validate', headers: holder('sks_bad') });
    await h.app.inject({
      method: 'POST',
      url: '/v1/session/refresh',
      payload: { refreshToken: a.refreshToken },
    });
    h.clock.advance(120);
    await h.engine.sweep();
    await h.engine.deliverEvents();

    const response = await h.app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain/);
    const text = response.body;
    expect(sample(text, 'sessionkeeper_active_sessions')).toBe(1);
    expect(sample(text, 'sessionkeeper_validations_total{result="ok"}')).toBe(1);
    expect(sample(text, 'sessionkeeper_validations_total{result="malformed"}')).toBe(1);
    expect(sample(text, 'sessionkeeper_refreshes_total{result="ok"}')).toBe(1);
    expect(sample(text, 'sessionkeeper_expirations_total{reason="idle"}')).toBe(1);
    expect(
      sample(
        text,
        'sessionkeeper_http_request_duration_seconds_count{method="POST",route="/v1/session/validate",status="401"}',
      ),
    ).toBe(1);
    expect(
      sample(
        text,
        'sessionkeeper_http_request_duration_seconds_count{method="POST",route="/v1/sessions",status="201"}',
      ),
    ).toBe(2);
    expect(
      sample(text, 'sessionkeeper_store_operation_duration_seconds_count{operation="get"}'),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sample(text, 'sessionkeeper_store_operation_duration_seconds_count{operation="create"}'),
    ).toBe(2);
    expect(text).not.toContain(a.token);
  });

  it('keeps a registry per app, so two apps in one process do not collide', async () => {
    const one = await harness();
    const two = await harness();
    await createSession(one.app);
    const first = await one.app.inject({ method: 'GET', url: '/metrics' });
    const second = await two.app.inject({ method: 'GET', url: '/metrics' });
    expect(sample(first.body, 'sessionkeeper_active_sessions')).toBe(1);
    expect(sample(second.body, 'sessionkeeper_active_sessions')).toBe(0);
  });

  it('asks for the API key when configured to', async () => {
    const h = await harness({ app: { metricsRequireApiKey: true } });
    expectProblem(await h.app.inject({ method: 'GET', url: '/metrics' }), 401, 'UNAUTHORIZED');
    const ok = await h.app.inject({ method: 'GET', url: '/metrics', headers: backend });
    expect(ok.statusCode).toBe(200);
  });
});

describe('failure rate limit', () => {
  it('answers failures 429 rate-limited with Retry-After past N a minute; valid credentials still pass', async () => {
    const h = await harness({ app: { rateLimitFailuresPerMinute: 3 } });
    const session = await createSession(h.app);
    const validate = (token: string, remoteAddress = '127.0.0.1') =>
      h.app.inject({
        method: 'POST',
        url: '/v1/session/validate',
        headers: holder(token),
        remoteAddress,
      });
    for (let i = 0; i < 10; i++) expect((await validate(session.token)).statusCode).toBe(200);
    for (let i = 0; i < 3; i++) expectProblem(await validate('sks_bad'), 401, 'INVALID_TOKEN');
    const limited = expectProblem(await validate('sks_bad'), 429, 'RATE_LIMITED');
    expect(limited.type).toBe('/problems/rate-limited');
    const retryAfter = Number((await validate('sks_bad')).headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    // The limiter slows guessing, not users: a valid token from the same address is served.
    expect((await validate(session.token)).statusCode).toBe(200);
    const refresh = await h.app.inject({
      method: 'POST',
      url: '/v1/session/refresh',
      payload: { refreshToken: session.refreshToken },
    });
    expect(refresh.statusCode, refresh.body).toBe(200);
    const wrongRefresh = await h.app.inject({
      method: 'POST',
      url: '/v1/session/refresh',
      payload: { refreshToken: 'skr_nonsense' },
    });
    expectProblem(wrongRefresh, 429, 'RATE_LIMITED');
    // Another client address is not affected, nor are backend calls.
    expectProblem(await validate('sks_bad', '10.0.0.2'), 401, 'INVALID_TOKEN');
    const stats = await h.app.inject({ method: 'GET', url: '/v1/stats', headers: backend });
    expect(stats.statusCode).toBe(200);
  });

  it('counts failed refreshes', async () => {
    const h = await harness({ app: { rateLimitFailuresPerMinute: 2 } });
    const refresh = () =>
      h.app.inject({
        method: 'POST',
        url: '/v1/session/refresh',
        payload: { refreshToken: 'skr_nonsense' },
      });
    expect((await refresh()).statusCode).toBe(401);
    expect((await refresh()).statusCode).toBe(401);
    expectProblem(await refresh(), 429, 'RATE_LIMITED');
  });

  it('is off with 0', async () => {
    const h = await harness({ app: { rateLimitFailuresPerMinute: 0 } });
    for (let i = 0; i < 40; i++) {
      const response = await h.app.inject({
        method: 'POST',
        url: '/v1/session/validate',
        headers: holder('sks_bad'),
      });
      expect(response.statusCode).toBe(401);
    }
  });
});

describe('CORS', () => {
  const preflight = (h: Harness, origin: string) =>
    h.app.inject({
      method: 'OPTIONS',
      url: '/v1/session/validate',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization',
      },
    });

  it('allows the configured origins only', async () => {
    const h = await harness({ app: { corsOrigins: ['https://app.example'] } });
    const allowed = await preflight(h, 'https://app.example');
    expect(allowed.statusCode).toBe(204);
    expect(allowed.headers['access-control-allow-origin']).toBe('https://app.example');
    expect(String(allowed.headers['access-control-allow-methods'])).toContain('POST');
    const refused = await preflight(h, 'https://evil.example');
    expect(refused.headers['access-control-allow-origin']).toBeUndefined();
    const session = await createSession(h.app);
    const actual = await h.app.inject({
      method: 'POST',
      url: '/v1/session/validate',
      headers: { ...holder(session.token), origin: 'https://app.example' },
    });
    expect(actual.headers['access-control-allow-origin']).toBe('https://app.example');
    expect(String(actual.headers['access-control-expose-headers'])).toContain('x-request-id');
  });

  it('is off by default', async () => {
    const h = await harness();
    const response = await preflight(h, 'https://app.example');
    expect(response.headers['access-control-allow-origin']).toBeUndefined();
    // Without CORS the path knows no OPTIONS: a plain 405 that grants the browser nothing.
    expectProblem(response, 405, 'METHOD_NOT_ALLOWED');
  });
});

describe('GET /openapi.json and /docs', () => {
  it('lists every registered route with its schemas and problems', async () => {
    const h = await harness({ app: { corsOrigins: ['https://app.example'] } });
    await h.app.ready();
    const doc = (await h.app.inject({ method: 'GET', url: '/openapi.json' })).json<{
      openapi: string;
      paths: Record<
        string,
        Record<
          string,
          { summary: string; responses: Record<string, unknown>; requestBody?: unknown }
        >
      >;
    }>();
    expect(doc.openapi).toBe('3.1.0');
    const expected = [
      'post /v1/sessions',
      'get /v1/sessions',
      'get /v1/sessions/{id}',
      'patch /v1/sessions/{id}',
      'delete /v1/sessions/{id}',
      'delete /v1/subjects/{subject}/sessions',
      'get /v1/stats',
      'post /v1/session/validate',
      'get /v1/session',
      'post /v1/session/renew',
      'delete /v1/session',
      'post /v1/session/refresh',
      'post /v1/session/leases',
      'delete /v1/session/leases/{leaseId}',
      'get /healthz',
      'get /readyz',
      'get /.well-known/jwks.json',
      'get /problems',
      'get /problems/{slug}',
      'get /metrics',
      'get /openapi.json',
      'get /docs',
    ];
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method} ${path}`),
    );
    expect(documented.sort()).toEqual(expected.sort());
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        expect(op.summary, `${method} ${path}`).not.toBe('Undocumented');
        expect(Object.keys(op.responses).length, `${method} ${path}`).toBeGreaterThan(0);
      }
    }
    const create = doc.paths['/v1/sessions']?.post;
    expect(create?.requestBody).toMatchObject({
      content: {
        'application/json': {
          schema: {
            type: 'object',
            required: ['subject'],
            properties: { subject: { type: 'string' } },
          },
        },
      },
    });
    expect(create?.responses['409']).toBeDefined();
    expect(doc.paths['/v1/session/validate']?.post?.responses['401']).toBeDefined();
  });

  it('every route the app registered is in the document', async () => {
    const h = await harness();
    const routes: string[] = [];
    await h.app.ready();
    const text = h.app.printRoutes({ commonPrefix: false });
    const doc = (await h.app.inject({ method: 'GET', url: '/openapi.json' })).json<{
      paths: Record<string, Record<string, unknown>>;
    }>();
    // printRoutes draws a radix tree: each line adds its segment to its parent's path.
    const prefixes: string[] = [];
    for (const line of text.split('\n')) {
      const match = /^([│ ]*)[└├]── (\S+) \(([^)]+)\)$/.exec(line.replace(/│ {3}| {4}/g, (m) => m));
      if (!match) continue;
      const [, indent = '', segment = '', methods = ''] = match;
      const depth = [...indent].length / 4;
      const url = (prefixes[depth - 1] ?? '') + segment;
      prefixes[depth] = url;
      for (const method of methods.split(', ')) {
        if (method === 'HEAD' || method === 'OPTIONS') continue;
        const path = url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
        routes.push(`${method} ${path}`);
        expect(doc.paths[path]?.[method.toLowerCase()], `${method} ${path}`).toBeDefined();
      }
    }
    expect(routes.length).toBeGreaterThanOrEqual(22);
  });

  it('serves a self-contained HTML reference', async () => {
    const h = await harness();
    const page = await h.app.inject({ method: 'GET', url: '/docs' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.body).toContain('/v1/session/validate');
    expect(page.body).toContain('/openapi.json');
    expect(page.body).not.toMatch(/<script|https?:\/\/(?!app)/);
  });
});
