import pg from 'pg';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createPostgresStore, LATEST_SCHEMA_VERSION } from '../../packages/postgres/src/index.js';
import {
  createManualClock,
  type ManualClock,
} from '../../packages/sessionkeeper/src/core/clock.js';
import {
  createSessionEngine,
  type SessionEngine,
} from '../../packages/sessionkeeper/src/core/engine.js';
import {
  SessionLimitReachedError,
  StoreUnavailableError,
  ValidationError,
} from '../../packages/sessionkeeper/src/core/errors.js';
import type { SessionEngineOptions } from '../../packages/sessionkeeper/src/core/options.js';
import type { SessionEvent } from '../../packages/sessionkeeper/src/core/types.js';
import {
  dropSchemas,
  POSTGRES_URL,
  postgresAvailable,
  uniqueSchema,
} from '../postgres/postgres-env.js';

/**
 * Several instances, each with its own store and pool, on one schema: what several sessionkeeper
 * servers behind a load balancer do.
 */
describe.skipIf(!postgresAvailable)('several instances on one PostgreSQL schema', () => {
  const schemas: string[] = [];
  const engines: SessionEngine[] = [];

  async function pair(
    options: SessionEngineOptions = {},
  ): Promise<[SessionEngine, SessionEngine, ManualClock]> {
    const schema = uniqueSchema();
    schemas.push(schema);
    const clock = createManualClock();
    const make = async () => {
      const engine = await createSessionEngine({
        store: await createPostgresStore({ url: POSTGRES_URL, schema }),
        clock,
        background: false,
        logger: pino({ level: 'silent' }),
        ...options,
      });
      engines.push(engine);
      return engine;
    };
    return [await make(), await make(), clock];
  }

  afterEach(async () => {
    await Promise.all(engines.splice(0).map((engine) => engine.close()));
  });
  afterAll(() => dropSchemas(schemas));

  it('migrates a new schema once when several instances start at once', async () => {
    const schema = uniqueSchema();
    schemas.push(schema);
    const stores = await Promise.all(
      Array.from({ length: 4 }, () => createPostgresStore({ url: POSTGRES_URL, schema })),
    );
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    try {
      const { rows } = await client.query(
        `SELECT version FROM "${schema}".schema_migrations ORDER BY version`,
      );
      expect(rows.map((r) => r.version)).toEqual(
        Array.from({ length: LATEST_SCHEMA_VERSION }, (_, i) => i + 1),
      );
    } finally {
      await client.end();
      await Promise.all(stores.map((store) => store.close()));
    }
  });

  it('refuses a schema from a newer sessionkeeper, naming both versions, and changes nothing', async () => {
    const schema = uniqueSchema();
    schemas.push(schema);
    await (await createPostgresStore({ url: POSTGRES_URL, schema })).close();
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    try {
      await client.query(
        `INSERT INTO "${schema}".schema_migrations (version, description) VALUES (99, 'future')`,
      );
      const error = await createPostgresStore({ url: POSTGRES_URL, schema }).catch(
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect((error as Error).message).toMatch(
        new RegExp(`schema version 99.*versions up to ${LATEST_SCHEMA_VERSION}`),
      );
      const { rows } = await client.query(
        `SELECT max(version) AS v FROM "${schema}".schema_migrations`,
      );
      expect(rows[0].v).toBe(99);
    } finally {
      await client.end();
    }
  });

  it('refuses bad options naming the setting, and an unreachable server naming the host but not the password', async () => {
    await expect(createPostgresStore({ url: POSTGRES_URL, schema: 'a-b' })).rejects.toMatchObject({
      field: 'schema',
    });
    await expect(
      createPostgresStore({ url: POSTGRES_URL, callTimeoutMs: 0 }),
    ).rejects.toBeInstanceOf(ValidationError);
    await expect(createPostgresStore('postgres://h/db?sslmode=prefer')).rejects.toMatchObject({
      field: 'url',
    });
    await expect(createPostgresStore('mysql://h/db')).rejects.toMatchObject({ field: 'url' });
    const error = await createPostgresStore({
      url: 'postgres://ada:s3cret-pw@127.0.0.1:1/db',
      connectTimeoutMs: 2000,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as Error).message).toContain('postgres://ada@127.0.0.1:1/db');
    expect((error as Error).message).not.toContain('s3cret-pw');
  });

  it('never exceeds a subject’s cap under concurrent creations across instances', async () => {
    const [a, b] = await pair({ limits: { perSubject: { max: 3, policy: 'refuse' } } });
    const results = await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).create({ subject: 'shared' })),
    );
    const created = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter(
      (r) => r.status === 'rejected' && r.reason instanceof SessionLimitReachedError,
    );
    expect(created).toHaveLength(3);
    expect(refused).toHaveLength(27);
    expect((await a.list('shared')).sessions).toHaveLength(3);
  });

  it('evicts down to the cap under concurrent creations across instances', async () => {
    const [a, b] = await pair({ limits: { perSubject: { max: 2 }, global: { max: 5 } } });
    await Promise.all(
      Array.from({ length: 24 }, (_, i) => (i % 2 ? a : b).create({ subject: `s${i % 4}` })),
    );
    expect((await b.stats()).active).toBe(5);
    for (let s = 0; s < 4; s++) {
      expect((await a.list(`s${s}`)).sessions.length).toBeLessThanOrEqual(2);
    }
  });

  it('delivers each event once per group across instances', async () => {
    const [a, b] = await pair();
    const seen = {
      a: [] as SessionEvent[],
      b: [] as SessionEvent[],
      hooksA: [] as SessionEvent[],
      hooksB: [] as SessionEvent[],
    };
    a.on('created', (e) => void seen.a.push(e));
    b.on('created', (e) => void seen.b.push(e));
    a.on('created', (e) => void seen.hooksA.push(e), { group: 'hooks' });
    b.on('created', (e) => void seen.hooksB.push(e), { group: 'hooks' });
    const made = await Promise.all(
      Array.from({ length: 60 }, (_, i) => (i % 2 ? a : b).create({ subject: `u${i}` })),
    );
    for (let round = 0; round < 3; round++) {
      await Promise.all([
        a.deliverEvents(),
        b.deliverEvents(),
        a.deliverEvents(),
        b.deliverEvents(),
      ]);
    }
    const ids = made.map((m) => m.session.id).sort();
    const app = [...seen.a, ...seen.b].map((e) => e.session.id).sort();
    const hooks = [...seen.hooksA, ...seen.hooksB].map((e) => e.session.id).sort();
    expect(app).toEqual(ids);
    expect(hooks).toEqual(ids);
  });

  it('wakes event delivery in the other instance through LISTEN/NOTIFY, without waiting for a poll', async () => {
    const schema = uniqueSchema();
    schemas.push(schema);
    const writer = await createSessionEngine({
      store: await createPostgresStore({ url: POSTGRES_URL, schema }),
      background: false,
      logger: pino({ level: 'silent' }),
    });
    const reader = await createSessionEngine({
      store: await createPostgresStore({ url: POSTGRES_URL, schema }),
      eventPollIntervalSeconds: 3600,
      logger: pino({ level: 'silent' }),
    });
    engines.push(writer, reader);
    const got: string[] = [];
    reader.on('created', (e) => void got.push(e.session.id));
    await new Promise((resolve) => setTimeout(resolve, 500)); // first poll done, LISTEN in place
    const started = Date.now();
    const { session } = await writer.create({ subject: 'ping' });
    while (!got.includes(session.id) && Date.now() - started < 3000) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(got).toContain(session.id);
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
