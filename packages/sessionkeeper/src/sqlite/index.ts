export type { SqliteStoreOptions } from './options.js';
export { SqliteStore } from './sqlite-store.js';

import type { SqliteStoreOptions } from './options.js';
import { SqliteStore } from './sqlite-store.js';

/**
 * Opens (creating and migrating if needed) the SQLite file at `options.path`. Synchronous; throws
 * `StoreUnavailableError` naming the path when the file cannot be opened or is from a newer
 * sessionkeeper, and `ValidationError` for a bad option (`:memory:` included).
 */
export function createSqliteStore(options: SqliteStoreOptions): SqliteStore {
  return new SqliteStore(options);
}
