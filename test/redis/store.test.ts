import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/core/errors.js';
import { computeExpiresAtMs, liveLeases } from '../../src/core/expiry.js';
import { generateSessionId, isValidSessionId } from '../../src/core/token.js';
import { createRedisStore, type RedisStore } from '../../src/redis/index.js';
import { shardOfId, shardOfSubject } from '../../src/redis/keys.js';
import { newRecord, T0 } from './records.js';
import { countKeys, deleteKeys, REDIS_URL, redisAvailable, uniquePrefix } from './redis-env.js';

const GRACE_SECONDS = 1000;

describe.skipIf(!redisAvailable)('Redis store', () => {
  const prefixes: string[] = [];
  const stores: RedisStore[] = [];
  let redis: Redis;

  async function open(options: { keyPrefix?: string } = {}): Promise<RedisStore> {
    const keyPrefix = options.keyPrefix ?? uniquePrefix();
    prefixes.push(keyPrefix);
    const store = await createRedisStore({
      url: REDIS_URL,
      keyPrefix,
      tombstoneTtlSeconds: GRACE_SECONDS,
    });
    stores.push(store);
    return store;
  }

  beforeAll(() => {
    redis = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
    for (const prefix of prefixes) await deleteKeys(REDIS_URL, prefix);
    redis.disconnect();
  });

  describe('ids', () => {
    it('makes ids that carry the subject’s shard and pass isValidSessionId', async () => {
      const store = await open();
      for (const subject of ['a', 'user@example.com', 'ü-ñ', 'x'.repeat(300)]) {
        const id = store.newSessionId(subject);
        expect(isValidSessionId(id)).toBe(true);
        expect(shardOfId(id)).toBe(shardOfSubject(subject));
      }
    });

    it('refuses an id that was not made for the subject, and a duplicate id', async () => {
      const store = await open();
      const foreign = newRecord(store, 'alice', T0, { id: generateSessionId() });
      const error = await store.create(foreign, {}, T0).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field).toBe('id');

      const record = newRecord(store, 'alice', T0);
      await store.create(record, {}, T0);
      const duplicate = await store.create(record, {}, T0).catch((e: unknown) => e);
      expect((duplicate as ValidationError).field).toBe('id');
      expect(await store.countActive(T0)).toBe(1);
    });

    it('answers null for ids it cannot hold, without asking Redis', async () => {
      const store = await open();
      expect(await store.get('AAAAAAAAAAAAAAAAAAAAAA')).toBeNull();
      expect(await store.touch('zz', T0)).toBe(false);
      expect(await store.revoke('ffff-not-ours', 'x', T0)).toBeNull();
      expect(await store.get(store.newSessionId('nobody'))).toBeNull();
    });
  });

  describe('Lua mirrors the core', () => {
    it('computes expiresAtMs exactly as computeExpiresAtMs, leases and fractions included', async () => {
      const store = await open();
      let now = T0;
      const record = newRecord(store, 'leaser', now, {
        idleTimeoutSeconds: 12.345,
        absoluteExpiresAtMs: now + 500_000,
      });
      await store.create(record, {}, now);
      const steps: [string, number | null, number][] = [
        ['a', 40_000, 1_000],
        ['b', 90_000, 2_500],
        ['a', null, 3_000],
        ['c', 700_000, 1], // past the absolute deadline: capped
        ['b', 10, 60_000], // already past: the lease is dropped
        ['c', null, 5],
      ];
      let expected = { ...record };
      for (const [leaseId, offset, advance] of steps) {
        now += advance;
        const updated = await store.setLease(
          record.id,
          leaseId,
          offset === null ? null : now + offset,
          now,
        );
        const leases = liveLeases(expected.leases, now);
        if (offset === null) delete leases[leaseId];
        else leases[leaseId] = now + offset;
        expected = { ...expected, leases, lastActiveAtMs: now };
        expected.expiresAtMs = computeExpiresAtMs(expected);
        expect(updated, `lease ${leaseId}`).toEqual(expected);
      }
      now += 1_000;
      expect(await store.touch(record.id, now)).toBe(true);
      expected = { ...expected, lastActiveAtMs: now };
      expected.expiresAtMs = computeExpiresAtMs(expected);
      expect(await store.get(record.id)).toEqual(expected);
    });
  });

  describe('key lifetimes', () => {
    it('keeps each session hash until its deadline plus the tombstone TTL, and leaves nothing after a purge', async () => {
      const prefix = uniquePrefix();
      const store = await open({ keyPrefix: prefix });
      const record = newRecord(store, 'ttl', T0);
      const key = `${prefix}{${record.id.slice(0, 3)}}:s:${record.id}`;
      await store.create(record, {}, T0);
      const deadline = record.expiresAtMs - T0 + GRACE_SECONDS * 1000;
      expect(await redis.pttl(key)).toBeGreaterThan(deadline - 2000);
      expect(await redis.pttl(key)).toBeLessThanOrEqual(deadline);

      // A lease moves the deadline, and the TTL with it.
      await store.setLease(record.id, 'job', T0 + 300_000, T0 + 30_000);
      const held = 300_000 - 30_000 + 60_000 + GRACE_SECONDS * 1000;
      expect(await redis.pttl(key)).toBeGreaterThan(held - 2000);
      expect(await redis.pttl(key)).toBeLessThanOrEqual(held);

      await store.revoke(record.id, 'logout', T0 + 40_000);
      expect(await redis.pttl(key)).toBeLessThanOrEqual(GRACE_SECONDS * 1000);
      expect((await store.get(record.id))?.status).toBe('revoked');

      expect((await store.sweep(T0 + 50_000, 100, T0 + 40_000)).purged).toBe(1);
      expect(await store.get(record.id)).toBeNull();
      const events = await store.claimEvents(T0 + 50_000, 100, 1000);
      expect(events.map((e) => e.type)).toEqual(['created', 'revoked']);
      await store.ackEvents(events.map((e) => e.id));
      expect(await store.claimEvents(T0 + 60_000, 100, 1000)).toEqual([]);
      expect(await countKeys(redis, prefix)).toBe(0);
    });

    it('copes with hashes Redis has already freed: no event, indexes cleaned', async () => {
      const prefix = uniquePrefix();
      const store = await open({ keyPrefix: prefix });
      const gone = newRecord(store, 'ghost', T0);
      const kept = newRecord(store, 'ghost', T0 + 1);
      await store.create(gone, {}, T0);
      await store.create(kept, {}, T0 + 1);
      await redis.del(`${prefix}{${gone.id.slice(0, 3)}}:s:${gone.id}`);
      const page = await store.list('ghost', { limit: 10, cursor: null }, T0 + 2);
      expect(page.records.map((r) => r.id)).toEqual([kept.id]);
      const later = T0 + 3_600_000;
      expect(await store.sweep(later, 100, 0)).toEqual({ expired: 1, purged: 0, more: false });
      const expired = (await store.claimEvents(later, 100, 1000)).filter(
        (e) => e.type === 'expired',
      );
      expect(expired.map((e) => e.session.id)).toEqual([kept.id]);
    });
  });

  describe('encoding', () => {
    it('stores a session with 64 bytes of data as a compact hash', async () => {
      const prefix = uniquePrefix();
      const store = await open({ keyPrefix: prefix });
      const record = newRecord(store, 'user-12345', T0, {
        dataJson: JSON.stringify({ d: 'x'.repeat(56) }),
      });
      expect(record.dataJson).toHaveLength(64);
      await store.create(record, {}, T0);
      const key = `${prefix}{${record.id.slice(0, 3)}}:s:${record.id}`;
      expect(await redis.object('ENCODING', key)).toBe('listpack');
      expect(await redis.hlen(key)).toBe(9);
    });
  });

  describe('scripts', () => {
    it('reloads its scripts after the server forgot them (NOSCRIPT)', async () => {
      const store = await open();
      await redis.script('FLUSH');
      const record = newRecord(store, 'flush', T0);
      expect(await store.create(record, {}, T0)).toEqual({ ok: true, evictedIds: [] });
      expect(await store.touch(record.id, T0 + 1)).toBe(true);
    });
  });

  describe('outbox', () => {
    it('finds events whose hint was lost (a crash between the change and the hint) by a full scan', async () => {
      const prefix = uniquePrefix();
      const first = await open({ keyPrefix: prefix });
      expect(await first.claimEvents(T0, 10, 1000)).toEqual([]); // its full scan
      const record = newRecord(first, 'crash', T0);
      await first.create(record, {}, T0);
      await redis.del(`${prefix}{outbox}:shards`);
      // A hint-only poll sees nothing; a new claimer starts with a full scan.
      expect(await first.claimEvents(T0, 10, 1000)).toEqual([]);
      const second = await open({ keyPrefix: prefix });
      const [event] = await second.claimEvents(T0, 10, 1000);
      expect(event?.session.id).toBe(record.id);
      // The claimed event is hinted again, so a lapsed claim is redelivered by hint-only polls.
      const redelivered = await second.claimEvents(T0 + 1000, 10, 1000);
      expect(redelivered.map((e) => [e.id, e.attempts])).toEqual([[event?.id, 1]]);
    });
  });

  describe('options', () => {
    it('rejects key prefixes that would move the hash tag or act as a glob', async () => {
      for (const keyPrefix of ['{x}', 'a*', 'a b']) {
        const error = await createRedisStore({ url: REDIS_URL, keyPrefix }).catch(
          (e: unknown) => e,
        );
        expect((error as ValidationError).field, keyPrefix).toBe('keyPrefix');
      }
    });

    it('uses a client it is given, and leaves it open on close', async () => {
      const client = new Redis(REDIS_URL);
      const keyPrefix = uniquePrefix();
      prefixes.push(keyPrefix);
      const store = await createRedisStore({ client, keyPrefix });
      expect(store.location).toMatch(/^redis:\/\//);
      const record = newRecord(store, 'owner', T0);
      await store.create(record, {}, T0);
      await store.close();
      expect(await client.exists(`${keyPrefix}{${record.id.slice(0, 3)}}:s:${record.id}`)).toBe(1);
      client.disconnect();

      const prefixed = new Redis(REDIS_URL, { keyPrefix: 'p:' });
      const error = await createRedisStore({ client: prefixed }).catch((e: unknown) => e);
      expect((error as ValidationError).field).toBe('client');
      prefixed.disconnect();
    });
  });
});
