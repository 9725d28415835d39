import { StoreUnavailableError, ValidationError } from 'sessionkeeper/internal/errors';

/**
 * Redis reply errors that mean "not now" rather than "wrong": the server is loading, busy,
 * failing over or out of memory. Redis puts these codes at the start of the message; there is no
 * other place to read them from.
 */
const UNAVAILABLE_REPLY_CODES = new Set([
  'LOADING',
  'BUSY',
  'MASTERDOWN',
  'CLUSTERDOWN',
  'TRYAGAIN',
  'READONLY',
  'NOREPLICAS',
  'OOM',
  'NOAUTH',
  'WRONGPASS',
]);

export function replyErrorCode(error: unknown): string | null {
  if (!(error instanceof Error) || error.name !== 'ReplyError') return null;
  return error.message.split(' ', 1)[0] ?? null;
}

/**
 * Maps whatever a Redis call threw. Reply errors with other codes (a script error, a wrong type)
 * are bugs and pass through unchanged. Every other failure comes from the connection — refused,
 * closed, timed out, offline, cluster not ready — and becomes a `StoreUnavailableError`: callers
 * retry; nothing falls back.
 */
export function toStoreError(error: unknown, location: string): Error {
  const code = replyErrorCode(error);
  if (code !== null && !UNAVAILABLE_REPLY_CODES.has(code)) {
    return error instanceof Error ? error : new Error(String(error));
  }
  const reason = error instanceof Error ? error.message : String(error);
  return new StoreUnavailableError(`The session store at ${location} is unavailable: ${reason}`, {
    cause: error,
  });
}

/** Negative return codes of the Lua scripts (see each script's header). */
const SCRIPT_FAILURES: Record<number, (about: string) => Error> = {
  [-1]: (id) => new ValidationError('id', `a session with id ${id} already exists`),
};

/**
 * The one place where a script's negative return code becomes an error. `about` names what the
 * call was about (a session id) for the message.
 */
export function scriptFailure(code: number, about: string): Error {
  const make = SCRIPT_FAILURES[code];
  return make ? make(about) : new Error(`Redis script returned unknown code ${code}`);
}
