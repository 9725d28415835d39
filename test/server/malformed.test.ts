import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  API_KEY,
  type CreatedTestSession,
  type Harness,
  type ListeningHarness,
  startListeningHarness,
} from './harness.js';
import { describe as describeRequest, type RawRequest, sendRaw } from './raw-http.js';

let harness: Harness;
let session: CreatedTestSession;
let port: number;
let live: ListeningHarness;

beforeAll(async () => {
  live = await startListeningHarness('malformed');
  ({ harness, session, port } = live);
});
afterAll(() => live.close());

const KEY = `Bearer ${API_KEY}`;
const json = (extra: Record<string, string> = {}) => ({
  authorization: KEY,
  'content-type': 'application/json',
  ...extra,
});

function malformedRequests(): RawRequest[] {
  const { id, token, refreshToken, accessToken } = session;
  const cases: RawRequest[] = [];
  const refreshJson = { 'content-type': 'application/json' };

  // Bad JSON, on every endpoint that reads a body.
  const badJson = [
    '{',
    '}',
    '{"subject":',
    '{"subject":"u"',
    '{"subject":"u",}',
    "{'subject':'u'}",
    '{subject:"u"}',
    'nul',
    'NaN',
    '{"subject":"u"}{"subject":"v"}',
    '[',
    '"unterminated',
    '{"a":01}',
    '{"a":1e}',
    '{"a":.5}',
    '\u0000',
    '{"a":"\\x00"}',
    '{"a":"\\ud800"}',
    '{"__proto__":{"admin":true}}',
    '{"constructor":{"prototype":{"x":1}}}',
    ' ',
    '\t\n',
    '{"a":+1}',
    `${'['.repeat(10_000)}${']'.repeat(10_000)}`,
    `{"a":${'{"a":'.repeat(2000)}1${'}'.repeat(2000)}}`,
  ];
  for (const body of badJson) {
    cases.push({ method: 'POST', path: '/v1/sessions', headers: json(), body });
    cases.push({ method: 'PATCH', path: `/v1/sessions/${id}`, headers: json(), body });
    cases.push({
      method: 'POST',
      path: '/v1/session/leases',
      headers: json({ authorization: `Bearer ${token}` }),
      body,
    });
    cases.push({ method: 'POST', path: '/v1/session/refresh', headers: refreshJson, body });
  }

  // Wrong types for every field.
  const odd: unknown[] = [
    null,
    true,
    0,
    -1,
    1e308,
    -1e-308,
    'x',
    '',
    [],
    {},
    ['u'],
    { $gt: '' },
    'x'.repeat(20_000),
  ];
  for (const value of odd) {
    for (const field of ['subject', 'data', 'idleTimeout', 'absoluteTimeout']) {
      const body = field === 'subject' ? { subject: value } : { subject: 'u', [field]: value };
      cases.push({
        method: 'POST',
        path: '/v1/sessions',
        headers: json(),
        body: JSON.stringify(body),
      });
    }
    cases.push({
      method: 'PATCH',
      path: `/v1/sessions/${id}`,
      headers: json(),
      body: JSON.stringify({ data: value }),
    });
    cases.push({
      method: 'POST',
      path: '/v1/session/leases',
      headers: json({ authorization: `Bearer ${token}` }),
      body: JSON.stringify({ ttl: value }),
    });
    cases.push({
      method: 'POST',
      path: '/v1/session/refresh',
      headers: refreshJson,
      body: JSON.stringify({ refreshToken: value }),
    });
  }
  for (const body of ['1', '"skr_x"', 'null', '[]', `[{"refreshToken":"${refreshToken}x"}]`]) {
    cases.push({ method: 'POST', path: '/v1/session/refresh', headers: refreshJson, body });
  }
  for (const body of ['1', '"u"', 'true', 'null', '[]', '[{"subject":"u"}]']) {
    cases.push({ method: 'POST', path: '/v1/sessions', headers: json(), body });
  }

  // Huge bodies, declared honestly, understated, and chunked.
  for (const size of [70_000, 1_000_000, 5_000_000]) {
    cases.push({
      method: 'POST',
      path: '/v1/sessions',
      headers: json(),
      body: `{"subject":"u","data":{"x":"${'x'.repeat(size)}"}}`,
    });
  }
  cases.push({
    method: 'POST',
    path: '/v1/sessions',
    headers: json({ 'content-length': '999999999' }),
    body: '{}',
  });
  cases.push({
    method: 'POST',
    path: '/v1/sessions',
    headers: json({ 'content-length': '5' }),
    body: '{"subject":"u"}',
  });
  cases.push({
    method: 'POST',
    path: '/v1/sessions',
    headers: json({ 'transfer-encoding': 'chunked' }),
    body: `10000\r\n${'x'.repeat(0x10000)}\r\n10000\r\n${'x'.repeat(0x10000)}\r\n0\r\n\r\n`,
  });

  // Huge and odd headers.
  cases.push({ path: '/healthz', headers: { 'x-big': 'x'.repeat(20_000) } });
  cases.push({
    path: '/healthz',
    headers: Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`x-h${i}`, 'v'])),
  });
  cases.push({ path: '/v1/session', headers: { authorization: `Bearer ${'A'.repeat(15_000)}` } });
  cases.push({ path: '/v1/session', headers: { cookie: `sk_session=${'%'.repeat(5000)}` } });
  cases.push({
    path: '/v1/session',
    headers: { cookie: Array.from({ length: 500 }, (_, i) => `c${i}=v`).join('; ') },
  });

  // Invalid UTF-8 in bodies, paths, queries and headers.
  const invalidUtf8 = Buffer.from([
    0xff, 0xfe, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0xf0, 0x28, 0x8c, 0xbc,
  ]);
  cases.push({
    method: 'POST',
    path: '/v1/sessions',
    headers: json(),
    body: Buffer.concat([Buffer.from('{"subject":"'), invalidUtf8, Buffer.from('"}')]),
  });
  cases.push({ method: 'POST', path: '/v1/sessions', headers: json(), body: invalidUtf8 });
  cases.push({
    method: 'PATCH',
    path: `/v1/sessions/${id}`,
    headers: json(),
    body: Buffer.concat([Buffer.from('{"data":{"'), invalidUtf8, Buffer.from('":1}}')]),
  });
  for (const path of [
    '/v1/sessions/%ff%fe%fd',
    '/v1/subjects/%c3%28/sessions',
    '/v1/sessions?subject=%ff%fe',
    '/problems/%e2%28%a1',
    '/%ff',
  ]) {
    cases.push({ path, headers: { authorization: KEY } });
    cases.push({ method: 'DELETE', path, headers: { authorization: KEY } });
  }
  cases.push({
    raw: Buffer.concat([
      Buffer.from('GET /v1/sessions/'),
      invalidUtf8,
      Buffer.from(' HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n'),
    ]),
  });
  cases.push({
    raw: Buffer.concat([
      Buffer.from(
        'GET /v1/session HTTP/1.1\r\nhost: x\r\nconnection: close\r\nauthorization: Bearer ',
      ),
      invalidUtf8,
      Buffer.from('\r\n\r\n'),
    ]),
  });
  cases.push({
    raw: Buffer.concat([
      Buffer.from(
        'GET /v1/session HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncookie: sk_session=',
      ),
      invalidUtf8,
      Buffer.from('\r\n\r\n'),
    ]),
  });

  // Bad tokens, as Bearer and as cookie.
  const badTokens = [
    'sks_',
    'sks_.',
    'sks_x.y',
    `sks_${id}`,
    `sks_${id}.`,
    `${token}x`,
    token.slice(0, -1),
    token.toUpperCase(),
    `sks_${'A'.repeat(5000)}.x`,
    `sks_../../etc/passwd.${'a'.repeat(43)}`,
    `sks_${id}.${'a'.repeat(43)}`,
    'sks_😀😀😀😀😀😀😀😀.x',
    '\u00e9\u00e8',
    'null',
    'undefined',
    '[object Object]',
    "' OR 1=1 --",
    `${token} ${token}`,
    token.replace('.', '..'),
    `Bearer ${token}`,
  ];
  for (const bad of badTokens) {
    cases.push({
      method: 'POST',
      path: '/v1/session/validate',
      headers: { authorization: `Bearer ${bad}` },
    });
    cases.push({
      method: 'POST',
      path: '/v1/session/validate',
      headers: { cookie: `sk_session=${encodeURIComponent(bad)}` },
    });
  }
  // Bad refresh tokens (never the live one: spending it would rotate the session's family).
  const [refreshId, refreshSecret = ''] = refreshToken.slice('skr_'.length).split('.');
  const flipped = `${refreshSecret.slice(0, -1)}${refreshSecret.endsWith('A') ? 'B' : 'A'}`;
  for (const bad of [
    'skr_',
    'skr_.',
    'skr_x.y',
    `skr_${refreshId}`,
    `skr_${refreshId}.`,
    `${refreshToken}x`,
    refreshToken.slice(0, -1),
    refreshToken.toUpperCase(),
    `skr_${refreshId}.${flipped}`,
    `skr_../../etc/passwd.${refreshSecret}`,
    `skr_${'A'.repeat(300)}.${refreshSecret}`,
    `skr_😀😀😀😀😀😀😀😀.${refreshSecret}`,
    `sks_${refreshId}.${refreshSecret}`,
    token,
    accessToken,
    `${accessToken}.x`,
    `Bearer ${refreshToken}`,
    refreshToken.replace('.', '..'),
    ' '.repeat(100),
    '\u0000',
  ]) {
    cases.push({
      method: 'POST',
      path: '/v1/session/refresh',
      headers: refreshJson,
      body: JSON.stringify({ refreshToken: bad }),
    });
  }
  for (const type of ['text/plain', 'application/x-www-form-urlencoded']) {
    cases.push({
      method: 'POST',
      path: '/v1/session/refresh',
      headers: { 'content-type': type },
      body: `grant_type=refresh_token&refresh_token=${refreshToken}x`,
    });
  }

  for (const header of [
    'Bearer',
    'Bearer ',
    'bearer',
    'Basic Zm9vOmJhcg==',
    'Digest x',
    'Bearer\t',
    KEY.replace('Bearer', 'BEARER'),
    'x'.repeat(100),
  ]) {
    cases.push({ path: '/v1/stats', headers: { authorization: header } });
    cases.push({ path: '/v1/session', headers: { authorization: header } });
  }

  // Odd ids and path traversal.
  const oddIds = [
    '.',
    '..',
    '%2e%2e',
    '...',
    'a'.repeat(5000),
    '%00',
    '%20',
    '-',
    "x' OR '1'='1",
    '%3Cscript%3E',
    '%F0%9F%98%80',
    'A'.repeat(65),
    'AAAAAAAA',
    '..%2f..%2fstats',
    '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    'undefined',
    '__proto__',
    'constructor',
  ];
  for (const odd of oddIds) {
    cases.push({ path: `/v1/sessions/${odd}`, headers: { authorization: KEY } });
    cases.push({
      method: 'PATCH',
      path: `/v1/sessions/${odd}`,
      headers: json(),
      body: '{"data":{}}',
    });
    cases.push({ method: 'DELETE', path: `/v1/sessions/${odd}`, headers: { authorization: KEY } });
    cases.push({
      method: 'DELETE',
      path: `/v1/session/leases/${odd}`,
      headers: { authorization: `Bearer ${token}` },
    });
    cases.push({
      method: 'DELETE',
      path: `/v1/subjects/${odd}/sessions`,
      headers: { authorization: KEY },
    });
  }
  for (const path of [
    '/v1/../v1/stats',
    '/problems/../../etc/passwd',
    '/problems/..%2f..%2fetc%2fpasswd',
    '//v1/stats',
    '/v1//sessions',
    '/./healthz',
    '/healthz/../v1/stats',
    '/v1/sessions/../stats',
    '/%2e%2e/%2e%2e/etc/passwd',
    '/problems/%2e%2e',
    '/problems/',
    '/v1/sessions/',
    '*',
    'http://evil.example/v1/stats',
    '/v1/stats#frag',
    '/v1/stats?%',
    '/v1/sessions?subject=u&limit=1e3',
    '/v1/sessions?subject[$ne]=x',
    '/v1/sessions?__proto__[x]=1&subject=u',
    '/v1/sessions?constructor=1&subject=u',
    `/v1/sessions?subject=u&cursor=${'A'.repeat(3000)}`,
    `/v1/sessions?${'subject=u&'.repeat(500)}`,
    '/v1/sessions?subject=u&limit=-1',
    '/v1/sessions?subject=u&limit=99999999999999999999',
    '/.well-known/jwks.json/',
    '/.well-known/jwks.json/x',
    '/.well-known/../v1/stats',
    '/.well-known/%2e%2e/v1/stats',
    '/.well-known/jwks.json%00',
    '/.well-known/JWKS.JSON',
    '/.well-known/',
    '/v1/session/refresh/..',
  ]) {
    cases.push({ path, headers: { authorization: KEY } });
  }
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
    cases.push({ method, path: '/.well-known/jwks.json', headers: json(), body: '{}' });
  }
  for (const method of ['GET', 'PUT', 'DELETE']) {
    cases.push({ method, path: '/v1/session/refresh', headers: refreshJson });
  }

  // Wrong content types.
  for (const type of [
    'text/plain',
    'application/json; charset=utf-16',
    'application/jsonx',
    'application/json-patch+json',
    '*/*',
    'json',
    ';',
    'application/',
    'multipart/form-data',
    'application/x-www-form-urlencoded',
    'APPLICATION/JSON',
    'application/json; charset=latin1; x="y"',
  ]) {
    cases.push({
      method: 'POST',
      path: '/v1/sessions',
      headers: { authorization: KEY, 'content-type': type },
      body: '{"subject":"u"}',
    });
  }
  cases.push({
    method: 'POST',
    path: '/v1/sessions',
    headers: { authorization: KEY },
    body: '{"subject":"u"}',
  });

  // Methods and protocol garbage.
  for (const method of ['PUT', 'OPTIONS', 'TRACE', 'FOO', 'CONNECT', 'get', 'PROPFIND', 'HEAD']) {
    cases.push({ method, path: '/v1/sessions', headers: { authorization: KEY } });
  }
  for (const raw of [
    'GARBAGE\r\n\r\n',
    'GET / HTTP/9.9\r\nhost: x\r\n\r\n',
    'GET /healthz HTTP/1.1\r\n\r\n',
    'GET /healthz\r\n\r\n',
    '\r\nGET /healthz HTTP/1.1\r\n\r\n',
    'GET /healthz HTTP/1.1\r\nhost: x\r\nbad header\r\n\r\n',
    'GET /healthz HTTP/1.1\r\nhost: x\r\nx: a\rb\r\n\r\n',
    'POST /v1/sessions HTTP/1.1\r\nhost: x\r\ncontent-length: abc\r\n\r\n',
    'POST /v1/sessions HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n',
    'POST /v1/sessions HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n',
    'POST /v1/sessions HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab',
    `GET /${'a'.repeat(20_000)} HTTP/1.1\r\nhost: x\r\n\r\n`,
    'GET /healthz HTTP/1.1\r\nhost: x\r\nhost: y\r\nconnection: close\r\n\r\n',
  ]) {
    cases.push({ raw });
  }
  return cases;
}

describe('malformed requests over real HTTP', () => {
  it('answers at least 200 malformed requests without a 500, each failure as problem+json', async () => {
    const cases = malformedRequests();
    expect(cases.length).toBeGreaterThanOrEqual(200);
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    // A few at a time: enough concurrency to interleave, not so much that sockets queue for long.
    for (let i = 0; i < cases.length; i += 16) {
      await Promise.all(
        cases.slice(i, i + 16).map(async (request) => {
          const response = await sendRaw(port, request);
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
          if (response.status >= 500)
            failures.push(
              `${response.status} for ${describeRequest(request)}: ${response.body.slice(0, 200)}`,
            );
          if (
            response.status >= 400 &&
            response.headers['content-type'] !== 'application/problem+json; charset=utf-8'
          ) {
            failures.push(
              `${response.status} without problem+json for ${describeRequest(request)}: ${response.headers['content-type']}`,
            );
          }
        }),
      );
    }
    expect(failures).toEqual([]);
    expect(harness.logs.filter((line) => line.includes('"level":50'))).toEqual([]);
    // Most must be refused; the few that are merely odd but valid (e.g. APPLICATION/JSON) may succeed.
    const refused = [...statuses]
      .filter(([status]) => status >= 400)
      .reduce((sum, [, n]) => sum + n, 0);
    expect(refused).toBeGreaterThan(cases.length * 0.8);
  });

  it('still serves normally afterwards', async () => {
    const base = `http://127.0.0.1:${port}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const created = await fetch(`${base}/v1/sessions`, {
      method: 'POST',
      headers: { authorization: KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ subject: 'after-the-storm' }),
    });
    expect(created.status).toBe(201);
    const { token } = (await created.json()) as { token: string };
    const validated = await fetch(`${base}/v1/session/validate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(validated.status).toBe(200);
    const original = await fetch(`${base}/v1/session/validate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${session.token}` },
    });
    expect(original.status).toBe(200);
  });
});
