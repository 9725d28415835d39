import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JSONWebKeySet } from 'jose';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createAccessTokenVerifier } from '../../packages/sessionkeeper/src/core/access-token-verifier.js';
import { StoreUnavailableError } from '../../packages/sessionkeeper/src/core/errors.js';
import type { SessionStore } from '../../packages/sessionkeeper/src/core/store.js';
import { createMemoryStore } from '../../packages/sessionkeeper/src/memory/index.js';
import { createSqliteStore } from '../../packages/sessionkeeper/src/sqlite/index.js';
import type { ProblemBody } from './harness.js';
import { API_KEY, failingStore, type Harness, startHarness } from './harness.js';

/*
 * Access and refresh tokens over real HTTP: the app listens on 127.0.0.1 and every call goes
 * through fetch. The engine runs on the harness's manual clock, so the grace window and the
 * token lifetimes are crossed by moving the clock, never by sleeping.
 */

interface Served {
  harness: Harness;
  base: string;
}

const served: Served[] = [];
afterEach(async () => {
  await Promise.all(served.splice(0).map((s) => s.harness.close()));
});

const dir = mkdtempSync(join(tmpdir(), 'sessionkeeper-tokens-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

/** The rotation races are decided by the store, so the central cases run on both local stores. */
const STORES: [string, () => SessionStore][] = [
  ['memory', () => createMemoryStore()],
  ['sqlite', () => createSqliteStore({ path: join(dir, `tokens-${++files}.db`) })],
];

async function serve(options: Parameters<typeof startHarness>[0] = {}): Promise<Served> {
  const harness = await startHarness(options);
  await harness.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = harness.app.server.address() as AddressInfo;
  const s = { harness, base: `http://127.0.0.1:${port}` };
  served.push(s);
  return s;
}

interface TokenFields {
  tokenType: 'Bearer';
  accessToken: string;
  accessTokenExpiresAt: string;
  accessTokenExpiresIn: number;
  refreshToken: string;
  refreshTokenExpiresAt: string;
  refreshTokenExpiresIn: number;
}
interface CreatedBody extends TokenFields {
  session: { id: string; subject: string; expiresAt: string; status: string };
  token: string;
}
interface RefreshedBody extends TokenFields {
  session: { id: string; status: string; lastActiveAt: string; expiresAt: string };
}

const TOKEN_FIELDS = [
  'tokenType',
  'accessToken',
  'accessTokenExpiresAt',
  'accessTokenExpiresIn',
  'refreshToken',
  'refreshTokenExpiresAt',
  'refreshTokenExpiresIn',
] as const;

/** Only the token fields of an answer, so answers that differ in `session` compare on them. */
function pairOf(body: TokenFields): TokenFields {
  const {
    tokenType,
    accessToken,
    accessTokenExpiresAt,
    accessTokenExpiresIn,
    refreshToken,
    refreshTokenExpiresAt,
    refreshTokenExpiresIn,
  } = body;
  return {
    tokenType,
    accessToken,
    accessTokenExpiresAt,
    accessTokenExpiresIn,
    refreshToken,
    refreshTokenExpiresAt,
    refreshTokenExpiresIn,
  };
}

async function createSession(
  base: string,
  body: Record<string, unknown> = { subject: 'user-1' },
): Promise<CreatedBody> {
  const response = await fetch(`${base}/v1/sessions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(response.status, await response.clone().text()).toBe(201);
  return (await response.json()) as CreatedBody;
}

function refresh(base: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${base}/v1/session/refresh`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function expectProblem(
  response: Response,
  status: number,
  code: string,
): Promise<ProblemBody> {
  const text = await response.text();
  expect(response.status, text).toBe(status);
  expect(response.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
  expect(response.headers.get('cache-control')).toBe('no-store');
  const problem = JSON.parse(text) as ProblemBody;
  expect(problem.code, text).toBe(code);
  expect(problem.status).toBe(status);
  expect(problem.requestId).toBe(response.headers.get('x-request-id'));
  return problem;
}

const INVALID_TOKEN_HEADER =
  /^Bearer realm="sessionkeeper", error="invalid_token", error_description="[^"\\]+"$/;

describe('POST /v1/sessions issues a token pair', () => {
  it('returns the session token and an access/refresh pair, uncacheable', async () => {
    const { base } = await serve();
    const response = await fetch(`${base}/v1/sessions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ subject: 'user-1' }),
    });
    expect(response.status).toBe(201);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const body = (await response.json()) as CreatedBody;
    expect(Object.keys(body).sort()).toEqual(['session', 'token', ...TOKEN_FIELDS].sort());
    expect(body).toMatchObject({
      token: expect.stringMatching(/^sks_/),
      tokenType: 'Bearer',
      accessToken: expect.stringMatching(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/),
      // The manual clock starts at 2026-01-15T10:00:00Z; access tokens live 15 minutes by default.
      accessTokenExpiresAt: '2026-01-15T10:15:00.000Z',
      accessTokenExpiresIn: 900,
      refreshToken: expect.stringMatching(new RegExp(`^skr_${body.session.id}\\.[\\w-]{43}$`)),
      // The refresh token lasts as long as the session does without activity.
      refreshTokenExpiresAt: body.session.expiresAt,
      refreshTokenExpiresIn: 1800,
    });
  });

  it('the access token verifies against the JWKS served at /.well-known/jwks.json', async () => {
    const { base, harness } = await serve();
    const created = await createSession(base, { subject: 'user-7' });

    const jwksResponse = await fetch(`${base}/.well-known/jwks.json`); // no credentials
    expect(jwksResponse.status).toBe(200);
    expect(jwksResponse.headers.get('cache-control')).toBe('public, max-age=300');
    expect(jwksResponse.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const jwks = (await jwksResponse.json()) as JSONWebKeySet;
    expect(jwks.keys.length).toBeGreaterThanOrEqual(1);
    for (const key of jwks.keys) {
      expect(key).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
      expect(key).not.toHaveProperty('d'); // never the private part
    }

    // Another service: only the JWKS URL, fetched over HTTP, and its own (here: the same) clock.
    const verifier = createAccessTokenVerifier({
      jwks: `${base}/.well-known/jwks.json`,
      clock: harness.clock,
    });
    const verified = await verifier.verify(created.accessToken);
    expect(verified).toEqual({
      ok: true,
      claims: expect.objectContaining({
        sub: 'user-7',
        sid: created.session.id,
        iss: 'sessionkeeper',
        aud: 'sessionkeeper',
      }),
    });
    // The same document used as a local key set.
    const local = createAccessTokenVerifier({ jwks, clock: harness.clock });
    expect((await local.verify(created.accessToken)).ok).toBe(true);
    // Change a character well inside the signature: the last one carries padding bits that
    // decoders ignore, so changing it may leave the signature intact.
    const at = created.accessToken.length - 10;
    const tampered = `${created.accessToken.slice(0, at)}${created.accessToken[at] === 'A' ? 'B' : 'A'}${created.accessToken.slice(at + 1)}`;
    expect((await local.verify(tampered)).ok).toBe(false);
  });

  it('signs with the configured issuer and audience', async () => {
    const { base, harness } = await serve({
      engine: { tokens: { issuer: 'https://auth.example', audience: 'orders' } },
    });
    const created = await createSession(base);
    const jwks = (await (await fetch(`${base}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
    const check = (issuer: string, audience: string) =>
      createAccessTokenVerifier({ jwks, issuer, audience, clock: harness.clock }).verify(
        created.accessToken,
      );
    expect((await check('https://auth.example', 'orders')).ok).toBe(true);
    expect((await check('sessionkeeper', 'orders')).ok).toBe(false);
    expect((await check('https://auth.example', 'sessionkeeper')).ok).toBe(false);
  });
});

describe.each(STORES)('POST /v1/session/refresh on the %s store', (_name, newStore) => {
  it('exchanges the refresh token for a new pair, uncacheable, with no other credential', async () => {
    const { base, harness } = await serve({ store: newStore() });
    const created = await createSession(base);
    harness.clock.advance(600);
    const response = await refresh(base, { refreshToken: created.refreshToken });
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    const body = (await response.json()) as RefreshedBody;
    expect(Object.keys(body).sort()).toEqual(['session', ...TOKEN_FIELDS].sort());
    expect(body).toMatchObject({
      session: {
        id: created.session.id,
        status: 'active',
        lastActiveAt: '2026-01-15T10:10:00.000Z',
      },
      tokenType: 'Bearer',
      accessTokenExpiresAt: '2026-01-15T10:25:00.000Z',
      accessTokenExpiresIn: 900,
      // A refresh is activity: the idle deadline moved to now + 30 minutes.
      refreshTokenExpiresAt: '2026-01-15T10:40:00.000Z',
      refreshTokenExpiresIn: 1800,
    });
    expect(body.refreshToken).not.toBe(created.refreshToken);
    expect(body.accessToken).not.toBe(created.accessToken);
    expect(await harness.engine.verifyAccessToken(body.accessToken)).toMatchObject({ ok: true });

    // The new refresh token works in turn.
    harness.clock.advance(60);
    const again = await refresh(base, { refreshToken: body.refreshToken });
    expect(again.status).toBe(200);
  });

  it('answers 10 parallel refreshes with one token with the same pair', async () => {
    const { base, harness } = await serve({ store: newStore() });
    const created = await createSession(base);
    harness.clock.advance(30);
    const responses = await Promise.all(
      Array.from({ length: 10 }, () => refresh(base, { refreshToken: created.refreshToken })),
    );
    const bodies: RefreshedBody[] = [];
    for (const response of responses) {
      const text = await response.text();
      expect(response.status, text).toBe(200);
      expect(response.headers.get('cache-control')).toBe('no-store');
      bodies.push(JSON.parse(text) as RefreshedBody);
    }
    const first = pairOf(bodies[0] as RefreshedBody);
    for (const body of bodies) expect(pairOf(body)).toEqual(first);
    expect(first.refreshToken).not.toBe(created.refreshToken);
    // And that one successor is the live token.
    const next = await refresh(base, { refreshToken: first.refreshToken });
    expect(next.status).toBe(200);
  });

  it('within the grace window, the rotated token gets the same pair again', async () => {
    const { base, harness } = await serve({
      store: newStore(),
      engine: { tokens: { refreshGraceSeconds: 5 } },
    });
    const created = await createSession(base);
    const first = (await (
      await refresh(base, { refreshToken: created.refreshToken })
    ).json()) as RefreshedBody;
    harness.clock.advance(4);
    const second = await refresh(base, { refreshToken: created.refreshToken });
    expect(second.status).toBe(200);
    // The same tokens and instants; the relative lifetimes count from now, 4 seconds later.
    expect(pairOf((await second.json()) as RefreshedBody)).toEqual({
      ...pairOf(first),
      accessTokenExpiresIn: first.accessTokenExpiresIn - 4,
      refreshTokenExpiresIn: first.refreshTokenExpiresIn - 4,
    });
  });

  it('a rotated token whose successor was used, after the grace window, is refresh-token-reused and the session is revoked', async () => {
    const { base, harness } = await serve({
      store: newStore(),
      engine: { tokens: { refreshGraceSeconds: 0.2 } },
    });
    const created = await createSession(base);
    const rotated = await refresh(base, { refreshToken: created.refreshToken });
    expect(rotated.status).toBe(200);
    const used = (await rotated.json()) as RefreshedBody;
    const again = await refresh(base, { refreshToken: used.refreshToken });
    expect(again.status).toBe(200);
    const successor = (await again.json()) as RefreshedBody;

    // The grace window runs on the store's clock: real time must pass too.
    harness.clock.advance(1);
    await new Promise((resolve) => setTimeout(resolve, 350));
    const reused = await refresh(base, { refreshToken: created.refreshToken });
    expect(reused.headers.get('www-authenticate')).toMatch(INVALID_TOKEN_HEADER);
    const problem = await expectProblem(reused, 401, 'REFRESH_TOKEN_REUSED');
    expect(problem.type).toBe('/problems/refresh-token-reused');
    expect(problem.action).toBe('reauthenticate');
    expect(problem.detail).toContain(created.session.id);
    expect(problem.detail).not.toContain(created.refreshToken);

    // The whole session is gone: the session token, the successor pair, the backend's view.
    const validated = await fetch(`${base}/v1/session/validate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${created.token}` },
    });
    await expectProblem(validated, 401, 'SESSION_REVOKED');
    await expectProblem(
      await refresh(base, { refreshToken: successor.refreshToken }),
      401,
      'SESSION_REVOKED',
    );
    const info = await fetch(`${base}/v1/sessions/${created.session.id}`, {
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    expect(((await info.json()) as RefreshedBody).session.status).toBe('revoked');
    // With the denylist off, the access token already issued stays valid until its short expiry.
    expect((await harness.engine.verifyAccessToken(successor.accessToken)).ok).toBe(true);
  });
});

describe('POST /v1/session/refresh', () => {
  it('with the denylist on, the revoked session stops its access tokens at once', async () => {
    const { base, harness } = await serve({
      engine: { tokens: { refreshGraceSeconds: 0.2, denylist: true } },
    });
    const created = await createSession(base);
    const first = (await (
      await refresh(base, { refreshToken: created.refreshToken })
    ).json()) as RefreshedBody;
    await refresh(base, { refreshToken: first.refreshToken });
    harness.clock.advance(1);
    await new Promise((resolve) => setTimeout(resolve, 350));
    await expectProblem(
      await refresh(base, { refreshToken: created.refreshToken }),
      401,
      'REFRESH_TOKEN_REUSED',
    );
    const verified = await harness.engine.verifyAccessToken(created.accessToken);
    expect(verified.ok).toBe(false);
  });

  it('a wrong secret for a real session learns nothing but invalid-token, whatever the session’s state', async () => {
    const { base } = await serve({});
    const created = await createSession(base);
    const wrong = `skr_${created.session.id}.${'Z'.repeat(43)}`;
    const details: string[] = [];
    for (const step of ['active', 'revoked'] as const) {
      if (step === 'revoked') {
        const logout = await fetch(`${base}/v1/session`, {
          method: 'DELETE',
          headers: { authorization: `Bearer ${created.token}` },
        });
        expect(logout.status).toBeLessThan(300);
      }
      const problem = await expectProblem(
        await refresh(base, { refreshToken: wrong }),
        401,
        'INVALID_TOKEN',
      );
      details.push(String(problem.detail));
    }
    expect(details[1]).toBe(details[0]);
    expect(details[1]).not.toMatch(/revoked|logout|expired|activity/);
    // The real token still learns why the session ended.
    await expectProblem(
      await refresh(base, { refreshToken: created.refreshToken }),
      401,
      'SESSION_REVOKED',
    );
  });

  it('an expired access token is fixed by a refresh while the session lives', async () => {
    const { base, harness } = await serve({ engine: { tokens: { clockToleranceSeconds: 0 } } });
    const created = await createSession(base);
    harness.clock.advance(901);
    const expired = await harness.engine.verifyAccessToken(created.accessToken);
    expect(expired.ok).toBe(false);
    if (!expired.ok) expect(expired.error.code).toBe('ACCESS_TOKEN_EXPIRED');
    const response = await refresh(base, { refreshToken: created.refreshToken });
    expect(response.status).toBe(200);
    const body = (await response.json()) as RefreshedBody;
    expect((await harness.engine.verifyAccessToken(body.accessToken)).ok).toBe(true);
  });

  it('names refreshToken for a missing or malformed body field', async () => {
    const { base } = await serve();
    const cases: [unknown, string][] = [
      [{}, 'refreshToken'],
      [{ refreshToken: null }, 'refreshToken'],
      [{ refreshToken: 42 }, 'refreshToken'],
      [{ refreshToken: ['skr_x'] }, 'refreshToken'],
      [{ refreshToken: '' }, 'refreshToken'],
      [{ refreshToken: `skr_${'a'.repeat(600)}` }, 'refreshToken'],
      [{ refresh_token: 'skr_x' }, 'refreshToken'], // the required field is named first
      [{ refreshToken: 'skr_x', grantType: 'refresh_token' }, 'grantType'],
      [[], 'body'],
      ['"skr_x"', 'body'],
      ['{"refreshToken":', 'body'],
    ];
    for (const [body, field] of cases) {
      const problem = await expectProblem(await refresh(base, body), 400, 'VALIDATION_FAILED');
      expect(problem.field, JSON.stringify(body)).toBe(field);
      expect(problem.action).toBe('fix-request');
    }
    // No body at all: the refresh token is what is missing.
    const bare = await fetch(`${base}/v1/session/refresh`, { method: 'POST' });
    const problem = await expectProblem(bare, 400, 'VALIDATION_FAILED');
    expect(problem.field).toBe('refreshToken');
    expect(problem.detail).toBe('refreshToken: is required');
  });

  it('refuses tokens that are not a live refresh token with their specific 401', async () => {
    const { base, harness } = await serve();
    const created = await createSession(base);
    const other = await createSession(base, { subject: 'user-2' });
    const secret = created.refreshToken.split('.')[1] ?? '';
    const cases: [string, string][] = [
      ['nonsense', 'INVALID_TOKEN'],
      [created.token, 'INVALID_TOKEN'], // the session token is not a refresh token
      [created.accessToken, 'INVALID_TOKEN'],
      [created.refreshToken.slice(0, -3), 'INVALID_TOKEN'],
      [`skr_${other.session.id}.${secret}`, 'INVALID_TOKEN'], // someone else's session
      [
        created.refreshToken.replace(created.session.id, 'AAAAAAAAAAAAAAAAAAAAAA'),
        'SESSION_NOT_FOUND',
      ],
    ];
    for (const [token, code] of cases) {
      const response = await refresh(base, { refreshToken: token });
      expect(response.headers.get('www-authenticate')).toMatch(INVALID_TOKEN_HEADER);
      const problem = await expectProblem(response, 401, code);
      expect(problem.action).toBe('reauthenticate');
    }

    const revoked = await createSession(base, { subject: 'user-3' });
    await fetch(`${base}/v1/sessions/${revoked.session.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    await expectProblem(
      await refresh(base, { refreshToken: revoked.refreshToken }),
      401,
      'SESSION_REVOKED',
    );

    harness.clock.advance(1801);
    const expired = await expectProblem(
      await refresh(base, { refreshToken: created.refreshToken }),
      401,
      'SESSION_EXPIRED',
    );
    expect(expired.detail).toMatch(/30 minutes of inactivity/);
  });

  it('answers 503 store-unavailable with Retry-After while the store is down; the token still works after', async () => {
    let down = false;
    const store = failingStore(createMemoryStore(), () =>
      down
        ? new StoreUnavailableError('The session store memory: is unreachable', {
            retryAfterSeconds: 3,
          })
        : null,
    );
    const { base } = await serve({ store });
    const created = await createSession(base);
    down = true;
    const response = await refresh(base, { refreshToken: created.refreshToken });
    expect(response.headers.get('retry-after')).toBe('3');
    expect((await expectProblem(response, 503, 'STORE_UNAVAILABLE')).action).toBe('retry');
    down = false;
    expect((await refresh(base, { refreshToken: created.refreshToken })).status).toBe(200);
  });

  it('never logs a token', async () => {
    const { base, harness } = await serve({ engine: { tokens: { refreshGraceSeconds: 5 } } });
    const created = await createSession(base);
    const refreshed = (await (
      await refresh(base, { refreshToken: created.refreshToken })
    ).json()) as RefreshedBody;
    await refresh(base, { refreshToken: `${created.refreshToken}x` });
    harness.clock.advance(6);
    await refresh(base, { refreshToken: created.refreshToken });
    const text = harness.logs.join('');
    expect(text).toContain('refresh refused');
    for (const secret of [
      created.refreshToken.split('.')[1],
      refreshed.refreshToken.split('.')[1],
      created.accessToken.split('.')[2],
      refreshed.accessToken.split('.')[2],
    ]) {
      expect(text).not.toContain(secret);
    }
  });
});
