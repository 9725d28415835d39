import { StoreUnavailableError } from '../core/errors.js';

/**
 * SQLite result codes (base codes; extended ones like SQLITE_IOERR_WRITE share the prefix) that
 * mean the file cannot be used right now, with what to tell the operator.
 */
const UNAVAILABLE: Record<string, string> = {
  SQLITE_BUSY: 'another process held the database lock longer than the busy timeout',
  SQLITE_LOCKED: 'the database is locked',
  SQLITE_IOERR: 'an I/O error occurred reading or writing the file',
  SQLITE_CANTOPEN: 'the file cannot be opened (check that the path is a file and is writable)',
  SQLITE_FULL: 'the disk is full',
  SQLITE_READONLY: 'the file or its directory is read-only',
  SQLITE_PERM: 'permission denied',
  SQLITE_CORRUPT: 'the file is corrupt',
  SQLITE_NOTADB: 'the file is not an SQLite database',
  SQLITE_PROTOCOL: 'the locking protocol failed',
  SQLITE_NOLFS: 'the file system does not support large files',
};

/** Errno codes from creating the parent directory (or from the OS under SQLite). */
const FILE_SYSTEM = /^E[A-Z]+$/;

/**
 * The one place driver errors are classified: I/O-class failures become `StoreUnavailableError`
 * naming the file; anything else (constraint violations, SQL mistakes) is a bug and is returned
 * unchanged for the caller to rethrow.
 */
export function toStoreError(error: unknown, path: string): unknown {
  if (error instanceof StoreUnavailableError || !(error instanceof Error)) return error;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string') return error;
  const base = code.startsWith('SQLITE_') ? code.split('_', 2).join('_') : code;
  const why = UNAVAILABLE[base] ?? (FILE_SYSTEM.test(code) ? error.message : undefined);
  if (why === undefined) return error;
  return new StoreUnavailableError(`SQLite store ${path} is unavailable: ${why} (${code})`, {
    cause: error,
  });
}
