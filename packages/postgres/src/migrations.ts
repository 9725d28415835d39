import type { PoolClient } from 'pg';
import { StoreUnavailableError } from 'sessionkeeper/internal/errors';

export interface Migration {
  /** The schema version once this migration ran: 1, 2, 3… in order. */
  readonly version: number;
  readonly description: string;
  /** SQL run in the migration transaction; `S` is the quoted schema name. */
  readonly sql: (S: string) => string;
}

/**
 * The schema, as an ordered list of steps. Append new steps; never edit a released one, since
 * databases in the field already ran it. Instants are `double precision` epoch milliseconds: they
 * hold exactly what the engine computed (fractions included) and read back as JS numbers.
 */
export const migrations: readonly Migration[] = [
  {
    version: 1,
    description: 'sessions, the event outbox with consumer groups, and the signing keyring',
    sql: (S) => `
      CREATE TABLE ${S}.sessions (
        id text PRIMARY KEY,
        -- Insertion order: breaks ties (eviction, sweep order) as the reference store does.
        seq bigint GENERATED ALWAYS AS IDENTITY,
        subject text NOT NULL,
        secret_hash text NOT NULL,
        data text NOT NULL,
        created_at double precision NOT NULL,
        last_active_at double precision NOT NULL,
        idle_timeout_seconds double precision NOT NULL,
        absolute_expires_at double precision NOT NULL,
        -- JSON object, NULL when there are none (the common case).
        leases text,
        expires_at double precision NOT NULL,
        status text NOT NULL CHECK (status IN ('active', 'expired', 'revoked')),
        end_reason text,
        ended_at double precision,
        -- The refresh family; all NULL for sessions without tokens.
        refresh_hash text,
        refresh_previous_hash text,
        refresh_nonce text,
        refresh_rotated_at double precision,
        refresh_previous_nonce text,
        refresh_ancestors text[],
        -- When the last rotation committed, on the database's clock (the grace window runs on it).
        refresh_committed_at double precision
      );
      -- The sweeper and countActive/global caps: active sessions by deadline.
      CREATE INDEX sessions_active_by_expiry ON ${S}.sessions (expires_at) WHERE status = 'active';
      -- Per-subject caps, revokeSubject and list (newest first by created_at, id).
      CREATE INDEX sessions_by_subject ON ${S}.sessions (subject, created_at, id);
      -- Purging tombstones.
      CREATE INDEX sessions_ended_by_time ON ${S}.sessions (ended_at) WHERE status <> 'active';

      -- The outbox. seq is the insertion order; pos the position consumer groups read by. pos is
      -- given (by claimEvents, one claimer at a time) only to committed events, so positions
      -- become visible in increasing order and a group's cursor never passes an event that an
      -- open transaction is still writing.
      CREATE SEQUENCE ${S}.events_pos;
      CREATE TABLE ${S}.events (
        id text PRIMARY KEY,
        seq bigint GENERATED ALWAYS AS IDENTITY,
        pos bigint,
        type text NOT NULL,
        at double precision NOT NULL,
        reason text,
        session text NOT NULL
      );
      -- Few indexes: every change writes an event. Positioned events by position (claims,
      -- deletion); unpositioned ones in insertion order (the positioner).
      CREATE UNIQUE INDEX events_by_pos ON ${S}.events (pos) WHERE pos IS NOT NULL;
      CREATE INDEX events_unpositioned ON ${S}.events (seq) WHERE pos IS NULL;
      -- cursor: the highest events.pos the group has claimed; seen_at: its last claim (ms).
      CREATE TABLE ${S}.event_groups (
        name text PRIMARY KEY,
        cursor bigint NOT NULL,
        seen_at double precision NOT NULL
      );
      -- Events a group holds and has not acknowledged; claimable again once until <= now.
      CREATE TABLE ${S}.event_claims (
        group_name text NOT NULL,
        pos bigint NOT NULL,
        until double precision NOT NULL,
        attempts integer NOT NULL,
        PRIMARY KEY (group_name, pos)
      );
      CREATE INDEX event_claims_due ON ${S}.event_claims (group_name, until);

      -- One document for the whole schema; the CHECK keeps it a single row.
      CREATE TABLE ${S}.keyring (
        id integer PRIMARY KEY CHECK (id = 1),
        version integer NOT NULL,
        json text NOT NULL
      );
    `,
  },
];

export const LATEST_SCHEMA_VERSION = migrations.length;

/** The NOTIFY channel stores announce appended events on (the payload is the schema name). */
export const EVENTS_CHANNEL = 'sessionkeeper_events';

function newerSchemaError(
  location: string,
  schema: string,
  version: number,
): StoreUnavailableError {
  return new StoreUnavailableError(
    `PostgreSQL schema "${schema}" at ${location} has schema version ${version}, but this version of sessionkeeper knows only versions up to ${LATEST_SCHEMA_VERSION}: it was written by a newer sessionkeeper. Upgrade sessionkeeper or use another schema; nothing was changed.`,
  );
}

async function currentVersion(client: PoolClient, schema: string): Promise<number> {
  // pg_tables, not to_regclass: a catalog read with this statement's snapshot sees a table
  // another instance created and committed while this one waited for the lock.
  const exists = await client.query(
    `SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = $1 AND tablename = 'schema_migrations'`,
    [schema],
  );
  if (exists.rowCount === 0) return 0;
  const result = await client.query<{ v: number | null }>(
    `SELECT max(version) AS v FROM "${schema}".schema_migrations`,
  );
  return result.rows[0]?.v ?? 0;
}

/**
 * Brings `schema` to `LATEST_SCHEMA_VERSION` in one transaction under a transaction-level
 * advisory lock on the schema's name, so instances starting at once migrate exactly once (the
 * others wait, then find it done). A schema from a newer sessionkeeper is refused, never used.
 */
export async function migrate(client: PoolClient, schema: string, location: string): Promise<void> {
  const S = `"${schema}"`;
  const before = await currentVersion(client, schema);
  if (before > LATEST_SCHEMA_VERSION) throw newerSchemaError(location, schema, before);
  if (before === LATEST_SCHEMA_VERSION) return;
  await client.query('BEGIN');
  try {
    // Waiting for another instance's migration may take longer than one statement may; the
    // caller bounds the whole start-up (connectTimeoutMs).
    await client.query('SET LOCAL statement_timeout = 0');
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1), 0)', [
      `sessionkeeper:migrate:${schema}`,
    ]);
    // Read again under the lock: another instance may have migrated meanwhile.
    const from = await currentVersion(client, schema);
    if (from > LATEST_SCHEMA_VERSION) throw newerSchemaError(location, schema, from);
    if (from === 0) {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${S}`);
      await client.query(
        `CREATE TABLE ${S}.schema_migrations (
           version integer PRIMARY KEY,
           description text NOT NULL,
           applied_at timestamptz NOT NULL DEFAULT now()
         )`,
      );
    }
    for (const migration of migrations) {
      if (migration.version <= from) continue;
      await client.query(migration.sql(S));
      await client.query(
        `INSERT INTO ${S}.schema_migrations (version, description) VALUES ($1, $2)`,
        [migration.version, migration.description],
      );
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}
