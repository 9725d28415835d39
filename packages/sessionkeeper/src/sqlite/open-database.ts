import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type Database from 'better-sqlite3';
import { StoreUnavailableError } from '../core/errors.js';
import { requirePeer } from '../core/optional-peer.js';
import { migrate, refuseNewerSchema } from './migrations.js';
import type { SqliteStoreOptions } from './options.js';
import { toStoreError } from './sqlite-errors.js';

// better-sqlite3 is an optional peer: an app on Redis never builds it. Loading it here, at import,
// makes a missing install fail at once, naming the package.
const BetterSqlite3 = requirePeer<typeof Database>(
  'better-sqlite3',
  'sessionkeeper/sqlite (the default SQLite store)',
  import.meta.url,
);

const WAL_AUTOCHECKPOINT_PAGES = 256;
const PAGE_CACHE_KIB = 64 * 1024;

/**
 * Opens (creating if needed) and migrates the file. Throws `StoreUnavailableError` naming the path
 * when it cannot be opened, written or understood; never falls back to anything else.
 */
export function openDatabase({
  path,
  busyTimeoutMs,
}: Required<Omit<SqliteStoreOptions, 'clock'>>): Database.Database {
  let db: Database.Database | undefined;
  try {
    ensureDirectory(dirname(path));
    // `timeout` is SQLite's busy_timeout, set before the first statement so even the journal-mode
    // switch and the migration wait for other processes instead of failing.
    db = new BetterSqlite3(path, { timeout: busyTimeoutMs });
    refuseNewerSchema(db, path); // before anything below writes to a file we will not use
    // WAL: readers never wait for the writer, so validations proceed during sweeps. With WAL,
    // synchronous = NORMAL still makes every committed transaction survive a crash or SIGKILL of
    // the process (the commit is in the WAL in the OS page cache before COMMIT returns); only an
    // OS crash or power loss can lose the last few commits. FULL would fsync on every commit.
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') {
      throw new StoreUnavailableError(
        `SQLite store ${path} cannot use write-ahead logging (journal mode stayed "${String(mode)}"); put the file on a local file system`,
      );
    }
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON'); // none yet; enforced once a migration adds one
    // Up to 64 MiB of pages cached in the process (SQLite's default is 2 MiB): validation reads
    // random sessions, and the 100k-session benchmark validated ~8% faster with it.
    db.pragma(`cache_size = -${PAGE_CACHE_KIB}`);
    // The commit that fills the WAL past this many pages copies them back into the database,
    // synchronously. SQLite's default (1000 pages) stalled the event loop ~20 ms during a large
    // sweep; 256 pages (1 MiB) keeps each such stall at a few ms.
    db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
    migrate(db, path);
    return db;
  } catch (error) {
    db?.close();
    throw toStoreError(error, path);
  }
}

/**
 * `mkdir -p` one level at a time. Node's `mkdirSync(…, { recursive: true })` spins forever when
 * the kernel answers ENOENT for a directory whose parent exists (e.g. under /proc).
 */
function ensureDirectory(dir: string): void {
  const missing: string[] = [];
  for (let d = resolve(dir); !existsSync(d) && dirname(d) !== d; d = dirname(d)) missing.unshift(d);
  for (const d of missing) {
    try {
      mkdirSync(d);
    } catch (error) {
      // Another process may have created it meanwhile; anything else is a real failure.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(d).isDirectory()) {
        throw error;
      }
    }
  }
}
