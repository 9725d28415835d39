import { afterEach, describe, expect, it } from 'vitest';
import { createSqliteStore } from '../../packages/sessionkeeper/src/sqlite/index.js';
import { backend, createSession, type Harness, startHarness } from '../server/harness.js';
import { FixtureProcess } from './child-process.js';
import { withTempDir } from './temp-dir.js';

/*
 * A refresh that waits behind another process's write lock for longer than the grace window,
 * then commits: the client, whose answer came too late (or never), retries with the same token
 * and must get the same pair, with nothing revoked.
 */
const tempPath = withTempDir('refresh-lock');
const GRACE_SECONDS = 1;
const HOLD_MS = 2500;
const harnesses: Harness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

describe('refresh behind a write lock held by another process', () => {
  it('a retry after the stall gets the same pair, and nothing is revoked', async () => {
    const path = tempPath('lock.db');
    const harness = await startHarness({
      store: createSqliteStore({ path }),
      engine: { tokens: { refreshGraceSeconds: GRACE_SECONDS } },
    });
    harnesses.push(harness);
    const { app, clock } = harness;
    const created = await createSession(app);

    const holder = new FixtureProcess('hold-write-lock.ts', [path, String(HOLD_MS)]);
    expect(await holder.line(0)).toBe('locked');
    const started = performance.now();
    const stalled = await app.inject({
      method: 'POST',
      url: '/v1/session/refresh',
      payload: { refreshToken: created.refreshToken },
    });
    const waitedMs = performance.now() - started;
    expect((await holder.exited).code).toBe(0);
    // It waited for the lock (busy timeout 5 s), then committed.
    expect(waitedMs).toBeGreaterThan(HOLD_MS - 500);
    expect(stalled.statusCode, stalled.body).toBe(200);
    const pair = stalled.json<{ accessToken: string; refreshToken: string }>();

    // The client gave up on that answer; it retries well past the grace window, on every clock.
    clock.advance(HOLD_MS / 1000 + GRACE_SECONDS + 1);
    await new Promise((resolve) => setTimeout(resolve, GRACE_SECONDS * 1000 + 200));
    const retry = await app.inject({
      method: 'POST',
      url: '/v1/session/refresh',
      payload: { refreshToken: created.refreshToken },
    });
    expect(retry.statusCode, retry.body).toBe(200);
    expect(retry.json()).toMatchObject({
      accessToken: pair.accessToken,
      refreshToken: pair.refreshToken,
    });
    const info = await app.inject({ url: `/v1/sessions/${created.id}`, headers: backend });
    expect(info.json<{ session: { status: string } }>().session.status).toBe('active');
    const next = await app.inject({
      method: 'POST',
      url: '/v1/session/refresh',
      payload: { refreshToken: pair.refreshToken },
    });
    expect(next.statusCode, next.body).toBe(200);
  });
});
