// The upstream could not be reached in the middle of a session's work (connection refused or
// reset, no answer in time). It is the same failure as a login that cannot reach the upstream,
// so the caller gets the same typed error (`upstream-unavailable`, 503, Retry-After) with the
// low-level error as its cause, never undici's or Chromium's raw error.
import { UpstreamUnavailableError } from 'sessionkeeper/internal/errors';

/** Seconds a caller is told to wait after a connection failure while the breaker stays closed. */
export const UNREACHABLE_RETRY_AFTER_SECONDS = 1;

export class UpstreamUnreachableError extends UpstreamUnavailableError {
  constructor(key: string, retryAfterSeconds: number, cause: unknown) {
    super(key, retryAfterSeconds, { cause });
    this.name = 'UpstreamUnreachableError';
    // The base message speaks of failing logins; this one says what happened.
    this.message = `The upstream of "${key}" could not be reached (${describe(cause)}); retry in ${Math.ceil(retryAfterSeconds)} s`;
  }
}

/** Node's and undici's codes for an upstream that cannot be reached or stopped answering. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

/** Whether `error` (or one of its causes) is a failure to reach the upstream. */
export function isConnectionFailure(error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
    if (e.name === 'TimeoutError') return true;
  }
  return false;
}

/** Chromium's net errors that mean the site cannot be reached (as `page.goto` reports them). */
const BROWSER_NET_ERROR =
  /net::ERR_(CONNECTION_(REFUSED|RESET|CLOSED|ABORTED|FAILED|TIMED_OUT)|ADDRESS_UNREACHABLE|NAME_NOT_RESOLVED|INTERNET_DISCONNECTED|TIMED_OUT|EMPTY_RESPONSE|NETWORK_CHANGED)\b/;

/** Whether a Playwright navigation error says the site cannot be reached. */
export function isBrowserConnectionFailure(error: unknown): boolean {
  return error instanceof Error && BROWSER_NET_ERROR.test(error.message);
}

function describe(cause: unknown): string {
  if (!(cause instanceof Error)) return String(cause);
  const code = (cause as { code?: unknown }).code;
  return typeof code === 'string' ? `${code}: ${cause.message}` : cause.message;
}
