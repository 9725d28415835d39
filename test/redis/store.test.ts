import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisStore, type RedisStore } from '../../packages/redis/src/index.js';
import { shardOfId, shardOfSubject, subjectTag } from '../../packages/redis/src/keys.js';
import { ValidationError } from '../../packages/sessionkeeper/src/core/errors.js';
import { computeExpiresAtMs, liveLeases } from '../../packages/sessionkeeper/src/core/expiry.js';
import { ancestorKey } from '../../packages/sessionkeeper/src/core/refresh-rotation.js';
import {
  generateSessionId,
  isValidSessionId,
} from '../../packages/sessionkeeper/src/core/token.js';
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
      // Nothing is left but the registry of consumer groups (here: the default one).
      expect(await countKeys(redis, prefix)).toBe(1);
      expect(await redis.exists(`${prefix}{outbox}:groups`)).toBe(1);
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
    it('stores a session with 64 bytes of data as a compact hash, without derivable fields', async () => {
      const prefix = uniquePrefix();
      const store = await open({ keyPrefix: prefix });
      const record = newRecord(store, 'user-12345', T0, {
        dataJson: JSON.stringify({ d: 'x'.repeat(56) }),
      });
      expect(record.dataJson).toHaveLength(64);
      await store.create(record, {}, T0);
      const key = `${prefix}{${record.id.slice(0, 3)}}:s:${record.id}`;
      expect(await redis.object('ENCODING', key)).toBe('listpack');
      expect((await redis.hkeys(key)).sort()).toEqual(['A', 'Q', 'c', 'd', 'h', 'i', 'l', 'u']);
      expect(await redis.hget(key, 'A')).toBe(String(record.absoluteExpiresAtMs - T0));
      expect(await store.get(record.id)).toEqual(record);
    });

    it('reads and updates sessions written by the previous layout (absolute a, q and e)', async () => {
      const prefix = uniquePrefix();
      const store = await open({ keyPrefix: prefix });
      const record = newRecord(store, 'legacy', T0, { leases: { job: T0 + 90_000 } });
      const tag = `${prefix}{${record.id.slice(0, 3)}}`;
      const key = `${tag}:s:${record.id}`;
      await redis.hset(key, {
        u: record.subject,
        h: record.secretHash,
        d: record.dataJson,
        c: String(record.createdAtMs),
        l: String(record.lastActiveAtMs),
        i: String(record.idleTimeoutSeconds),
        a: String(record.absoluteExpiresAtMs),
        e: String(record.expiresAtMs),
        L: JSON.stringify({ job: String(T0 + 90_000) }),
        q: '1768471200000000',
      });
      await redis.zadd(`${tag}:exp`, record.expiresAtMs, record.id);
      await redis.zadd(`${tag}:lru`, record.lastActiveAtMs, record.id);
      await redis.zadd(`${tag}:sub`, 0, subjectTag(record.subject) + record.id);

      expect(await store.get(record.id)).toEqual(record);
      const page = await store.list('legacy', { limit: 10, cursor: null }, T0 + 1);
      expect(page.records).toEqual([record]);

      expect(await store.touch(record.id, T0 + 10_000)).toBe(true);
      const touched = { ...record, lastActiveAtMs: T0 + 10_000 };
      touched.expiresAtMs = computeExpiresAtMs(touched);
      expect(await store.get(record.id)).toEqual(touched);
      expect(await redis.hexists(key, 'e')).toBe(0); // recomputed from now on
      expect(await redis.zscore(`${tag}:lru`, record.id)).toBe(String(T0 + 10_000));
      expect(await redis.zscore(`${tag}:exp`, record.id)).toBe(String(touched.expiresAtMs));

      const revoked = await store.revoke(record.id, 'logout', T0 + 20_000);
      expect(revoked).toMatchObject({ status: 'revoked', expiresAtMs: touched.expiresAtMs });
      const [event] = await store.claimEvents(T0 + 20_000, 10, 1000);
      const { secretHash: _secretHash, refresh: _refresh, ...snapshot } = revoked ?? touched;
      expect(event).toMatchObject({ type: 'revoked', session: snapshot });
    });

    it('keeps refresh hashes in the session hash only, never in events', async () => {
      const prefix = uniquePrefix();
      const store = await open({ keyPrefix: prefix });
      const [first, second, nonce] = ['A', 'B', 'C'].map((c) => c.repeat(43));
      const record = newRecord(store, 'refresher', T0, {
        refresh: {
          hash: first as string,
          previousHash: null,
          nonce: '',
          rotatedAtMs: T0,
          previousNonce: '',
          ancestorKeys: [],
          committedAtMs: T0,
        },
      });
      await store.create(record, {}, T0);
      expect(await store.get(record.id)).toEqual(record);
      const next = { hash: second as string, nonce: (nonce as string).slice(0, 22) };
      const outcome = await store.rotateRefresh(record.id, first as string, next, T0 + 5_000, 1000);
      expect(outcome.kind).toBe('rotated');
      expect(outcome.record?.refresh).toEqual({
        ...next,
        previousHash: first,
        rotatedAtMs: T0 + 5_000,
        previousNonce: '',
        ancestorKeys: [],
        committedAtMs: expect.any(Number),
      });
      expect(await store.get(record.id)).toEqual(outcome.record);
      const key = `${prefix}{${record.id.slice(0, 3)}}:s:${record.id}`;
      expect(await redis.object('ENCODING', key)).toBe('listpack');
      // A second rotation adds the history (previous nonce, ancestors): still one small listpack.
      const third = { hash: 'D'.repeat(43), nonce: 'E'.repeat(22) };
      const again = await store.rotateRefresh(record.id, second as string, third, T0 + 6_000, 1000);
      expect(again.record?.refresh).toEqual({
        ...third,
        previousHash: second,
        rotatedAtMs: T0 + 6_000,
        previousNonce: next.nonce,
        ancestorKeys: [ancestorKey(first as string)],
        committedAtMs: expect.any(Number),
      });
      expect(await store.get(record.id)).toEqual(again.record);
      expect(await redis.object('ENCODING', key)).toBe('listpack');

      const events = await store.claimEvents(T0 + 6_000, 10, 1000);
      expect(events.map((e) => e.type)).toEqual(['created', 'refresh.rotated', 'refresh.rotated']);
      const text = JSON.stringify(events);
      for (const secret of [first, second, record.secretHash, ancestorKey(first as string)]) {
        expect(text).not.toContain(secret);
      }
    });
  });

  describe('refresh grace window', () => {
    it('runs on the server clock (TIME) from when the rotation ran, not on the caller’s clock', async () => {
      const store = await open();
      const [h0, h1, h2] = ['0', '1', '2'].map((c) => c.repeat(43)) as [string, string, string];
      const record = newRecord(store, 'grace', T0, {
        refresh: {
          hash: h0,
          previousHash: null,
          nonce: '',
          rotatedAtMs: T0,
          previousNonce: '',
          ancestorKeys: [],
          committedAtMs: T0,
        },
      });
      await store.create(record, {}, T0);
      const spare = { hash: 'x'.repeat(43), nonce: 'y'.repeat(22) };
      await store.rotateRefresh(record.id, h0, { hash: h1, nonce: 'n'.repeat(22) }, T0, 10_000);
      // h1 is used by a call whose clock reading is old (taken before a stall, say).
      await store.rotateRefresh(record.id, h1, { hash: h2, nonce: 'm'.repeat(22) }, T0, 10_000);
      // The caller's clock says 50 s later; the server's says the rotation just ran: within the
      // 10 s window, the token before the previous one gets the current pair.
      const late = await store.rotateRefresh(record.id, h0, spare, T0 + 50_000, 10_000);
      expect(late.kind).toBe('replayed');
      // Once the server's clock is past the window, the same call is reuse, whatever the caller's
      // clock says.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const reused = await store.rotateRefresh(record.id, h0, spare, T0, 200);
      expect(reused.kind).toBe('reused');
    });
  });

  describe('activity index', () => {
    async function lruKeys(prefix: string): Promise<string[]> {
      const keys: string[] = [];
      let cursor = '0';
      do {
        const [next, page] = await redis.scan(cursor, 'MATCH', `${prefix}*:lru`, 'COUNT', 1000);
        cursor = next;
        keys.push(...page);
      } while (cursor !== '0');
      return keys;
    }

    it('exists only under a global evict cap, and then ranks sessions created before the cap', async () => {
      const prefix = uniquePrefix();
      const store = await open({ keyPrefix: prefix });
      const early = newRecord(store, 'early', T0);
      const middle = newRecord(store, 'middle', T0 + 1_000);
      await store.create(early, {}, T0);
      await store.create(middle, { global: { max: 5, policy: 'refuse' } }, T0 + 1_000);
      expect(await store.touch(early.id, T0 + 3_000)).toBe(true);
      expect(await lruKeys(prefix)).toEqual([]);

      // Neither session is in the activity index, yet eviction ranks both: middle is the least
      // recently active.
      const late = newRecord(store, 'late', T0 + 4_000);
      const evict = { global: { max: 2, policy: 'evict' as const } };
      expect(await store.create(late, evict, T0 + 4_000)).toEqual({
        ok: true,
        evictedIds: [middle.id],
      });
      expect((await lruKeys(prefix)).length).toBeGreaterThan(0);

      // Under the cap, activity keeps the index current: early becomes the most recent.
      expect(await store.touch(early.id, T0 + 5_000)).toBe(true);
      const last = newRecord(store, 'last', T0 + 6_000);
      expect(await store.create(last, evict, T0 + 6_000)).toEqual({
        ok: true,
        evictedIds: [late.id],
      });
      expect(await store.countActive(T0 + 6_000)).toBe(2);
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
