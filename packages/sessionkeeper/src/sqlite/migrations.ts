import type Database from 'better-sqlite3';
import { StoreUnavailableError } from '../core/errors.js';

export interface Migration {
  /** The `user_version` the database has once this migration ran: 1, 2, 3… in order. */
  readonly version: number;
  readonly description: string;
  readonly up: (db: Database.Database) => void;
}

/**
 * The schema, as an ordered list of steps. Append new steps; never edit a released one, since
 * files in the field already ran it.
 */
export const migrations: readonly Migration[] = [
  {
    version: 1,
    description: 'sessions and the event outbox',
    up: (db) =>
      db.exec(`
        CREATE TABLE sessions (
          -- Insertion order: breaks ties (eviction, sweep order) as the reference store does.
          seq INTEGER PRIMARY KEY,
          id TEXT NOT NULL UNIQUE,
          subject TEXT NOT NULL,
          secret_hash TEXT NOT NULL,
          data TEXT NOT NULL,
          created_at INTEGER NOT NULL,
          last_active_at INTEGER NOT NULL,
          idle_timeout_seconds REAL NOT NULL,
          absolute_expires_at INTEGER NOT NULL,
          leases TEXT,
          expires_at INTEGER NOT NULL,
          status TEXT NOT NULL CHECK (status IN ('active', 'expired', 'revoked')),
          end_reason TEXT,
          ended_at INTEGER
        );
        -- The sweeper and countActive/global caps: active sessions by deadline.
        CREATE INDEX sessions_active_by_expiry ON sessions (expires_at) WHERE status = 'active';
        -- Per-subject caps, revokeSubject and list (newest first by created_at, id). Not partial
        -- on status: ending a session then leaves this index alone, which keeps sweep commits small
        -- (subjects are scattered, so each removal would dirty a different page).
        CREATE INDEX sessions_by_subject ON sessions (subject, created_at, id);
        -- Purging tombstones.
        CREATE INDEX sessions_ended_by_time ON sessions (ended_at) WHERE status <> 'active';

        CREATE TABLE events (
          seq INTEGER PRIMARY KEY,
          id TEXT NOT NULL UNIQUE,
          type TEXT NOT NULL,
          at INTEGER NOT NULL,
          reason TEXT,
          session TEXT NOT NULL,
          attempts INTEGER NOT NULL DEFAULT 0,
          claimed_at INTEGER
        );
        -- Claiming: unclaimed events in order, and claims whose lease ran out.
        CREATE INDEX events_by_claim ON events (claimed_at, seq);
      `),
  },
  {
    version: 2,
    description: 'refresh-token state on sessions, and the signing keyring',
    // ADD COLUMN only rewrites the schema, not the rows: existing sessions read back with all four
    // NULL, i.e. without a refresh family. Columns (not one JSON blob) so a rotation updates in place.
    up: (db) =>
      db.exec(`
        ALTER TABLE sessions ADD COLUMN refresh_hash TEXT;
        ALTER TABLE sessions ADD COLUMN refresh_previous_hash TEXT;
        ALTER TABLE sessions ADD COLUMN refresh_nonce TEXT;
        ALTER TABLE sessions ADD COLUMN refresh_rotated_at INTEGER;

        -- One document for the whole file; the CHECK keeps it a single row.
        CREATE TABLE keyring (
          id INTEGER PRIMARY KEY CHECK (id = 1),
          version INTEGER NOT NULL,
          json TEXT NOT NULL
        );
      `),
  },
  {
    version: 3,
    description: 'consumer groups: each group its own position and claims over the outbox',
    // The outbox is rebuilt with an AUTOINCREMENT seq: groups' cursors are positions in it, and a
    // plain rowid would be handed out again once the newest events are deleted, behind cursors.
    // Events already in the outbox keep their order, and every group starts at position 0. So
    // that the first group to claim after the upgrade (say the service's webhooks) does not
    // delete them before the app's listeners come, the default group is registered here when
    // there are any: they then wait for it (or for the group retention). The old per-event claim
    // columns (attempts, claimed_at) are dropped: a group's claims say it now.
    up: (db) => {
      db.exec(`
        CREATE TABLE events_v3 (
          seq INTEGER PRIMARY KEY AUTOINCREMENT,
          id TEXT NOT NULL UNIQUE,
          type TEXT NOT NULL,
          at INTEGER NOT NULL,
          reason TEXT,
          session TEXT NOT NULL
        );
        INSERT INTO events_v3 (seq, id, type, at, reason, session)
          SELECT seq, id, type, at, reason, session FROM events ORDER BY seq;
        DROP TABLE events;
        ALTER TABLE events_v3 RENAME TO events;
        -- cursor: the highest events.seq the group has claimed; seen_at: its last claim (ms).
        CREATE TABLE event_groups (
          name TEXT PRIMARY KEY,
          cursor INTEGER NOT NULL,
          seen_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        -- Events a group holds and has not acknowledged; claimable again once until <= now.
        CREATE TABLE event_claims (
          group_name TEXT NOT NULL,
          seq INTEGER NOT NULL,
          until INTEGER NOT NULL,
          attempts INTEGER NOT NULL,
          PRIMARY KEY (group_name, seq)
        ) WITHOUT ROWID;
        CREATE INDEX event_claims_due ON event_claims (group_name, until);
      `);
      db.prepare(
        `INSERT INTO event_groups (name, cursor, seen_at)
         SELECT 'default', 0, ? WHERE EXISTS (SELECT 1 FROM events)`,
      ).run(Date.now());
    },
  },
  {
    version: 4,
    description: 'refresh-token history: previous nonce, ancestors, commit time',
    // One JSON column, NULL for families that never rotated since: read back as no ancestors and
    // a commit time equal to the rotation time (see session-rows.ts).
    up: (db) => db.exec('ALTER TABLE sessions ADD COLUMN refresh_history TEXT;'),
  },
];

export const LATEST_SCHEMA_VERSION = migrations.length;

/**
 * Brings the file to `LATEST_SCHEMA_VERSION` in one IMMEDIATE transaction, so processes opening a
 * new file at once migrate it exactly once. A file from a newer sessionkeeper is refused, never
 * downgraded or used.
 */
export function migrate(db: Database.Database, path: string): void {
  if (refuseNewerSchema(db, path) === LATEST_SCHEMA_VERSION) return;
  db.transaction(() => {
    // Read again under the write lock: another process may have migrated meanwhile.
    const from = refuseNewerSchema(db, path);
    for (const migration of migrations) {
      if (migration.version > from) migration.up(db);
    }
    db.pragma(`user_version = ${LATEST_SCHEMA_VERSION}`);
  }).immediate();
}

/** The file's schema version; throws `StoreUnavailableError` if it is newer than this code. */
export function refuseNewerSchema(db: Database.Database, path: string): number {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > LATEST_SCHEMA_VERSION) {
    throw new StoreUnavailableError(
      `SQLite file ${path} has schema version ${version}, but this version of sessionkeeper knows only versions up to ${LATEST_SCHEMA_VERSION}: it was written by a newer sessionkeeper. Upgrade sessionkeeper or use another file; the file was not changed.`,
    );
  }
  return version;
}
