import { StoreUnavailableError, ValidationError } from 'sessionkeeper/internal/errors';

/**
 * SQLSTATE classes and codes that mean "not now" rather than "wrong": the connection, the
 * server's resources or state (shutting down, starting, a read-only standby after a failover), a
 * timeout, or a conflict worth retrying. Anything else from the server (a syntax error, a
 * constraint) is a bug and passes through unchanged.
 */
const UNAVAILABLE_CLASSES = new Set(['08', '53', '57', '58', '28', '3D', '40', '55', 'XX']);
const UNAVAILABLE_CODES = new Set(['25006']); // read_only_sql_transaction: a standby answered

const SQLSTATE = /^[0-9A-Z]{5}$/;

/** Node's socket errors (ECONNREFUSED, ECONNRESET, ETIMEDOUT…). */
const ERRNO = /^E[A-Z]+$/;

/** Messages node-postgres gives failures of the connection itself (they carry no code). */
const CONNECTION_MESSAGES =
  /Connection terminated|connection error|not queryable|timeout exceeded when trying to connect|Query read timeout|Client was closed|Cannot use a pool after calling end|self.signed|certificate|The server does not support SSL/i;

export function isUnavailable(error: unknown): boolean {
  if (error instanceof StoreUnavailableError) return true;
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && SQLSTATE.test(code)) {
    return UNAVAILABLE_CODES.has(code) || UNAVAILABLE_CLASSES.has(code.slice(0, 2));
  }
  if (typeof code === 'string' && ERRNO.test(code)) return true;
  return CONNECTION_MESSAGES.test(error.message);
}

/** The one place driver errors are classified (see `isUnavailable`). */
export function toStoreError(error: unknown, location: string): unknown {
  if (error instanceof StoreUnavailableError || error instanceof ValidationError) return error;
  if (!isUnavailable(error)) return error;
  const reason = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown }).code;
  return new StoreUnavailableError(
    `The session store at ${location} is unavailable: ${reason}${typeof code === 'string' ? ` (${code})` : ''}`,
    { cause: error },
  );
}
