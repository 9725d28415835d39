/**
 * The one registry of failures. Every error class carries a `code` from here; every code maps to one
 * RFC 9457 problem slug, one docs entry (docs/errors.md) and one `/problems/{slug}` page.
 * A test fails when a code lacks its docs entry or the docs name a code that is not here.
 */

/** What a client should do next after receiving the problem. */
export type ProblemAction = 'refresh' | 'reauthenticate' | 'retry' | 'fix-request';

export interface ProblemDefinition {
  readonly slug: string;
  readonly status: number;
  readonly title: string;
  readonly action: ProblemAction;
  /** One sentence: what happened. */
  readonly meaning: string;
  /** One sentence: what the caller does about it. */
  readonly remedy: string;
}

export const problemRegistry = {
  SESSION_EXPIRED: {
    slug: 'session-expired',
    status: 401,
    title: 'Session expired',
    action: 'reauthenticate',
    meaning: 'The session saw no activity for its whole idle timeout and has ended.',
    remedy:
      'Sign in again. To prevent it, keep the session alive while the user works (renew, leases).',
  },
  SESSION_LIFETIME_EXCEEDED: {
    slug: 'session-lifetime-exceeded',
    status: 401,
    title: 'Session lifetime exceeded',
    action: 'reauthenticate',
    meaning: 'The session reached its absolute lifetime, which activity does not extend.',
    remedy: 'Sign in again to start a new session.',
  },
  SESSION_REVOKED: {
    slug: 'session-revoked',
    status: 401,
    title: 'Session revoked',
    action: 'reauthenticate',
    meaning: 'The session was ended on purpose (logout, admin action, eviction or token theft).',
    remedy: 'Sign in again; the `detail` says why it was revoked.',
  },
  SESSION_NOT_FOUND: {
    slug: 'session-not-found',
    status: 401,
    title: 'Session not found',
    action: 'reauthenticate',
    meaning: 'No session with this id exists: it never existed or was purged after it ended.',
    remedy: 'Sign in again (clients with silent re-authentication do this for you).',
  },
  INVALID_TOKEN: {
    slug: 'invalid-token',
    status: 401,
    title: 'Invalid token',
    action: 'reauthenticate',
    meaning: 'The token is malformed, truncated, or its secret does not match the session.',
    remedy: 'Discard the token and sign in again.',
  },
  ACCESS_TOKEN_EXPIRED: {
    slug: 'access-token-expired',
    status: 401,
    title: 'Access token expired',
    action: 'refresh',
    meaning: 'The short-lived access token is past its expiry; the session may still be alive.',
    remedy: 'Call the refresh endpoint with the refresh token and retry the request.',
  },
  REFRESH_TOKEN_REUSED: {
    slug: 'refresh-token-reused',
    status: 401,
    title: 'Refresh token reused',
    action: 'reauthenticate',
    meaning:
      'A rotated refresh token came back after its replacement was used (outside the grace window), or an older one came back; the session was revoked as a precaution against theft.',
    remedy: 'Sign in again. Make sure only one place holds and spends each refresh token.',
  },
  CSRF_REJECTED: {
    slug: 'csrf-rejected',
    status: 403,
    title: 'Cross-site request refused',
    action: 'fix-request',
    meaning:
      'A state-changing request authenticated by the session cookie came from another site (or lacked the CSRF token), so it was refused.',
    remedy:
      'Send the request from the application’s own pages; with the double-submit option, copy the CSRF cookie into the X-CSRF-Token header.',
  },
  UNAUTHORIZED: {
    slug: 'unauthorized',
    status: 401,
    title: 'Unauthorized',
    action: 'fix-request',
    meaning: 'The request carries no credentials, or credentials this endpoint does not accept.',
    remedy:
      'Send the API key (backend calls) or the session token (session calls) as a Bearer token.',
  },
  VALIDATION_FAILED: {
    slug: 'validation-failed',
    status: 400,
    title: 'Validation failed',
    action: 'fix-request',
    meaning: 'An argument or request field is missing, of the wrong type, or out of range.',
    remedy: 'Fix the field named in `detail` (and `field`) and send the request again.',
  },
  NOT_FOUND: {
    slug: 'not-found',
    status: 404,
    title: 'Not found',
    action: 'fix-request',
    meaning: 'The addressed resource does not exist.',
    remedy: 'Check the path and identifiers.',
  },
  PAYLOAD_TOO_LARGE: {
    slug: 'payload-too-large',
    status: 413,
    title: 'Payload too large',
    action: 'fix-request',
    meaning: 'The request body or the session data is larger than the configured limit.',
    remedy: 'Send less data; keep large objects elsewhere and store a reference in the session.',
  },
  RATE_LIMITED: {
    slug: 'rate-limited',
    status: 429,
    title: 'Rate limited',
    action: 'retry',
    meaning: 'Too many failed attempts came from this client in a short time.',
    remedy: 'Wait for the number of seconds in Retry-After, then retry.',
  },
  SESSION_LIMIT_REACHED: {
    slug: 'session-limit-reached',
    status: 409,
    title: 'Session limit reached',
    action: 'fix-request',
    meaning:
      'The subject (or the whole service) already holds the maximum number of sessions and the policy is to refuse new ones.',
    remedy: 'End one of the existing sessions (log out elsewhere) and try again.',
  },
  UNSUPPORTED_MEDIA_TYPE: {
    slug: 'unsupported-media-type',
    status: 415,
    title: 'Unsupported media type',
    action: 'fix-request',
    meaning: 'The request body is in a media type this endpoint does not read.',
    remedy: 'Send the body as JSON with Content-Type: application/json.',
  },
  METHOD_NOT_ALLOWED: {
    slug: 'method-not-allowed',
    status: 405,
    title: 'Method not allowed',
    action: 'fix-request',
    meaning: 'The path exists, but not with this HTTP method.',
    remedy: 'Use one of the methods the Allow header lists.',
  },
  REQUEST_HEADER_FIELDS_TOO_LARGE: {
    slug: 'request-header-fields-too-large',
    status: 431,
    title: 'Request header fields too large',
    action: 'fix-request',
    meaning:
      'The request line and headers together are larger than the server reads (16 KiB by default), so the request was not read at all.',
    remedy:
      'Send smaller headers: usually too many or too large cookies for this host, or an overlong URL.',
  },
  INTERNAL_ERROR: {
    slug: 'internal-error',
    status: 500,
    title: 'Internal error',
    action: 'retry',
    meaning:
      'The service failed in a way it did not expect; this is a bug and was logged with the request id.',
    remedy: 'Retry; if it persists, report the requestId to the operators.',
  },
  STORE_UNAVAILABLE: {
    slug: 'store-unavailable',
    status: 503,
    title: 'Session store unavailable',
    action: 'retry',
    meaning:
      'The session store (SQLite file or Redis) cannot be reached right now; no session was lost.',
    remedy: 'Retry after Retry-After seconds. Do not log the user out.',
  },
  UPSTREAM_SESSION_EXPIRED: {
    slug: 'upstream-session-expired',
    status: 502,
    title: 'Upstream session expired',
    action: 'retry',
    meaning:
      'A session the pool keeps with an upstream site was found logged out (an expiry page, a 401, a redirect to its login); the pool normally retires it and reruns the operation without the caller seeing this.',
    remedy:
      'Retry. Outside `pool.use` (a kind used on its own), log the upstream session in again.',
  },
  UPSTREAM_KEPT_EXPIRING: {
    slug: 'upstream-kept-expiring',
    status: 502,
    title: 'Upstream kept expiring sessions',
    action: 'retry',
    meaning:
      'The operation found its upstream session expired on every attempt (fresh logins included) and gave up after its maximum number of attempts; other operations are not affected.',
    remedy:
      'Retry later. If it persists, the operation itself may be logging the session out, or the upstream rejects fresh logins: check the detectors and the login.',
  },
  UPSTREAM_UNAVAILABLE: {
    slug: 'upstream-unavailable',
    status: 503,
    title: 'Upstream unavailable',
    action: 'retry',
    meaning:
      'Logins with the upstream site keep failing, so the pool stopped trying for a while (its circuit breaker is open); no session could be made for the operation.',
    remedy: 'Retry after Retry-After seconds, once the upstream is reachable again.',
  },
  POOL_TIMEOUT: {
    slug: 'pool-timeout',
    status: 503,
    title: 'No upstream session in time',
    action: 'retry',
    meaning:
      'Every upstream session for this account stayed busy (or could not be made) for the whole wait the caller allowed.',
    remedy:
      'Retry after Retry-After seconds; if it happens often, raise the pool’s sessionsPerKey, maxSessions or acquireTimeoutSeconds.',
  },
  POOL_CLOSED: {
    slug: 'pool-closed',
    status: 503,
    title: 'Pool closed',
    action: 'retry',
    meaning:
      'The upstream session pool was shut down (the service is stopping) before it could serve the operation.',
    remedy: 'Retry against a running instance of the service.',
  },
} as const satisfies Record<string, ProblemDefinition>;

export type ErrorCode = keyof typeof problemRegistry;

export const errorCodes = Object.keys(problemRegistry) as ErrorCode[];

/** Finds the code whose problem has this slug. */
export function codeForSlug(slug: string): ErrorCode | undefined {
  return errorCodes.find((code) => problemRegistry[code].slug === slug);
}
