import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisStore, type RedisStore } from '../../packages/redis/src/index.js';
import { createSessionEngine } from '../../packages/sessionkeeper/src/core/engine.js';
import { StoreUnavailableError } from '../../packages/sessionkeeper/src/core/errors.js';
import { newRecord, T0 } from './records.js';
import { redisBinariesAvailable } from './redis-env.js';
import { type RedisServerProcess, sparePort, startRedisServer, waitFor } from './redis-server.js';

/** Runs `call` and returns what it rejected with and how long that took. */
async function failure(call: () => Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = performance.now();
  const error = await call().then(
    () => null,
    (e: unknown) => e,
  );
  return { error, ms: performance.now() - started };
}

describe.skipIf(!redisBinariesAvailable)('Redis outage', () => {
  let dir: string;
  let server: RedisServerProcess;
  const stores: RedisStore[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sessionkeeper-outage-'));
    server = await startRedisServer({ dir });
  });
  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
    await server?.stop(true);
    await rm(dir, { recursive: true, force: true });
  });

  it('rejects every call quickly with StoreUnavailableError while Redis is down, queues nothing, and works again once it is back', async () => {
    const store = await createRedisStore({ url: server.url });
    stores.push(store);
    const before = newRecord(store, 'alice', T0);
    await store.create(before, {}, T0);
    expect((await store.get(before.id))?.status).toBe('active');

    await server.stop(true);
    const during = newRecord(store, 'alice', T0);
    const calls: [string, () => Promise<unknown>][] = [
      ['ping', () => store.ping()],
      ['get', () => store.get(before.id)],
      ['touch', () => store.touch(before.id, T0 + 1000)],
      ['create', () => store.create(during, { perSubject: { max: 3, policy: 'evict' } }, T0)],
      ['setData', () => store.setData(before.id, '{}', T0)],
      ['patchData', () => store.patchData(before.id, { set: [['a', '1']], remove: [] }, T0, 100)],
      ['setLease', () => store.setLease(before.id, 'l1', T0 + 5000, T0)],
      ['revoke', () => store.revoke(before.id, 'logout', T0)],
      ['revokeSubject', () => store.revokeSubject('alice', 'admin', T0)],
      ['list', () => store.list('alice', { limit: 10, cursor: null }, T0)],
      ['countActive', () => store.countActive(T0)],
      ['sweep', () => store.sweep(T0, 100, T0)],
      ['claimEvents', () => store.claimEvents(T0, 10, 30_000)],
      ['ackEvents', () => store.ackEvents(['000-x-1'])],
      [
        'rotateRefresh',
        () => store.rotateRefresh(before.id, 'h', { hash: 'h2', nonce: 'n' }, T0, 15_000),
      ],
      ['loadKeyring', () => store.loadKeyring()],
      ['saveKeyring', () => store.saveKeyring(0, '{"keys":[]}')],
    ];
    for (const [name, call] of calls) {
      const { error, ms } = await failure(call);
      expect(error, name).toBeInstanceOf(StoreUnavailableError);
      expect((error as StoreUnavailableError).message, name).toContain(server.url);
      expect(ms, name).toBeLessThan(1500);
    }

    server = await startRedisServer({ dir, port: server.port });
    // The same store reconnects by itself; its scripts are reloaded on NOSCRIPT.
    await waitFor('the store to answer again', () => store.ping().then(() => true), 5000);
    const after = newRecord(store, 'alice', T0);
    expect(await store.create(after, {}, T0)).toEqual({ ok: true, evictedIds: [] });
    expect((await store.get(after.id))?.status).toBe('active');
    // Nothing issued during the outage was queued and replayed later.
    expect(await store.get(during.id)).toBeNull();
    expect(await store.touch(before.id, T0 + 1000)).toBe(false);
  });

  it('fails calls in flight when the server dies, within the bounds', async () => {
    const store = await createRedisStore({ url: server.url, keyPrefix: 'inflight:' });
    stores.push(store);
    const records = Array.from({ length: 50 }, () => newRecord(store, 'bob', T0));
    const started = performance.now();
    // Handlers go on before the server dies: calls that fail during stop() are not unhandled.
    const settled = Promise.allSettled(records.map((record) => store.create(record, {}, T0)));
    await server.stop(true);
    const outcomes = await settled;
    expect(performance.now() - started).toBeLessThan(3000);
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected')
        expect(outcome.reason).toBeInstanceOf(StoreUnavailableError);
    }
    server = await startRedisServer({ dir, port: server.port });
    await waitFor('the store to answer again', () => store.ping().then(() => true), 5000);
  });

  it('bounds a call to a server that hangs by the command timeout', async () => {
    const store = await createRedisStore({ url: server.url, commandTimeoutSeconds: 0.5 });
    stores.push(store);
    server.signal('SIGSTOP');
    try {
      const { error, ms } = await failure(() => store.get('000AAAAAAAAAAAAAAAAAAAAAA'));
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect(ms).toBeLessThan(1500);
    } finally {
      server.signal('SIGCONT');
    }
    await waitFor('the store to answer again', () => store.ping().then(() => true), 5000);
  });

  it('bounds every call to a hung server from when it is made, and fails later calls at once until it answers', async () => {
    // The default deadline (1.5 s): queued behind a stuck auto-pipeline batch, a call used to wait
    // for that batch's timeout and then its own, 4 s and more.
    const store = await createRedisStore({ url: server.url, keyPrefix: 'hung:' });
    stores.push(store);
    const record = newRecord(store, 'dave', T0);
    await store.create(record, {}, T0);
    server.signal('SIGSTOP');
    try {
      const started = performance.now();
      const first = Promise.allSettled(
        Array.from({ length: 20 }, (_, i) =>
          i % 2 === 0 ? store.get(record.id) : store.touch(record.id, T0 + i),
        ),
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      const second = await failure(() => store.get(record.id)); // behind the stuck batch
      const outcomes = await first;
      expect(performance.now() - started).toBeLessThan(1900);
      for (const outcome of outcomes) expect(outcome.status).toBe('rejected');
      expect(second.error).toBeInstanceOf(StoreUnavailableError);
      expect(second.ms).toBeLessThan(1800);
      // Redis counts as hung now: one call probes (and waits), the others fail at once.
      const probe = failure(() => store.get(record.id));
      const fast = await failure(() => store.countActive(T0));
      expect(fast.error).toBeInstanceOf(StoreUnavailableError);
      expect(fast.ms).toBeLessThan(200);
      expect((await probe).error).toBeInstanceOf(StoreUnavailableError);
    } finally {
      server.signal('SIGCONT');
    }
    await waitFor('the store to answer again', () => store.ping().then(() => true), 5000);
    expect((await store.get(record.id))?.status).toBe('active');
    expect(await store.countActive(T0)).toBe(1);
  });

  it('closes within the call timeout while the server hangs (a shutdown is not held up)', async () => {
    const store = await createRedisStore({
      url: server.url,
      keyPrefix: 'close:',
      commandTimeoutSeconds: 0.5,
    });
    server.signal('SIGSTOP');
    try {
      const started = performance.now();
      await store.close();
      expect(performance.now() - started).toBeLessThan(1500);
    } finally {
      server.signal('SIGCONT');
    }
  });

  it('refuses a refresh during an outage without counting it as reuse; the same token works after', async () => {
    const store = await createRedisStore({
      url: server.url,
      keyPrefix: 'refresh-outage:',
      commandTimeoutSeconds: 0.5,
    });
    const engine = await createSessionEngine({
      store,
      background: false,
      logger: pino({ level: 'silent' }),
    });
    try {
      const { session, tokens } = await engine.create({ subject: 'carol', tokens: true });
      const refreshToken = tokens?.refreshToken ?? '';
      server.signal('SIGSTOP'); // the rotation may reach Redis and run once it resumes
      try {
        const { error } = await failure(() => engine.refresh(refreshToken));
        expect(error).toBeInstanceOf(StoreUnavailableError);
      } finally {
        server.signal('SIGCONT');
      }
      await waitFor('the store to answer again', () => store.ping().then(() => true), 5000);
      // Whether or not the lost call's rotation ran, the client's retry with the same token
      // succeeds (rotated now, or the same pair within the grace window) and nothing is revoked.
      const retry = await engine.refresh(refreshToken);
      expect(retry.ok ? 'ok' : retry.error.message).toBe('ok');
      expect((await engine.get(session.id))?.session.status).toBe('active');
    } finally {
      await engine.close();
    }
  });

  it('refuses to start against a dead port with an error naming the URL but not the password', async () => {
    const port = await sparePort();
    const { error, ms } = await failure(() =>
      createRedisStore({ url: `redis://:hunter2@127.0.0.1:${port}/0` }),
    );
    expect(error).toBeInstanceOf(StoreUnavailableError);
    const message = (error as Error).message;
    expect(message).toContain(`redis://127.0.0.1:${port}`);
    expect(message).not.toContain('hunter2');
    expect(ms).toBeLessThan(5000);
  });
});
