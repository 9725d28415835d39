import { afterAll, describe, expect, it } from 'vitest';
import { createRedisStore, type RedisStore } from '../../packages/redis/src/index.js';
import type {
  CreateLimits,
  LimitPolicy,
  SessionStore,
  StoredEvent,
} from '../../packages/sessionkeeper/src/core/store.js';
import { MemoryStore } from '../../packages/sessionkeeper/src/memory/index.js';
import { newRecord, T0 } from './records.js';
import { deleteKeys, REDIS_URL, redisAvailable, uniquePrefix } from './redis-env.js';

/** Small deterministic PRNG (mulberry32), so a failure replays. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function eventKey(event: StoredEvent): string {
  const { id: _id, attempts: _attempts, ...rest } = event;
  return JSON.stringify(rest, Object.keys(rest).sort());
}

/**
 * The memory store is the reference implementation of the contract. The same random sequence of
 * operations runs on both stores; every result, every record and every event must agree.
 */
describe.skipIf(!redisAvailable)('Redis store matches the memory store', () => {
  const prefixes: string[] = [];
  const stores: SessionStore[] = [];
  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
    for (const prefix of prefixes) await deleteKeys(REDIS_URL, prefix);
  });

  for (const seed of [1, 2, 3, 4]) {
    it(`agrees on a random workload (seed ${seed})`, async () => {
      const keyPrefix = uniquePrefix();
      prefixes.push(keyPrefix);
      const redis: RedisStore = await createRedisStore({ url: REDIS_URL, keyPrefix });
      const memory = new MemoryStore();
      stores.push(redis, memory);
      const next = random(seed);
      const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
      const subjects = ['ann', 'bob', 'cyd', 'dee', 'eve', 'fay'];
      const ids: string[] = [];
      let now = T0;

      // `run` must not draw random numbers: it runs once per store.
      const both = async <T>(run: (store: SessionStore) => Promise<T>, what: string) => {
        const [fromRedis, fromMemory] = [await run(redis), await run(memory)];
        expect(fromRedis, what).toEqual(fromMemory);
        return fromRedis;
      };

      for (let step = 0; step < 250; step++) {
        // Often no time passes, so ties in activity and creation time are exercised too.
        if (next() < 0.6) now += Math.floor(next() * 8_000);
        const op = next();
        const id = ids.length > 0 ? pick(ids) : '';
        if (op < 0.3 || ids.length === 0) {
          const subject = pick(subjects);
          const policy = (): LimitPolicy => (next() < 0.7 ? 'evict' : 'refuse');
          const limits: CreateLimits = {};
          if (next() < 0.6)
            limits.perSubject = { max: 1 + Math.floor(next() * 3), policy: policy() };
          if (next() < 0.4) limits.global = { max: 3 + Math.floor(next() * 4), policy: policy() };
          const record = newRecord(redis, subject, now, {
            idleTimeoutSeconds: pick([30, 60, 90.5]),
            absoluteExpiresAtMs: now + pick([60_000, 120_000, 600_000]),
            dataJson: JSON.stringify({ step }),
          });
          ids.push(record.id);
          await both((s) => s.create(record, limits, now), `create ${step}`);
        } else if (op < 0.5) {
          await both((s) => s.touch(id, now), `touch ${step}`);
        } else if (op < 0.6) {
          const until = next() < 0.3 ? null : now + Math.floor(next() * 200_000);
          const leaseId = pick(['l1', 'l2']);
          await both((s) => s.setLease(id, leaseId, until, now), `lease ${step}`);
        } else if (op < 0.65) {
          if (next() < 0.5) {
            await both((s) => s.setData(id, JSON.stringify({ at: now }), now), `data ${step}`);
          } else {
            // A small limit now and then: the merged data is refused, with its size, on both.
            const patch = { set: [['n', JSON.stringify([step, {}])] as const], remove: ['step'] };
            const limit = pick([24, 1000]);
            await both((s) => s.patchData(id, patch, now, limit), `patch ${step}`);
          }
        } else if (op < 0.72) {
          await both((s) => s.revoke(id, 'logout', now), `revoke ${step}`);
        } else if (op < 0.75) {
          const subject = pick(subjects);
          await both((s) => s.revokeSubject(subject, 'admin', now), `revokeSubject ${step}`);
        } else if (op < 0.85) {
          const subject = pick(subjects);
          let cursor: string | null = null;
          do {
            const page = await both(
              (s) => s.list(subject, { limit: 2, cursor }, now),
              `list ${step}`,
            );
            cursor = page.nextCursor;
          } while (cursor);
        } else if (op < 0.9) {
          await both((s) => s.countActive(now), `count ${step}`);
        } else {
          await both((s) => s.sweep(now, 1000, now - 60_000), `sweep ${step}`);
        }
      }

      for (const id of ids) await both((s) => s.get(id), `final get ${id}`);
      const [redisEvents, memoryEvents] = [
        await redis.claimEvents(now, 10_000, 60_000),
        await memory.claimEvents(now, 10_000, 60_000),
      ];
      expect(redisEvents.map(eventKey).sort()).toEqual(memoryEvents.map(eventKey).sort());
      // Per session, events come in the same order.
      const perSession = (events: StoredEvent[]) =>
        ids.map((id) =>
          events
            .filter((e) => e.session.id === id)
            .map((e) => e.type)
            .join(','),
        );
      expect(perSession(redisEvents)).toEqual(perSession(memoryEvents));
    });
  }
});
