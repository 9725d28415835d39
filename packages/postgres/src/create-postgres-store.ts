import pg from 'pg';
import { StoreUnavailableError, ValidationError } from 'sessionkeeper/internal/errors';
import { checkSchemaName, parsePostgresUrl } from './connection-url.js';
import { EventWatcher } from './event-watcher.js';
import { migrate } from './migrations.js';
import { PostgresStore } from './postgres-store.js';
import { toStoreError } from './store-errors.js';

export interface PostgresStoreOptions {
  /**
   * Where PostgreSQL is: `postgres://[user[:password]@]host[:port]/database[?sslmode=…]` (or
   * `postgresql://`); sslmode is `disable` (default), `require`, `verify-ca` or `verify-full`.
   * The password never appears in `location`, logs or errors.
   */
  url?: string;
  /**
   * A node-postgres pool to use instead of `url`; the store does not end it. Give it an `error`
   * listener (an idle connection that drops emits one) and a `statement_timeout`.
   */
  pool?: pg.Pool;
  /** The schema holding the store's tables, created and migrated at start. Default `sessionkeeper`. */
  schema?: string;
  /**
   * Limit for each store call, pool wait included; past it the call rejects with
   * StoreUnavailableError (503 `store-unavailable`) and its connection is dropped. Default 1500,
   * which keeps requests to a hung database within the documented two seconds.
   */
  callTimeoutMs?: number;
  /**
   * The server-side `statement_timeout` of the store's connections, so one slow statement cannot
   * hold a connection (and the validations queued behind it). Default 1000.
   */
  statementTimeoutMs?: number;
  /** Limit for connecting and migrating at start. Default 5000. */
  connectTimeoutMs?: number;
  /** Connections in the pool the store makes. Default 10. */
  poolSize?: number;
  /**
   * LISTEN for appended events on one extra connection so event delivery wakes at once in every
   * instance (polling remains the fallback). Default true.
   */
  listen?: boolean;
}

export const DEFAULT_SCHEMA = 'sessionkeeper';
const DEFAULT_CALL_TIMEOUT_MS = 1500;
const DEFAULT_STATEMENT_TIMEOUT_MS = 1000;
const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
const DEFAULT_POOL_SIZE = 10;
/**
 * The server ends a transaction left open this long: a client that vanished mid-transaction
 * (network cut, process frozen) then cannot hold row or advisory locks for longer.
 */
const IDLE_IN_TRANSACTION_TIMEOUT_MS = 5000;

function milliseconds(field: string, value: unknown, fallback: number): number {
  const ms = value ?? fallback;
  if (typeof ms !== 'number' || !Number.isInteger(ms) || ms <= 0 || ms > 2 ** 31 - 1) {
    throw new ValidationError(
      field,
      `must be a positive integer number of milliseconds, got ${String(value)}`,
    );
  }
  return ms;
}

/**
 * Connects to PostgreSQL, migrates the schema (once, whatever the number of instances starting)
 * and returns the store. Rejects with `ValidationError` naming the setting for a bad option, and
 * with `StoreUnavailableError` naming the host (never the password) when PostgreSQL cannot be
 * reached or the schema is from a newer sessionkeeper.
 */
export async function createPostgresStore(
  options: string | PostgresStoreOptions,
): Promise<PostgresStore> {
  const settings: PostgresStoreOptions = typeof options === 'string' ? { url: options } : options;
  if (typeof settings !== 'object' || settings === null) {
    throw new ValidationError('options', 'must be a PostgreSQL URL or an object with url or pool');
  }
  const schema = checkSchemaName(settings.schema ?? DEFAULT_SCHEMA);
  const callTimeoutMs = milliseconds(
    'callTimeoutMs',
    settings.callTimeoutMs,
    DEFAULT_CALL_TIMEOUT_MS,
  );
  const statementTimeoutMs = milliseconds(
    'statementTimeoutMs',
    settings.statementTimeoutMs,
    DEFAULT_STATEMENT_TIMEOUT_MS,
  );
  const connectTimeoutMs = milliseconds(
    'connectTimeoutMs',
    settings.connectTimeoutMs,
    DEFAULT_CONNECT_TIMEOUT_MS,
  );
  const poolSize = settings.poolSize ?? DEFAULT_POOL_SIZE;
  if (!Number.isInteger(poolSize) || poolSize < 1 || poolSize > 1000) {
    throw new ValidationError(
      'poolSize',
      `must be an integer from 1 to 1000, got ${String(poolSize)}`,
    );
  }
  if (settings.listen !== undefined && typeof settings.listen !== 'boolean') {
    throw new ValidationError('listen', 'must be true or false');
  }
  if (settings.url !== undefined && settings.pool !== undefined) {
    throw new ValidationError('url', 'give either url or pool, not both');
  }

  let pool: pg.Pool;
  let location: string;
  let config: pg.ClientConfig;
  const ownsPool = settings.pool === undefined;
  if (settings.pool) {
    pool = settings.pool;
    config = { ...pool.options };
    location = poolLocation(config);
  } else if (settings.url !== undefined) {
    const url = parsePostgresUrl(settings.url);
    location = url.location;
    config = {
      host: url.host,
      port: url.port,
      database: url.database,
      user: url.user,
      password: url.password,
      ssl: url.ssl,
      statement_timeout: statementTimeoutMs,
      idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_TIMEOUT_MS,
      connectionTimeoutMillis: callTimeoutMs,
      keepAlive: true,
      application_name: 'sessionkeeper',
    };
    pool = new pg.Pool({ ...config, max: poolSize, idleTimeoutMillis: 30_000 });
    // An idle connection that drops emits here; without a listener Node would exit. The next
    // call opens a new connection (or fails with StoreUnavailableError).
    pool.on('error', () => {});
  } else {
    throw new ValidationError('url', 'give a PostgreSQL URL (postgres://…) or a pg Pool');
  }

  try {
    await withTimeout(
      (async () => {
        const client = await pool.connect();
        try {
          await migrate(client, schema, location);
          client.release();
        } catch (error) {
          client.release(error instanceof Error ? error : true);
          throw error;
        }
      })(),
      connectTimeoutMs,
      () =>
        new StoreUnavailableError(
          `PostgreSQL at ${location} did not answer within ${connectTimeoutMs} ms`,
        ),
    );
  } catch (error) {
    if (ownsPool) await pool.end().catch(() => {});
    const mapped = toStoreError(error, location);
    if (mapped instanceof StoreUnavailableError || mapped instanceof ValidationError) throw mapped;
    throw new StoreUnavailableError(
      `PostgreSQL at ${location} could not be prepared: ${mapped instanceof Error ? mapped.message : String(mapped)}`,
      { cause: error },
    );
  }
  const watcher = settings.listen === false ? null : new EventWatcher(config, schema);
  return new PostgresStore({ pool, ownsPool, schema, location, callTimeoutMs, watcher });
}

/** Where a caller's pool points, for logs and errors: its settings without the password. */
function poolLocation(config: pg.ClientConfig): string {
  let { host = 'localhost', port = 5432, database = '', user } = config;
  if (config.connectionString) {
    try {
      const url = new URL(config.connectionString);
      host = url.hostname || host;
      port = url.port ? Number(url.port) : port;
      database = decodeURIComponent(url.pathname.replace(/^\//, '')) || database;
      user = url.username ? decodeURIComponent(url.username) : user;
    } catch {
      // Not a URL (a libpq key=value string): the separate settings are all there is to show.
    }
  }
  return `postgres://${user ? `${encodeURIComponent(user)}@` : ''}${host}:${port}/${database}`;
}

async function withTimeout<T>(work: Promise<T>, ms: number, error: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  work.catch(() => {});
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(error()), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
