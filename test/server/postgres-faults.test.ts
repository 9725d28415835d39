import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresStore, type PostgresStore } from '../../packages/postgres/src/index.js';
import { StoreUnavailableError } from '../../packages/sessionkeeper/src/core/errors.js';
import { hashSecret } from '../../packages/sessionkeeper/src/core/token.js';
import {
  dropSchemas,
  POSTGRES_URL,
  postgresAvailable,
  uniqueSchema,
} from '../postgres/postgres-env.js';
import { TcpProxy } from '../postgres/tcp-proxy.js';
import { createSession, type Harness, holder, startHarness } from './harness.js';

/**
 * PostgreSQL going away, hanging, or losing an answer, simulated by a TCP proxy between the store
 * and the machine's PostgreSQL (which is never touched). The documented bound: a store call
 * fails with StoreUnavailableError (HTTP 503 store-unavailable) within 2 seconds.
 */
const BOUND_MS = 2000;

describe.skipIf(!postgresAvailable)('PostgreSQL faults', () => {
  const schema = uniqueSchema();
  let proxy: TcpProxy;
  let store: PostgresStore;
  let harness: Harness;

  beforeAll(async () => {
    proxy = await TcpProxy.start('127.0.0.1', 5432);
    store = await createPostgresStore({
      url: `postgres://postgres@127.0.0.1:${proxy.port}/test`,
      schema,
    });
    harness = await startHarness({ store, engine: { tokens: { refreshGraceSeconds: 1 } } });
  });
  afterAll(async () => {
    proxy?.restore();
    await harness?.close();
    await proxy?.close();
    await dropSchemas([schema]);
  });

  async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; result: T }> {
    const started = performance.now();
    const result = await work();
    return { ms: performance.now() - started, result };
  }

  async function validate(token: string) {
    return harness.app.inject({
      method: 'POST',
      url: '/v1/session/validate',
      headers: holder(token),
    });
  }

  it('answers 503 store-unavailable within the bound while PostgreSQL hangs, and recovers without a restart', async () => {
    const { token } = await createSession(harness.app);
    proxy.hang();
    try {
      const direct = await timed(() => store.get('no-such-session').catch((e: unknown) => e));
      expect(direct.result).toBeInstanceOf(StoreUnavailableError);
      expect(direct.ms).toBeLessThan(BOUND_MS);
      const http = await timed(() => validate(token));
      expect(http.result.statusCode, http.result.body).toBe(503);
      expect(http.result.json()).toMatchObject({ code: 'STORE_UNAVAILABLE' });
      expect(http.ms).toBeLessThan(BOUND_MS);
      console.info(
        `hang: store call failed after ${direct.ms.toFixed(0)} ms, HTTP after ${http.ms.toFixed(0)} ms`,
      );
    } finally {
      proxy.restore();
    }
    const after = await validate(token);
    expect(after.statusCode, after.body).toBe(200);
  });

  it('fails fast while PostgreSQL is gone and recovers without a restart', async () => {
    const { token } = await createSession(harness.app);
    proxy.drop();
    try {
      const direct = await timed(() => store.get('no-such-session').catch((e: unknown) => e));
      expect(direct.result).toBeInstanceOf(StoreUnavailableError);
      expect((direct.result as Error).message).toContain(`127.0.0.1:${proxy.port}`);
      expect(direct.ms).toBeLessThan(BOUND_MS);
      const http = await timed(() => validate(token));
      expect(http.result.statusCode, http.result.body).toBe(503);
      expect(http.ms).toBeLessThan(BOUND_MS);
      console.info(
        `gone: store call failed after ${direct.ms.toFixed(0)} ms, HTTP after ${http.ms.toFixed(0)} ms`,
      );
    } finally {
      proxy.restore();
    }
    const after = await validate(token);
    expect(after.statusCode, after.body).toBe(200);
    expect((await store.countActive(harness.clock.now())) >= 1).toBe(true);
  });

  it('a refresh whose answer was lost, retried after recovery, gets one pair and revokes nothing', async () => {
    const created = await createSession(harness.app, { subject: 'lost-answer' });
    const presentedHash = hashSecret(created.refreshToken.split('.')[1] ?? '');
    // The rotation reaches PostgreSQL and commits; the answer to its COMMIT never returns.
    proxy.loseAnswersAfter('COMMIT');
    let lost: Awaited<ReturnType<typeof harness.app.inject>>;
    try {
      lost = await harness.app.inject({
        method: 'POST',
        url: '/v1/session/refresh',
        payload: { refreshToken: created.refreshToken },
      });
    } finally {
      proxy.restore();
    }
    expect(lost.statusCode, lost.body).toBe(503);
    expect((await store.get(created.id))?.refresh?.previousHash).toBe(presentedHash);
    // The client retries after the grace window: the same token, twice.
    harness.clock.advance(5);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const retries = [];
    for (let i = 0; i < 2; i++) {
      retries.push(
        await harness.app.inject({
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
    const record = await store.get(created.id);
    expect(record?.status).toBe('active');
    expect(record?.refresh?.hash).toBe(hashSecret(first?.refreshToken.split('.')[1] ?? ''));
    const next = await harness.app.inject({
      method: 'POST',
      url: '/v1/session/refresh',
      payload: { refreshToken: first?.refreshToken },
    });
    expect(next.statusCode, next.body).toBe(200);
  });

  it('cuts a write stuck behind a lock at the statement timeout, while validations go on', async () => {
    const created = await createSession(harness.app, { subject: 'locked' });
    // Another client holds the session's row (a long transaction, a stuck maintenance script).
    const locker = new pg.Client({ connectionString: POSTGRES_URL });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query(`SELECT 1 FROM "${schema}".sessions WHERE id = $1 FOR UPDATE`, [
        created.id,
      ]);
      const touched = await timed(() =>
        store.touch(created.id, harness.clock.now() + 60_000).catch((e: unknown) => e),
      );
      expect(touched.result).toBeInstanceOf(StoreUnavailableError);
      // PostgreSQL cancelled it (statement timeout, 1 s), before the store's own call limit.
      expect(((touched.result as Error).cause as { code?: string }).code).toBe('57014');
      expect(touched.ms).toBeLessThan(BOUND_MS);
      const read = await timed(() => validate(created.token));
      expect(read.result.statusCode, read.result.body).toBe(200);
      expect(read.ms).toBeLessThan(500);
    } finally {
      await locker.query('ROLLBACK').catch(() => {});
      await locker.end();
    }
  });

  it('runs on a pool the caller owns, and leaves it open on close', async () => {
    const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 2 });
    try {
      const own = await createPostgresStore({ pool, schema, listen: false });
      expect(own.location).toBe('postgres://postgres@127.0.0.1:5432/test');
      await own.ping();
      await own.close();
      expect((await pool.query('SELECT 1 AS one')).rows[0].one).toBe(1);
    } finally {
      await pool.end();
    }
  });
});
