import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../packages/sessionkeeper/src/core/errors.js';
import { MAX_DATA_DEPTH } from '../../packages/sessionkeeper/src/core/input.js';
import {
  API_KEY,
  backend,
  type CreatedTestSession,
  createSession,
  expectProblem,
  type Harness,
  holder,
  type ListeningHarness,
  startListeningHarness,
} from './harness.js';
import { sendRaw } from './raw-http.js';

let harness: Harness;
let session: CreatedTestSession;
let port: number;
let live: ListeningHarness;

beforeAll(async () => {
  live = await startListeningHarness('input-limits');
  ({ harness, session, port } = live);
});
afterAll(() => live.close());

/** `{"a":{"a":…}}` as JSON text, `levels` objects deep counting the outermost. */
const nestedJson = (levels: number) => `${'{"a":'.repeat(levels - 1)}{}${'}'.repeat(levels - 1)}`;

describe('deeply nested session data', () => {
  it('is accepted up to the documented depth on POST /v1/sessions and PATCH', async () => {
    const { app } = harness;
    const created = await app.inject({
      method: 'POST',
      url: '/v1/sessions',
      headers: { ...backend, 'content-type': 'application/json' },
      payload: `{"subject":"deep","data":${nestedJson(MAX_DATA_DEPTH)}}`,
    });
    expect(created.statusCode, created.body).toBe(201);
    const patched = await app.inject({
      method: 'PATCH',
      url: `/v1/sessions/${session.id}`,
      headers: { ...backend, 'content-type': 'application/json' },
      payload: `{"data":${nestedJson(MAX_DATA_DEPTH)}}`,
    });
    expect(patched.statusCode, patched.body).toBe(200);
  });

  it('is refused past it with 400 validation-failed naming the field, however deep', async () => {
    const { app } = harness;
    // 3,300 levels was the reported 500; 10,000 (60 KB, under the body limit) is deeper still.
    for (const levels of [MAX_DATA_DEPTH + 1, 3300, 10_000]) {
      const create = await app.inject({
        method: 'POST',
        url: '/v1/sessions',
        headers: { ...backend, 'content-type': 'application/json' },
        payload: `{"subject":"deep","data":${nestedJson(levels)}}`,
      });
      const problem = expectProblem(create, 400, 'VALIDATION_FAILED');
      expect(problem.field).toBe(`data${'.a'.repeat(MAX_DATA_DEPTH)}`);
      expect(problem.detail).toContain(`${MAX_DATA_DEPTH} levels`);
      const patch = await app.inject({
        method: 'PATCH',
        url: `/v1/sessions/${session.id}`,
        headers: { ...backend, 'content-type': 'application/json' },
        payload: `{"data":${nestedJson(levels)}}`,
      });
      expect(expectProblem(patch, 400, 'VALIDATION_FAILED').field).toBe(
        `data${'.a'.repeat(MAX_DATA_DEPTH)}`,
      );
    }
  });

  it('is refused by the engine for library callers too', async () => {
    let data: Record<string, unknown> = {};
    for (let i = 0; i < 50_000; i++) data = { a: data };
    await expect(harness.engine.create({ subject: 'lib', data })).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(harness.engine.update(session.id, data)).rejects.toBeInstanceOf(ValidationError);
  });
});

describe('a subject with a lone UTF-16 surrogate', () => {
  it('is refused with 400 naming subject, over HTTP and in the engine', async () => {
    for (const subject of ['\\ud800', 'user\\udfff', '\\ude00\\ud83d']) {
      const response = await harness.app.inject({
        method: 'POST',
        url: '/v1/sessions',
        headers: { ...backend, 'content-type': 'application/json' },
        payload: `{"subject":"${subject}"}`,
      });
      const problem = expectProblem(response, 400, 'VALIDATION_FAILED');
      expect(problem.field).toBe('subject');
      expect(problem.detail).toContain('surrogate');
    }
    await expect(harness.engine.create({ subject: 'x\ud800' })).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(harness.engine.revokeSubject('x\udc00')).rejects.toBeInstanceOf(ValidationError);
    await expect(harness.engine.list('\ud800')).rejects.toBeInstanceOf(ValidationError);
  });

  it('still accepts surrogate pairs (emoji), which list and revoke by subject', async () => {
    const subject = 'emoji-\ud83d\ude00';
    await createSession(harness.app, { subject });
    const listed = await harness.app.inject({
      url: `/v1/sessions?subject=${encodeURIComponent(subject)}`,
      headers: backend,
    });
    expect(listed.json<{ sessions: unknown[] }>().sessions).toHaveLength(1);
    const revoked = await harness.app.inject({
      method: 'DELETE',
      url: `/v1/subjects/${encodeURIComponent(subject)}/sessions`,
      headers: backend,
    });
    expect(revoked.json()).toEqual({ revoked: 1 });
  });
});

describe('a bodyless call with Content-Type: application/json and no body', () => {
  it('is served as if it had no body', async () => {
    const json = { ...holder(session.token), 'content-type': 'application/json' };
    for (const url of ['/v1/session/validate', '/v1/session/renew']) {
      const response = await harness.app.inject({ method: 'POST', url, headers: json });
      expect(response.statusCode, `${url}: ${response.body}`).toBe(200);
    }
    const read = await harness.app.inject({ method: 'GET', url: '/v1/session', headers: json });
    expect(read.statusCode, read.body).toBe(200);
    // Over a real socket, with the Content-Length: 0 clients send.
    const raw = await sendRaw(port, {
      method: 'POST',
      path: '/v1/session/validate',
      headers: { ...json, 'content-length': '0' },
      body: '',
    });
    expect(raw.status, raw.body).toBe(200);
  });

  it('still tells an endpoint that needs a body that it is required', async () => {
    const response = await harness.app.inject({
      method: 'POST',
      url: '/v1/sessions',
      headers: { ...backend, 'content-type': 'application/json' },
      payload: '',
    });
    expect(expectProblem(response, 400, 'VALIDATION_FAILED').field).toBe('body');
    const refresh = await harness.app.inject({
      method: 'POST',
      url: '/v1/session/refresh',
      headers: { 'content-type': 'application/json' },
    });
    expect(expectProblem(refresh, 400, 'VALIDATION_FAILED').field).toBe('refreshToken');
  });
});

describe('a known path with a wrong method', () => {
  it('answers 405 method-not-allowed with Allow, not 404', async () => {
    for (const [method, url, allow] of [
      ['PUT', '/v1/sessions', 'GET, HEAD, POST'],
      ['POST', '/v1/session', 'DELETE, GET, HEAD'],
      ['GET', '/v1/session/validate', 'POST'],
      ['PUT', `/v1/sessions/${session.id}?x=1`, 'DELETE, GET, HEAD, PATCH'],
      ['DELETE', '/healthz', 'GET, HEAD'],
    ] as const) {
      const response = await harness.app.inject({ method, url, headers: backend });
      const problem = expectProblem(response, 405, 'METHOD_NOT_ALLOWED');
      expect(response.headers.allow, `${method} ${url}`).toBe(allow);
      expect(problem.type).toBe('/problems/method-not-allowed');
      expect(problem.detail).toContain(method);
    }
    const unknown = await harness.app.inject({ method: 'PUT', url: '/v1/nothing-here' });
    expectProblem(unknown, 404, 'NOT_FOUND');
    const page = await harness.app.inject({ url: '/problems/method-not-allowed' });
    expect(page.statusCode).toBe(200);
  });
});

describe('oversized request headers', () => {
  it('answer 431 request-header-fields-too-large as problem+json over a real socket', async () => {
    const response = await sendRaw(port, {
      method: 'POST',
      path: '/v1/session/validate',
      headers: { authorization: `Bearer ${API_KEY}`, cookie: `big=${'x'.repeat(20_000)}` },
    });
    expect(response.status).toBe(431);
    expect(response.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    const problem = JSON.parse(response.body) as { code: string; type: string };
    expect(problem.code).toBe('REQUEST_HEADER_FIELDS_TOO_LARGE');
    expect(problem.type).toBe('/problems/request-header-fields-too-large');
  });
});
