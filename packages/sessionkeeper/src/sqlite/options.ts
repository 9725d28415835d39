import type { Clock } from '../core/clock.js';
import { ValidationError } from '../core/errors.js';

// Kept apart from open-database.ts: this module's declarations are public and must not mention
// better-sqlite3's types, which a consumer without @types/better-sqlite3 cannot resolve.

export interface SqliteStoreOptions {
  /** The database file; its directory is created if missing. `:memory:` is refused. */
  path: string;
  /** How long a write waits for another process's write lock before failing. Default 5000. */
  busyTimeoutMs?: number;
  /**
   * The store's own clock, read inside the write transaction: the refresh grace window runs on
   * it (see RefreshState). Default: the process clock.
   */
  clock?: Clock;
}

export const DEFAULT_BUSY_TIMEOUT_MS = 5000;

export function checkOptions(
  options: SqliteStoreOptions,
): Required<Omit<SqliteStoreOptions, 'clock'>> {
  if (typeof options !== 'object' || options === null) {
    throw new ValidationError('options', 'must be an object with a path');
  }
  const { path, busyTimeoutMs = DEFAULT_BUSY_TIMEOUT_MS } = options;
  if (typeof path !== 'string' || path.trim() === '') {
    throw new ValidationError('path', 'must be the path of the SQLite database file');
  }
  if (path === ':memory:' || path.startsWith('file::memory:')) {
    throw new ValidationError(
      'path',
      'an in-memory SQLite database loses every session when the process ends; give a file path, or choose the memory store (sessionkeeper/memory) explicitly for tests',
    );
  }
  if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0 || busyTimeoutMs > 2 ** 31 - 1) {
    throw new ValidationError(
      'busyTimeoutMs',
      `must be an integer number of milliseconds >= 0, got ${String(busyTimeoutMs)}`,
    );
  }
  return { path, busyTimeoutMs };
}
