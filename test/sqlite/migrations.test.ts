import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { StoreUnavailableError, ValidationError } from '../../src/core/errors.js';
import { createSqliteStore } from '../../src/sqlite/index.js';
import { LATEST_SCHEMA_VERSION, migrations } from '../../src/sqlite/migrations.js';
import { buildRecord } from './fixtures/records.js';
import { useTempDir } from './temp-dir.js';

const tempPath = useTempDir('migrations');

function inspect<T>(path: string, read: (db: Database.Database) => T): T {
  const db = new Database(path, { readonly: true });
  try {
    return read(db);
  } finally {
    db.close();
  }
}

function openError(path: string): unknown {
  try {
    createSqliteStore({ path });
  } catch (error) {
    return error;
  }
  throw new Error(`opening ${path} did not fail`);
}

describe('sqlite schema and opening', () => {
  it('numbers migrations 1, 2, 3… in order', () => {
    expect(migrations.map((m) => m.version)).toEqual(
      Array.from({ length: migrations.length }, (_, i) => i + 1),
    );
    expect(LATEST_SCHEMA_VERSION).toBe(migrations.length);
  });

  it('gives a fresh file the latest schema version, in WAL mode, creating its directory', async () => {
    const path = tempPath('nested/dir/fresh.db');
    const store = createSqliteStore({ path });
    expect(store.location).toBe(`sqlite:${path}`);
    expect(store.durable).toBe(true);
    await store.ping();
    await store.close();
    inspect(path, (db) => {
      expect(db.pragma('user_version', { simple: true })).toBe(LATEST_SCHEMA_VERSION);
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      const tables = db
        .prepare<[], string>("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        .pluck()
        .all();
      expect(tables).toEqual(['events', 'sessions']);
    });
  });

  it('reopens a file at the latest version without migrating again, keeping its sessions', async () => {
    const path = tempPath('reopen.db');
    const record = buildRecord('u', Date.now());
    const first = createSqliteStore({ path });
    await first.create(record, {}, record.createdAtMs);
    await first.close();
    const second = createSqliteStore({ path });
    expect(await second.get(record.id)).toEqual(record);
    await second.close();
  });

  it('refuses a file written by a newer version, says so, and leaves it unchanged', () => {
    const path = tempPath('newer.db');
    const db = new Database(path);
    db.pragma(`user_version = ${LATEST_SCHEMA_VERSION + 1}`);
    db.close();
    const error = openError(path);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    const message = (error as Error).message;
    expect(message).toContain(path);
    expect(message).toContain(`schema version ${LATEST_SCHEMA_VERSION + 1}`);
    expect(message).toMatch(/newer sessionkeeper/);
    inspect(path, (check) => {
      expect(check.pragma('user_version', { simple: true })).toBe(LATEST_SCHEMA_VERSION + 1);
      expect(check.pragma('journal_mode', { simple: true })).toBe('delete');
    });
  });

  it('gives StoreUnavailableError naming the path when the file cannot be created or opened', () => {
    const blocker = tempPath('a-file');
    writeFileSync(blocker, 'not a directory');
    const directory = tempPath('a-directory');
    mkdirSync(directory);
    const notSqlite = tempPath('not-sqlite.db');
    writeFileSync(notSqlite, 'x'.repeat(4096));
    // Under a regular file (the directory cannot be created), a directory, a file that is not
    // SQLite, and under /proc (where Node's recursive mkdir used to spin forever). Permission bits
    // are not tried: tests may run as root, which ignores them.
    const paths = [`${blocker}/sessions.db`, directory, notSqlite];
    if (existsSync('/proc/self')) paths.push('/proc/sessionkeeper-test/sessions.db');
    for (const path of paths) {
      const error = openError(path);
      expect(error, path).toBeInstanceOf(StoreUnavailableError);
      expect((error as Error).message, path).toContain(path);
    }
  });

  it('refuses an in-memory database and bad options with a ValidationError naming the option', () => {
    for (const [options, field] of [
      [{ path: ':memory:' }, 'path'],
      [{ path: '' }, 'path'],
      [{ path: tempPath('x.db'), busyTimeoutMs: -1 }, 'busyTimeoutMs'],
      [{ path: tempPath('x.db'), busyTimeoutMs: 1.5 }, 'busyTimeoutMs'],
    ] as const) {
      const error = (() => {
        try {
          createSqliteStore(options);
        } catch (e) {
          return e;
        }
      })();
      expect(error, JSON.stringify(options)).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field).toBe(field);
    }
    expect(() => createSqliteStore({ path: ':memory:' })).toThrow(/loses every session/);
  });
});
