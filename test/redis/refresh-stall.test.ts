import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisStore } from '../../packages/redis/src/index.js';
import { hashSecret } from '../../packages/sessionkeeper/src/core/token.js';
import { backend, createSession, type Harness, startHarness } from '../server/harness.js';
import { redisBinariesAvailable } from './redis-env.js';
import { type RedisServerProcess, startRedisServer, waitFor } from './redis-server.js';

/*
 * Redis stops (SIGSTOP) while a refresh is in flight: the caller gets 503 ("retry with the same
 * token"), but the rotation it sent runs when Redis resumes. The client's retry, after the grace
 * window, must get that rotation's pair: a stall is not theft.
 */
const GRACE_SECONDS = 1;
const STALL_MS = 3000;

describe.skipIf(!redisBinariesAvailable)('refresh across a Redis stall', () => {
  let dir: string;
  let server: RedisServerProcess;
  let harness: Harness | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sessionkeeper-stall-'));
    server = await startRedisServer({ dir });
  });
  afterAll(async () => {
    server?.signal('SIGCONT');
    await harness?.close();
    await server?.stop(true);
    await rm(dir, { recursive: true, force: true });
  });

  it('a retry after a stall longer than the grace window gets 200 with the same pair; nothing is revoked', async () => {
    const store = await createRedisStore({ url: server.url });
    harness = await startHarness({
      store,
      engine: { tokens: { refreshGraceSeconds: GRACE_SECONDS } },
    });
    const { app, clock } = harness;
    // A refresh before the stall loads the rotation script (a fresh server knows no scripts, and
    // a stalled EVALSHA would then only answer NOSCRIPT).
    const warm = await createSession(app);
    const warmed = await app.inject({
      method: 'POST',
      url: '/v1/session/refresh',
      payload: { refreshToken: warm.refreshToken },
    });
    expect(warmed.statusCode).toBe(200);
    const created = await createSession(app);
    const presentedHash = hashSecret(created.refreshToken.split('.')[1] ?? '');

    server.signal('SIGSTOP');
    let stalled: Awaited<ReturnType<typeof app.inject>>;
    const resumeAt = Date.now() + STALL_MS;
    try {
      stalled = await app.inject({
        method: 'POST',
        url: '/v1/session/refresh',
        payload: { refreshToken: created.refreshToken },
      });
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, resumeAt - Date.now())));
    } finally {
      server.signal('SIGCONT');
    }
    expect(stalled.statusCode, stalled.body).toBe(503);
    expect(stalled.json()).toMatchObject({ code: 'STORE_UNAVAILABLE', action: 'retry' });
    // The rotation sent before the stall ran when Redis resumed.
    await waitFor(
      'the stalled rotation to commit',
      async () => (await store.get(created.id))?.refresh?.previousHash === presentedHash,
      10_000,
    );

    // The client retries after the grace window on every clock.
    clock.advance(STALL_MS / 1000 + GRACE_SECONDS + 1);
    await new Promise((resolve) => setTimeout(resolve, GRACE_SECONDS * 1000 + 200));
    const retries = [];
    for (let i = 0; i < 2; i++) {
      retries.push(
        await app.inject({
          method: 'POST',
          url: '/v1/session/refresh',
          payload: { refreshToken: created.refreshToken },
        }),
      );
    }
    const [first, second] = retries.map((r) => {
      expect(r.statusCode, r.body).toBe(200);
      return r.json<{ accessToken: string; refreshToken: string }>();
    });
    expect(second).toEqual(first);
    // The pair is the stalled rotation's: its refresh token is the family's current one.
    const record = await store.get(created.id);
    expect(record?.status).toBe('active');
    expect(record?.refresh?.hash).toBe(hashSecret(first?.refreshToken.split('.')[1] ?? ''));
    const info = await app.inject({ url: `/v1/sessions/${created.id}`, headers: backend });
    expect(info.json<{ session: { status: string } }>().session.status).toBe('active');
    const next = await app.inject({
      method: 'POST',
      url: '/v1/session/refresh',
      payload: { refreshToken: first?.refreshToken },
    });
    expect(next.statusCode, next.body).toBe(200);
  });
});
