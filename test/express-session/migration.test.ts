import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import RedisStore from 'connect-redis';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { deleteKeys, REDIS_URL, redisAvailable, uniquePrefix } from '../redis/redis-env.js';
import { Browser, type RunningApp, STORE_KINDS, serveApp, startApp } from './harness.js';

// The migration guide's "move live sessions" step, as written in docs/express-session.md: a user
// logged in on express-session + connect-redis keeps the same cookie after the app moves to the
// bridge, on each of our stores.
describe.skipIf(!redisAvailable)('migrating from connect-redis', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  for (const kind of STORE_KINDS.filter((k) => k.available)) {
    it(`moves live sessions to the bridge on ${kind.name}: the same cookie stays logged in`, async () => {
      const redis = new Redis(REDIS_URL);
      const prefix = `${uniquePrefix()}sess:`;
      cleanups.push(async () => {
        await deleteKeys(REDIS_URL, prefix);
        redis.disconnect();
      });

      // Before: express-session + connect-redis, two users logged in.
      const old = await serveApp(new RedisStore({ client: redis, prefix }));
      const oldUrl = `http://127.0.0.1:${(old.address() as AddressInfo).port}`;
      const [ann, bob] = [new Browser(oldUrl), new Browser(oldUrl)];
      await ann.json('POST', '/login?user=ann');
      await ann.json('POST', '/set?key=draft&value=42');
      await bob.json('POST', '/login?user=bob');
      await close(old);

      // The move: every connect-redis session, copied with store.set under its own sid.
      const place = await kind.place();
      cleanups.push(() => place.dispose());
      const app: RunningApp = await startApp(() => place.open());
      cleanups.push(() => app.close());
      const set = promisify(app.store.set.bind(app.store));
      let cursor = '0';
      let moved = 0;
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
        cursor = next;
        for (const key of keys) {
          const json = await redis.get(key);
          if (json) {
            await set(key.slice(prefix.length), JSON.parse(json));
            moved++;
          }
        }
      } while (cursor !== '0');
      expect(moved).toBe(2);

      // After: the same browsers, same cookies, on the bridge.
      ann.baseUrl = app.url;
      bob.baseUrl = app.url;
      expect(await ann.me()).toEqual({ userId: 'ann', draft: '42' });
      expect(await bob.me()).toEqual({ userId: 'bob' });
      expect(await app.store.listUserSessions('ann')).toHaveLength(1);
      expect(await app.store.revokeUser('bob')).toBe(1);
      expect(await bob.me()).toEqual({});
    });
  }
});

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
