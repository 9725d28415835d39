// The URL grammars only (no ioredis, no pg): store URLs are checked at start-up before anything
// connects.
import { parsePostgresUrl } from '@sessionkeeper/postgres/internal/connection-url';
import { parseRedisUrl } from '@sessionkeeper/redis/internal/connection-url';
import { ValidationError } from 'sessionkeeper/internal/errors';
import type { SessionStore } from 'sessionkeeper/internal/store';

/** Where sessions live, as chosen by a `--store` URL. `location` never holds a password. */
export type StoreSpec =
  | { kind: 'sqlite'; path: string; location: string }
  | { kind: 'memory'; location: string }
  | { kind: 'redis'; url: string; location: string; keyPrefix?: string }
  | { kind: 'postgres'; url: string; location: string; schema?: string };

export const DEFAULT_STORE_URL = 'sqlite:./data/sessionkeeper.db';

const EXPECTED =
  'expected sqlite:<path>, postgres://…, redis://…, rediss://…, redis+cluster://host:port,host:port or memory:';
const REDIS_SCHEME = /^rediss?(\+(cluster|sentinel))?:/i;
const POSTGRES_SCHEME = /^postgres(ql)?:/i;

/**
 * Reads a store URL: `sqlite:<path>` (also `sqlite://<path>`), `memory:`, a PostgreSQL URL
 * (`postgres://`, `postgresql://`, with `?sslmode=`), or any URL the Redis store takes
 * (`redis://`, `rediss://`, `redis+cluster://`, `redis+sentinel://`, TLS variants).
 * Throws `ValidationError('store', …)` for anything else; opens nothing.
 */
export function parseStoreUrl(text: string): StoreSpec {
  if (/^sqlite:/i.test(text)) {
    const path = text.slice('sqlite:'.length).replace(/^\/\//, '');
    if (path.trim() === '') throw new ValidationError('store', `has no file path; ${EXPECTED}`);
    return { kind: 'sqlite', path, location: `sqlite:${path}` };
  }
  if (/^memory:$/i.test(text)) return { kind: 'memory', location: 'memory:' };
  if (REDIS_SCHEME.test(text)) {
    try {
      return { kind: 'redis', url: text, location: parseRedisUrl(text).location };
    } catch (error) {
      if (error instanceof ValidationError)
        throw new ValidationError('store', error.message.replace(/^url: /, ''));
      throw error;
    }
  }
  if (POSTGRES_SCHEME.test(text)) {
    try {
      return { kind: 'postgres', url: text, location: parsePostgresUrl(text).location };
    } catch (error) {
      if (error instanceof ValidationError)
        throw new ValidationError('store', error.message.replace(/^url: /, ''));
      throw error;
    }
  }
  throw new ValidationError('store', EXPECTED);
}

/**
 * Opens the store a spec names. Each leaf is imported only when chosen, so a SQLite deployment
 * never loads ioredis or pg and a Redis one never loads better-sqlite3.
 */
export async function openStore(spec: StoreSpec): Promise<SessionStore> {
  switch (spec.kind) {
    case 'sqlite': {
      const { createSqliteStore } = await import('sessionkeeper/sqlite');
      return createSqliteStore({ path: spec.path });
    }
    case 'memory': {
      const { createMemoryStore } = await import('sessionkeeper/memory');
      return createMemoryStore();
    }
    case 'redis': {
      const { createRedisStore } = await import('@sessionkeeper/redis');
      return createRedisStore({
        url: spec.url,
        ...(spec.keyPrefix === undefined ? {} : { keyPrefix: spec.keyPrefix }),
      });
    }
    case 'postgres': {
      const { createPostgresStore } = await import('@sessionkeeper/postgres');
      return createPostgresStore({
        url: spec.url,
        ...(spec.schema === undefined ? {} : { schema: spec.schema }),
      });
    }
  }
}
