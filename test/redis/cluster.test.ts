import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisStore, type RedisStore } from '../../packages/redis/src/index.js';
import { type RedisClusterProcess, startRedisCluster } from './cluster.js';
import { newRecord, T0 } from './records.js';
import { countKeys, redisBinariesAvailable } from './redis-env.js';

describe.skipIf(!redisBinariesAvailable)('Redis Cluster (3 masters)', () => {
  let cluster: RedisClusterProcess;
  let store: RedisStore;
  let admin: Cluster;
  const subjects = Array.from({ length: 12 }, (_, k) => `user-${k}`);

  beforeAll(async () => {
    cluster = await startRedisCluster();
    store = await createRedisStore({ url: cluster.clusterUrl, keyPrefix: 'ct:' });
    admin = new Cluster(
      cluster.urls.map((url) => ({ host: '127.0.0.1', port: Number(new URL(url).port) })),
    );
  });
  afterAll(async () => {
    await store?.close();
    admin?.disconnect();
    await cluster?.stop();
  });

  it('creates, reads, touches, lists and revokes sessions whose subjects live on different masters', async () => {
    const ids = new Map<string, string[]>();
    for (const subject of subjects) {
      for (let k = 0; k < 2; k++) {
        const record = newRecord(store, subject, T0 + k);
        expect(
          await store.create(record, { perSubject: { max: 5, policy: 'evict' } }, T0 + k),
        ).toEqual({
          ok: true,
          evictedIds: [],
        });
        ids.set(subject, [...(ids.get(subject) ?? []), record.id]);
      }
    }
    // Every master holds some of the sessions.
    for (const node of admin.nodes('master')) {
      expect(await countKeys(node as never, 'ct:')).toBeGreaterThan(0);
    }
    expect(await store.countActive(T0 + 10)).toBe(24);

    for (const [subject, [older, newer]] of ids) {
      expect((await store.get(older as string))?.subject).toBe(subject);
      expect(await store.touch(older as string, T0 + 5000)).toBe(true);
      const page = await store.list(subject, { limit: 1, cursor: null }, T0 + 5000);
      expect(page.records.map((r) => r.id)).toEqual([newer]);
      const next = await store.list(subject, { limit: 1, cursor: page.nextCursor }, T0 + 5000);
      expect(next.records.map((r) => r.id)).toEqual([older]);
      expect(next.nextCursor).toBeNull();
    }

    const [first] = ids.get('user-0') ?? [];
    expect((await store.revoke(first as string, 'logout', T0 + 6000))?.status).toBe('revoked');
    expect(await store.revoke(first as string, 'logout', T0 + 6000)).toBeNull();
    expect((await store.revokeSubject('user-1', 'admin', T0 + 6000)).length).toBe(2);
    expect(await store.countActive(T0 + 6000)).toBe(21);
  });

  it('sweeps every master and hands out each event once', async () => {
    const later = T0 + 2 * 3600_000;
    let expired = 0;
    for (let round = 0; round < 10; round++) {
      const result = await store.sweep(later, 5, 0);
      expired += result.expired;
      if (!result.more) break;
    }
    expect(expired).toBe(21);
    expect(await store.countActive(later)).toBe(0);

    const events = [
      ...(await store.claimEvents(later, 1000, 30_000)),
      ...(await store.claimEvents(later, 1000, 30_000)),
    ];
    const count = (type: string) => events.filter((e) => e.type === type).length;
    expect([count('created'), count('revoked'), count('expired')]).toEqual([24, 3, 21]);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    await store.ackEvents(events.map((e) => e.id));
    expect(await store.claimEvents(later + 60_000, 1000, 30_000)).toEqual([]);

    const purge = await store.sweep(later, 1000, later);
    expect(purge.purged).toBe(24);
    // Everything under the prefix is gone but the (empty) outbox hint and the consumer groups.
    expect(await countKeys(admin, 'ct:')).toBeLessThanOrEqual(2);
  });

  it('applies a global cap across masters, evicting the least recently active', async () => {
    // Subjects on masters A, B, C, B, C, C: the 4th and 5th creations evict a session on another
    // master, the 6th one on its own.
    const masterOf = async (subject: string) => {
      const slot = await admin.cluster(
        'KEYSLOT',
        `ct:{${store.newSessionId(subject).slice(0, 3)}}`,
      );
      return admin.slots[slot]?.[0] ?? '';
    };
    const pool = await Promise.all(
      Array.from({ length: 60 }, async (_, k) => ({
        subject: `g${k}`,
        master: await masterOf(`g${k}`),
      })),
    );
    const masters = [...new Set(pool.map((entry) => entry.master))];
    expect(masters).toHaveLength(3);
    const take = (master: string | undefined) => {
      const index = pool.findIndex((entry) => entry.master === master);
      return pool.splice(index, 1)[0]?.subject as string;
    };
    const [a, b, c] = masters;
    const subjects = [take(a), take(b), take(c), take(b), take(c), take(c)];

    const limits = { global: { max: 3, policy: 'evict' as const } };
    const now = T0 + 10 * 3600_000;
    const created: string[] = [];
    for (const [k, subject] of subjects.entries()) {
      const record = newRecord(store, subject, now + k);
      const outcome = await store.create(record, limits, now + k);
      expect(outcome).toEqual({ ok: true, evictedIds: k < 3 ? [] : [created[k - 3]] });
      created.push(record.id);
    }
    expect(await store.countActive(now + 10)).toBe(3);
    for (const id of created.slice(0, 3)) expect((await store.get(id))?.endReason).toBe('evicted');
    const refused = await store.create(
      newRecord(store, 'g-refused', now + 10),
      { global: { max: 3, policy: 'refuse' } },
      now + 10,
    );
    expect(refused).toEqual({ ok: false, scope: 'global', max: 3 });
  });
});
