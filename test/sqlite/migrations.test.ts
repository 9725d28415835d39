import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createSessionEngine } from '../../packages/sessionkeeper/src/core/engine.js';
import {
  StoreUnavailableError,
  ValidationError,
} from '../../packages/sessionkeeper/src/core/errors.js';
import {
  formatSessionToken,
  generateSecret,
  hashSecret,
} from '../../packages/sessionkeeper/src/core/token.js';
import { createSqliteStore } from '../../packages/sessionkeeper/src/sqlite/index.js';
import {
  LATEST_SCHEMA_VERSION,
  migrations,
} from '../../packages/sessionkeeper/src/sqlite/migrations.js';
import { buildRecord } from './fixtures/records.js';
import { withTempDir } from './temp-dir.js';

const tempPath = withTempDir('migrations');

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
      expect(tables).toEqual([
        'event_claims',
        'event_groups',
        'events',
        'keyring',
        'sessions',
        'sqlite_sequence',
      ]);
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

  it('upgrades a version-1 file in place: its sessions still validate, its events are kept', async () => {
    const path = tempPath('v1.db');
    const nowMs = Date.now();
    const secret = generateSecret();
    const old = { ...buildRecord('old-user', nowMs), secretHash: hashSecret(secret) };
    const { secretHash: _secretHash, refresh: _refresh, ...v1Snapshot } = old;
    // The file as sessionkeeper wrote it before refresh tokens: schema 1, rows in its columns.
    const v1 = new Database(path);
    v1.pragma('journal_mode = WAL');
    v1.transaction(() => {
      migrations[0]?.up(v1);
      v1.pragma('user_version = 1');
    })();
    v1.prepare(
      `INSERT INTO sessions (id, subject, secret_hash, data, created_at, last_active_at,
         idle_timeout_seconds, absolute_expires_at, leases, expires_at, status, end_reason, ended_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, 'active', NULL, NULL)`,
    ).run(
      old.id,
      old.subject,
      old.secretHash,
      old.dataJson,
      old.createdAtMs,
      old.lastActiveAtMs,
      old.idleTimeoutSeconds,
      old.absoluteExpiresAtMs,
      old.expiresAtMs,
    );
    v1.prepare(
      `INSERT INTO events (id, type, at, reason, session) VALUES ('v1-event', 'created', ?, NULL, ?)`,
    ).run(nowMs, JSON.stringify(v1Snapshot));
    v1.close();

    const store = createSqliteStore({ path });
    inspect(path, (db) => {
      expect(db.pragma('user_version', { simple: true })).toBe(LATEST_SCHEMA_VERSION);
      const columns = db
        .prepare<[string], string>('SELECT name FROM pragma_table_info(?)')
        .pluck()
        .all('sessions');
      expect(columns).toEqual(
        expect.arrayContaining([
          'refresh_hash',
          'refresh_previous_hash',
          'refresh_nonce',
          'refresh_rotated_at',
        ]),
      );
    });
    expect(await store.get(old.id)).toEqual({ ...old, refresh: null });
    expect(await store.loadKeyring()).toBeNull();
    const engine = await createSessionEngine({
      store,
      background: false,
      logger: pino({ level: 'silent' }),
    });
    try {
      const result = await engine.validate(formatSessionToken(old.id, secret));
      expect(result.ok).toBe(true);
      if (result.ok) {
        expect(result.session.subject).toBe('old-user');
        expect(result.session.status).toBe('active');
      }
      const events = await store.claimEvents(nowMs, 100, 60_000);
      expect(events).toEqual([
        {
          id: 'v1-event',
          type: 'created',
          atMs: nowMs,
          reason: null,
          session: v1Snapshot,
          attempts: 0,
        },
      ]);
      // The upgraded file takes new sessions with refresh families alongside the old ones.
      const fresh = buildRecord('new-user', nowMs, { refreshHash: 'first-refresh-hash' });
      await store.create(fresh, {}, nowMs);
      expect(await store.get(fresh.id)).toEqual(fresh);
      const next = { hash: 'second-refresh-hash', nonce: 'n' };
      const outcome = await store.rotateRefresh(fresh.id, 'first-refresh-hash', next, nowMs, 1000);
      expect(outcome.kind).toBe('rotated');
    } finally {
      await engine.close();
    }
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
