import { afterAll, afterEach, describe, it } from 'vitest';
import { createRedisStore } from '../../packages/redis/src/index.js';
import { describeStoreConformance } from '../../packages/sessionkeeper/src/testing/index.js';
import { type RedisClusterProcess, startRedisCluster } from '../redis/cluster.js';
import { redisBinariesAvailable, uniquePrefix } from '../redis/redis-env.js';

// A real 3-master cluster from the redis-server binary, started once for the suite and stopped after.
let cluster: Promise<RedisClusterProcess> | undefined;
const runPrefix = uniquePrefix();
let n = 0;

describe.skipIf(!redisBinariesAvailable)('redis cluster', () => {
  describeStoreConformance(
    'redis cluster (3 masters)',
    {
      create: async () => {
        cluster ??= startRedisCluster();
        return createRedisStore({
          url: (await cluster).clusterUrl,
          keyPrefix: `${runPrefix}${++n}:`,
        });
      },
      cleanup: async () => {
        await (await cluster)?.stop();
      },
    },
    { describe, it, afterEach, afterAll },
  );
});
