import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisStore } from '../../packages/redis/src/index.js';
import { deleteKeys, REDIS_URL, redisAvailable, uniquePrefix } from '../redis/redis-env.js';
import { type FuzzTarget, fuzzHttpApi, startTarget } from './http-fuzz.js';

describe.skipIf(!redisAvailable)('HTTP API fuzz on Redis', () => {
  const keyPrefix = uniquePrefix();
  let target: FuzzTarget;

  beforeAll(async () => {
    target = await startTarget(await createRedisStore({ url: REDIS_URL, keyPrefix }));
  });
  afterAll(async () => {
    await target?.close();
    await deleteKeys(REDIS_URL, keyPrefix);
  });

  it('answers every generated request with a documented success or a registry problem, within 2 s', async () => {
    const { runs } = await fuzzHttpApi(target);
    console.info(`fuzz: ${runs} generated requests answered as promised`);
    expect(runs).toBeGreaterThan(50);
  }, 45_000);
});
