import { afterAll, afterEach, describe, it } from 'vitest';
import { createRedisStore } from '../../packages/redis/src/index.js';
import { describeStoreConformance } from '../../packages/sessionkeeper/src/testing/index.js';
import { deleteKeys, REDIS_URL, redisAvailable, uniquePrefix } from '../redis/redis-env.js';

// Each test gets its own key prefix under this run's prefix; cleanup removes them with SCAN.
const runPrefix = uniquePrefix();
let n = 0;

describe.skipIf(!redisAvailable)('redis standalone', () => {
  describeStoreConformance(
    `redis (${REDIS_URL})`,
    {
      create: () => createRedisStore({ url: REDIS_URL, keyPrefix: `${runPrefix}${++n}:` }),
      cleanup: async () => {
        await deleteKeys(REDIS_URL, runPrefix);
      },
    },
    { describe, it, afterEach, afterAll },
  );
});
