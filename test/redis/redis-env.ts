import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';

/** The shared Redis the integration tests use. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** In CI a missing Redis fails the run; elsewhere the Redis tests skip. */
export const IN_CI = Boolean(process.env.CI);

async function answers(url: string): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 1000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
    return true;
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

function binaryRuns(name: string): boolean {
  return spawnSync(name, ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Whether the shared Redis answers; in CI, throws when it does not. */
export const redisAvailable = await answers(REDIS_URL);
if (!redisAvailable && IN_CI) {
  throw new Error(`CI is set but no Redis answers at ${REDIS_URL}; the Redis tests must run in CI`);
}

/** Whether `redis-server` and `redis-cli` can be started; in CI, throws when they cannot. */
export const redisBinariesAvailable = binaryRuns('redis-server') && binaryRuns('redis-cli');
if (!redisBinariesAvailable && IN_CI) {
  throw new Error('CI is set but redis-server/redis-cli are not installed');
}

/** A key prefix of its own for one test. */
export function uniquePrefix(): string {
  return `skt:${randomBytes(5).toString('hex')}:`;
}

/** Deletes every key under `prefix` with SCAN (never KEYS), on every master of a cluster. */
export async function deleteKeys(url: string | string[], prefix: string): Promise<number> {
  const urls = Array.isArray(url) ? url : [url];
  let deleted = 0;
  for (const nodeUrl of urls) {
    const client = new Redis(nodeUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    client.on('error', () => {});
    try {
      await client.connect();
      let cursor = '0';
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        // One UNLINK per key: on a cluster node the keys of one SCAN page span many slots.
        for (const key of keys) deleted += await client.unlink(key);
      } while (cursor !== '0');
    } catch (error) {
      // A replica or a node that left answers with READONLY/MOVED; its masters are cleaned instead.
      if (!(error instanceof Error) || error.name !== 'ReplyError') throw error;
    } finally {
      client.disconnect();
    }
  }
  return deleted;
}

/** Counts keys under `prefix` with SCAN. */
export async function countKeys(client: Redis | Cluster, prefix: string): Promise<number> {
  const nodes = client instanceof Cluster ? client.nodes('master') : [client];
  let count = 0;
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      count += keys.length;
    } while (cursor !== '0');
  }
  return count;
}
