import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { expect } from 'vitest';
import { createServer } from '../../packages/server/src/server/index.js';
import { errorCodes, problemRegistry } from '../../packages/sessionkeeper/src/core/problems.js';
import type { SessionStore } from '../../packages/sessionkeeper/src/core/store.js';
import { sendRaw } from '../server/raw-http.js';

/*
 * Property-based fuzzing of the HTTP API against the real app on a real store: generated methods,
 * paths, headers and bodies for every route the app documents in /openapi.json. Whatever arrives,
 * the answer is a documented success or a problem+json from the registry, never a 5xx, never
 * slower than the documented bound; and a session that was valid before the run still is after.
 */

export const API_KEY = 'fuzz-api-key-0123456789abcdef';
/** No answer may take longer, whatever the input (the bound the docs give a failing call). */
const SLOWEST_MS = 2000;
/** fast-check stops generating after this long per property, so CI time stays bounded. */
const INJECT_BUDGET_MS = 9_000;
const SOCKET_BUDGET_MS = 5_000;

export interface FuzzTarget {
  app: FastifyInstance;
  port: number;
  close(): Promise<void>;
}

/** Starts the service as `serve` does, with its failure rate limit on, listening on 127.0.0.1. */
export async function startTarget(store: SessionStore): Promise<FuzzTarget> {
  const app = await createServer({ store, apiKey: API_KEY, logger: pino({ level: 'silent' }) });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    app,
    port: (app.server.address() as AddressInfo).port,
    close: () => app.close(),
  };
}

interface Credentials {
  id: string;
  token: string;
  refreshToken: string;
  accessToken: string;
  leaseId: string;
}

/** A session made through the API, with a lease, so generated requests can use real values. */
async function newSession(app: FastifyInstance, subject: string): Promise<Credentials> {
  const create = () =>
    app.inject({
      method: 'POST',
      url: '/v1/sessions',
      headers: { authorization: `Bearer ${API_KEY}` },
      payload: { subject, data: { role: 'fuzz' } },
    });
  // A 503 means "retry": on a loaded machine the shared Redis can be slow to load its scripts.
  let created = await create();
  for (let attempt = 0; attempt < 3 && created.statusCode === 503; attempt++)
    created = await create();
  expect(created.statusCode, created.body).toBe(201);
  const body = created.json<{
    session: { id: string };
    token: string;
    refreshToken: string;
    accessToken: string;
  }>();
  const lease = await app.inject({
    method: 'POST',
    url: '/v1/session/leases',
    headers: { authorization: `Bearer ${body.token}` },
    payload: { ttl: 60 },
  });
  expect(lease.statusCode, lease.body).toBe(201);
  return {
    id: body.session.id,
    token: body.token,
    refreshToken: body.refreshToken,
    accessToken: body.accessToken,
    leaseId: lease.json<{ leaseId: string }>().leaseId,
  };
}

interface Route {
  method: string;
  /** OpenAPI form: `/v1/sessions/{id}`. */
  path: string;
  /** Documented success statuses. */
  ok: Set<number>;
}

async function documentedRoutes(app: FastifyInstance): Promise<Route[]> {
  const doc = (await app.inject({ url: '/openapi.json' })).json<{
    paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
  }>();
  const routes: Route[] = [];
  for (const [path, operations] of Object.entries(doc.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      const ok = Object.keys(operation.responses)
        .map(Number)
        .filter((status) => status >= 200 && status < 300);
      routes.push({ method: method.toUpperCase(), path, ok: new Set(ok) });
    }
  }
  return routes;
}

interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
}

// --- values -------------------------------------------------------------------------------

/** Strings that have broken parsers, stores and loggers elsewhere. */
const NASTY_STRINGS = [
  '',
  ' ',
  '\u0000',
  '\ud800',
  '\udfff',
  'a\ud83d',
  '\ude00b',
  '\ud83d\ude00',
  '\uffff',
  '\ufeff',
  '\u2028\u2029',
  '\u202e',
  'Ω≈ç√',
  '𝕊𝔼𝕊𝕊𝕀𝕆ℕ',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  '../../etc/passwd',
  '%00',
  '%ff%fe',
  '${jndi:ldap://x}',
  "'; DROP TABLE sessions; --",
  '<script>alert(1)</script>',
  '-1',
  '1e309',
  'NaN',
  'null',
  'true',
];

const nastyString = fc.constantFrom(...NASTY_STRINGS);
const anyString = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
  { weight: 3, arbitrary: nastyString },
  // Huge: around and past the body and data limits.
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 80_000 }).map((n) => 'x'.repeat(n)) },
);
const anyNumber = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -1, 0.5, 1e308, -0, Number.MAX_SAFE_INTEGER + 2, 30, 3600, 86400 * 3650),
);

/** JSON values of any shape, with prototype keys among the object keys. */
const jsonValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    anyNumber,
    anyString,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.string({ maxLength: 8 }), nastyString), tie('value'), {
      maxKeys: 4,
    }),
  ),
})).value;

/** `{"a":{"a":…}}` (or arrays) `levels` deep, as text: past any recursive walk's stack. */
const deepJson = fc
  .tuple(fc.integer({ min: 1, max: 12_000 }), fc.boolean())
  .map(([levels, arrays]) =>
    arrays
      ? `${'['.repeat(levels)}${']'.repeat(levels)}`
      : `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`,
  );

// --- requests -----------------------------------------------------------------------------

/** Bodies: well-shaped with bad values, raw JSON with odd members, deep, empty, not JSON. */
function bodyArbitrary(valid: Credentials): fc.Arbitrary<string | Buffer | undefined> {
  const fieldValue = fc.oneof(jsonValue, fc.constantFrom(valid.refreshToken, 'user-1'));
  const shaped = fc
    .record(
      {
        subject: fc.oneof(anyString, jsonValue),
        data: fc.oneof(jsonValue, fc.dictionary(fc.string({ maxLength: 6 }), jsonValue)),
        idleTimeout: fc.oneof(anyNumber, jsonValue),
        absoluteTimeout: fc.oneof(anyNumber, jsonValue),
        refreshToken: fieldValue,
        ttl: fc.oneof(anyNumber, jsonValue),
        extra: jsonValue,
      },
      { requiredKeys: [] },
    )
    .map((body) => JSON.stringify(body));
  return fc.oneof(
    { weight: 6, arbitrary: shaped },
    { weight: 2, arbitrary: jsonValue.map((value) => JSON.stringify(value) ?? 'null') },
    { weight: 2, arbitrary: deepJson.map((deep) => `{"subject":"deep","data":${deep}}`) },
    { weight: 1, arbitrary: deepJson },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        '{"__proto__":{"admin":true},"subject":"p"}',
        '{"constructor":{"prototype":{"admin":true}},"subject":"p"}',
        '{"subject":"p","data":{"__proto__":{"x":1}}}',
        '{"subject":"\\ud800"}',
        '{"subject":"u","data":{"k":"\\udfff"}}',
        '{"data":{"a":1}}',
        '{"ttl":1e400}',
        '{"subject":"u","subject":"v"}',
        '',
        'null',
        '[]',
        '"text"',
        '{',
      ),
    },
    // Invalid UTF-8 (a lone surrogate encoded as UTF-8 bytes, an overlong, a stray byte).
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        Buffer.from([
          0x7b, 0x22, 0x73, 0x75, 0x62, 0x6a, 0x65, 0x63, 0x74, 0x22, 0x3a, 0x22, 0xed, 0xa0, 0x80,
          0x22, 0x7d,
        ]),
        Buffer.from([0xc0, 0xaf]),
        Buffer.from([0xff, 0xfe, 0x7b, 0x7d]),
      ),
    },
    { weight: 1, arbitrary: anyString },
    { weight: 2, arbitrary: fc.constant(undefined) },
  );
}

/** Percent-encodes every byte of the UTF-8 form (a lone surrogate becomes U+FFFD's bytes). */
function percentEncode(text: string): string {
  return [...Buffer.from(text, 'utf8')]
    .map((byte) =>
      /[A-Za-z0-9_.~-]/.test(String.fromCharCode(byte))
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');
}

/** A path segment: a real value, or junk (percent-encoded so the request line stays valid). */
function segment(real: string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...real) },
    { weight: 4, arbitrary: anyString.map((s) => percentEncode(s.slice(0, 300)) || 'x') },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '..',
        '.',
        '%2e%2e',
        '%2F',
        '%',
        '%zz',
        '%c0%af',
        'a%00b',
        '~',
        '%ED%A0%80',
        '%F0%9F',
      ),
    },
  );
}

function pathArbitrary(route: Route, valid: Credentials): fc.Arbitrary<string> {
  const values: Record<string, string[]> = {
    id: [valid.id, 'AAAAAAAAAAAAAAAAAAAAAA', '000AAAAAAAAAAAAAAAAAAAAAA'],
    subject: ['fuzz-fodder', 'user-1', '%F0%9F%98%80'],
    leaseId: [valid.leaseId, '00000000-0000-0000-0000-000000000000'],
    slug: ['session-expired', 'store-unavailable', 'nope', 'method-not-allowed'],
  };
  const names = [...route.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1] ?? '');
  const query = fc.oneof(
    { weight: 4, arbitrary: fc.constant('') },
    {
      weight: 3,
      arbitrary: fc
        .array(
          fc.tuple(
            fc.constantFrom('subject', 'limit', 'cursor', 'reason', '__proto__', 'x', 'subject[]'),
            fc.oneof(anyString, fc.constantFrom('fuzz-fodder', '10', '0', '1001', 'logout')),
          ),
          { maxLength: 4 },
        )
        .map(
          (pairs) =>
            `?${pairs.map(([k, v]) => `${percentEncode(k)}=${percentEncode(v.slice(0, 500))}`).join('&')}`,
        ),
    },
  );
  return fc
    .tuple(
      fc.tuple(...names.map((name) => segment(values[name] ?? ['x']))),
      query,
      fc.oneof(
        { weight: 9, arbitrary: fc.constant('') },
        { weight: 1, arbitrary: fc.constant('/') },
      ),
    )
    .map(([parts, q, slash]) => {
      let i = 0;
      const path = route.path.replace(/\{[^}]+\}/g, () => parts[i++] ?? 'x');
      return `${path}${slash}${q}`;
    });
}

/** The credential a route takes: most generated requests carry it, so they get past auth. */
function rightAuthorization(route: Route, valid: Credentials): string | undefined {
  if (/^\/v1\/(sessions|subjects|stats)/.test(route.path)) return `Bearer ${API_KEY}`;
  if (route.path.startsWith('/v1/session') && route.path !== '/v1/session/refresh')
    return `Bearer ${valid.token}`;
  return undefined;
}

function headersArbitrary(route: Route, valid: Credentials): fc.Arbitrary<Record<string, string>> {
  const visible = fc.string({
    unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
    maxLength: 60,
  });
  const right = rightAuthorization(route, valid);
  const wrongAuthorization = fc.oneof(
    fc.constantFrom(
      `Bearer ${API_KEY}`,
      `Bearer ${valid.token}`,
      `Bearer ${valid.accessToken}`,
      `bearer ${valid.token}`,
      `Basic ${Buffer.from('a:b').toString('base64')}`,
      'Bearer',
      'Bearer ',
      `Bearer ${valid.token}x`,
      '',
      `Bearer ${valid.token.slice(0, -3)}`,
      `Bearer sks_${'A'.repeat(22)}.${'B'.repeat(43)}`,
    ),
    visible.map((v) => `Bearer ${v}`),
  );
  const authorization =
    right === undefined
      ? wrongAuthorization
      : fc.oneof(
          { weight: 8, arbitrary: fc.constant(right) },
          { weight: 2, arbitrary: wrongAuthorization },
        );
  const contentType = fc.oneof(
    { weight: 8, arbitrary: fc.constant('application/json') },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        'application/json; charset=utf-8',
        'APPLICATION/JSON',
        'application/json; charset=latin1',
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        '',
        ';',
      ),
    },
  );
  return fc.record(
    {
      authorization,
      'content-type': contentType,
      cookie: fc.oneof(
        fc.constant(`sk_session=${valid.token}`),
        visible.map((v) => `sk_session=${v}`),
        visible,
      ),
      origin: fc.constantFrom('https://evil.example', 'null', 'http://127.0.0.1'),
      'sec-fetch-site': fc.constantFrom('cross-site', 'same-origin', 'none', 'same-site'),
      'x-request-id': visible,
      'x-forwarded-for': fc.constantFrom('203.0.113.7', 'garbage', '1.1.1.1, 2.2.2.2'),
      accept: fc.constantFrom('application/json', 'text/html', '*/*'),
    },
    { requiredKeys: ['authorization', 'content-type'] },
  );
}

function requestArbitrary(routes: Route[], valid: Credentials): fc.Arbitrary<FuzzRequest> {
  return fc.constantFrom(...routes).chain((route) =>
    fc
      .record({
        method: fc.oneof(
          { weight: 6, arbitrary: fc.constant(route.method) },
          {
            weight: 2,
            arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'),
          },
        ),
        path: pathArbitrary(route, valid),
        headers: headersArbitrary(route, valid),
        body: bodyArbitrary(valid),
      })
      // A counterexample is reported shortened: a 60 KB body would bury the failure.
      .map((request) =>
        Object.assign(request, { [fc.toStringMethod]: () => describeRequest(request) }),
      ),
  );
}

// --- checks -------------------------------------------------------------------------------

interface Answer {
  status: number;
  contentType: string | undefined;
  body: string;
  ms: number;
}

function describeRequest(request: FuzzRequest): string {
  const body =
    request.body === undefined
      ? ''
      : ` body ${JSON.stringify(String(request.body).slice(0, 160))}${String(request.body).length > 160 ? `… (${String(request.body).length} chars)` : ''}`;
  return `${request.method} ${request.path.slice(0, 200)} ${JSON.stringify(request.headers).slice(0, 300)}${body}`;
}

/** Throws (so fast-check shrinks and reports it) unless the answer keeps the API's promises. */
function checkAnswer(request: FuzzRequest, answer: Answer, routes: Route[]): void {
  const where = `${describeRequest(request)} -> ${answer.status} ${answer.body.slice(0, 300)}`;
  if (answer.status >= 500) throw new Error(`5xx: ${where}`);
  if (answer.ms > SLOWEST_MS) throw new Error(`slow (${Math.round(answer.ms)} ms): ${where}`);
  if (answer.status >= 400) {
    if (!answer.contentType?.startsWith('application/problem+json'))
      throw new Error(`not problem+json: ${where}`);
    if (request.method === 'HEAD') return; // no body to check
    const problem = JSON.parse(answer.body) as { code?: string; status?: number; type?: string };
    const code = errorCodes.find((c) => c === problem.code);
    if (!code) throw new Error(`unknown problem code: ${where}`);
    if (problem.status !== answer.status || problemRegistry[code].status !== answer.status)
      throw new Error(`problem status differs from the registry: ${where}`);
    if (problem.type !== `/problems/${problemRegistry[code].slug}`)
      throw new Error(`problem type is not its slug's: ${where}`);
    return;
  }
  const path = request.path.split('?')[0] ?? '';
  const method = request.method === 'HEAD' ? 'GET' : request.method;
  const route = routes.find((r) => r.method === method && matches(r.path, path));
  if (!route?.ok.has(answer.status))
    throw new Error(`undocumented success ${answer.status}: ${where}`);
}

function matches(template: string, path: string): boolean {
  const pattern = template
    .split(/(\{[^}]+\})/)
    .map((part) => (part.startsWith('{') ? '[^/]+' : part.replace(/[.*+?^$()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${pattern}$`).test(path);
}

/** A header generated as '' stands for the header's absence. */
function presentHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([, value]) => value !== ''));
}

async function viaInject(app: FastifyInstance, request: FuzzRequest): Promise<Answer> {
  const started = performance.now();
  const response = await app.inject({
    method: request.method as 'GET',
    url: request.path,
    headers: presentHeaders(request.headers),
    ...(request.body === undefined ? {} : { payload: request.body }),
  });
  return {
    status: response.statusCode,
    contentType: response.headers['content-type'] as string | undefined,
    body: response.body,
    ms: performance.now() - started,
  };
}

async function viaSocket(port: number, request: FuzzRequest): Promise<Answer> {
  const started = performance.now();
  const response = await sendRaw(
    port,
    { ...request, headers: presentHeaders(request.headers) },
    5000,
  );
  return {
    status: response.status,
    contentType: response.headers['content-type'],
    body: response.body,
    ms: performance.now() - started,
  };
}

/**
 * Runs the fuzz properties against `target`: in-process (fastify.inject) and over a real socket.
 * A canary session made first, whose credentials the generator never sees, must validate after.
 */
export async function fuzzHttpApi(target: FuzzTarget, seed?: number): Promise<{ runs: number }> {
  const { app, port } = target;
  const canary = await newSession(app, `canary-${Date.now()}`);
  const fodder = await newSession(app, 'fuzz-fodder');
  const routes = await documentedRoutes(app);
  expect(routes.length).toBeGreaterThan(15);
  let runs = 0;
  const property = (send: (request: FuzzRequest) => Promise<Answer>) =>
    fc.asyncProperty(requestArbitrary(routes, fodder), async (request) => {
      runs++;
      checkAnswer(request, await send(request), routes);
    });
  const settings = (budgetMs: number, numRuns: number) => ({
    numRuns,
    interruptAfterTimeLimit: budgetMs,
    markInterruptAsFailure: false,
    endOnFailure: true,
    ...(seed === undefined ? {} : { seed }),
  });
  await fc.assert(
    property((request) => viaInject(app, request)),
    settings(INJECT_BUDGET_MS, 5000),
  );
  await fc.assert(
    property((request) => viaSocket(port, request)),
    settings(SOCKET_BUDGET_MS, 800),
  );

  const validated = await app.inject({
    method: 'POST',
    url: '/v1/session/validate',
    headers: { authorization: `Bearer ${canary.token}` },
  });
  expect(validated.statusCode, validated.body).toBe(200);
  const refreshed = await app.inject({
    method: 'POST',
    url: '/v1/session/refresh',
    payload: { refreshToken: canary.refreshToken },
  });
  expect(refreshed.statusCode, refreshed.body).toBe(200);
  return { runs };
}
