export type { RedisAddress, RedisUrl } from './connection-url.js';
export { parseRedisUrl } from './connection-url.js';
export type { RedisStoreOptions } from './create-redis-store.js';
export { createRedisStore } from './create-redis-store.js';
export type { RedisClient } from './lua-scripts.js';
export { RedisStore } from './redis-store.js';
