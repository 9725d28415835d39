import { type ErrorCode, type ProblemAction, problemRegistry } from './problems.js';

/**
 * Base of every error sessionkeeper throws or returns. Check with `instanceof` or `code`, never by
 * message text. `message` is the problem's specific `detail`.
 */
export class SessionkeeperError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, detail: string, options?: { cause?: unknown }) {
    super(detail, options);
    this.code = code;
    this.name = new.target.name;
  }

  get slug(): string {
    return problemRegistry[this.code].slug;
  }
  get status(): number {
    return problemRegistry[this.code].status;
  }
  get action(): ProblemAction {
    return problemRegistry[this.code].action;
  }
  get detail(): string {
    return this.message;
  }
}

/** A programmer or request error: an argument is missing, mistyped or out of range. */
export class ValidationError extends SessionkeeperError {
  /** Dotted path of the offending argument, e.g. `data.profile.avatar` or `idleTimeoutSeconds`. */
  readonly field: string;
  constructor(field: string, detail: string) {
    super('VALIDATION_FAILED', `${field}: ${detail}`);
    this.field = field;
  }
}

/** Session data over the configured size limit. */
export class PayloadTooLargeError extends SessionkeeperError {
  readonly field: string;
  readonly limitBytes: number;
  constructor(field: string, sizeBytes: number, limitBytes: number) {
    super(
      'PAYLOAD_TOO_LARGE',
      `${field} is ${sizeBytes} bytes as JSON; the limit is ${limitBytes} bytes`,
    );
    this.field = field;
    this.limitBytes = limitBytes;
  }
}

/** The store cannot be reached. Nothing was changed; callers retry, they do not log anyone out. */
export class StoreUnavailableError extends SessionkeeperError {
  /** Seconds a client should wait before retrying. */
  readonly retryAfterSeconds: number;
  constructor(detail: string, options?: { cause?: unknown; retryAfterSeconds?: number }) {
    super('STORE_UNAVAILABLE', detail, options);
    this.retryAfterSeconds = options?.retryAfterSeconds ?? 1;
  }
}

export type LimitScope = 'subject' | 'global';

/**
 * A request that carries no credentials (or none of the kind the route accepts). Problem
 * `unauthorized`; its WWW-Authenticate names no error, as RFC 6750 section 3.1 asks.
 */
export class CredentialsMissingError extends SessionkeeperError {
  constructor(detail: string) {
    super('UNAUTHORIZED', detail);
  }
}

/** A cookie-authenticated, state-changing request that failed the CSRF check (403). */
export class CsrfRejectedError extends SessionkeeperError {
  constructor(detail: string) {
    super('CSRF_REJECTED', detail);
  }
}

/** A new session was refused because a cap with the `refuse` policy is reached. */
export class SessionLimitReachedError extends SessionkeeperError {
  readonly scope: LimitScope;
  readonly max: number;
  constructor(scope: LimitScope, max: number, subject: string) {
    super(
      'SESSION_LIMIT_REACHED',
      scope === 'subject'
        ? `Subject "${subject}" already has ${max} active sessions, the per-subject maximum; new sessions are refused until one ends`
        : `The service already holds ${max} active sessions, the global maximum; new sessions are refused until one ends`,
    );
    this.scope = scope;
    this.max = max;
  }
}

/** Why a presented session token was not accepted. */
export type InvalidReason =
  | 'malformed'
  | 'not-found'
  | 'idle-expired'
  | 'lifetime-exceeded'
  | 'revoked'
  | 'access-token-expired'
  | 'refresh-token-reused';

/**
 * A session token that does not grant access. Returned (not thrown) by `validate()`; the
 * subclasses tell the reasons apart and each maps to its own problem slug.
 */
export abstract class SessionInvalidError extends SessionkeeperError {
  abstract readonly reason: InvalidReason;
  /** The session id, when the token named one. Ids are public; secrets never appear here. */
  readonly sessionId: string | undefined;
  constructor(code: ErrorCode, detail: string, sessionId: string | undefined) {
    super(code, detail);
    this.sessionId = sessionId;
  }
}

export class InvalidTokenError extends SessionInvalidError {
  readonly reason = 'malformed' as const;
  constructor(detail: string, sessionId?: string) {
    super('INVALID_TOKEN', detail, sessionId);
  }
}

export class SessionNotFoundError extends SessionInvalidError {
  readonly reason = 'not-found' as const;
  constructor(sessionId: string) {
    super(
      'SESSION_NOT_FOUND',
      `No session with id ${sessionId} exists; it never existed or was purged after it ended`,
      sessionId,
    );
  }
}

export class SessionExpiredError extends SessionInvalidError {
  readonly reason = 'idle-expired' as const;
  readonly lastActiveAt: Date;
  readonly expiredAt: Date;
  constructor(sessionId: string, idleTimeoutSeconds: number, lastActiveAt: Date, expiredAt: Date) {
    super(
      'SESSION_EXPIRED',
      `Session expired after ${formatDuration(idleTimeoutSeconds)} of inactivity; last activity at ${isoSeconds(lastActiveAt)}`,
      sessionId,
    );
    this.lastActiveAt = lastActiveAt;
    this.expiredAt = expiredAt;
  }
}

export class SessionLifetimeExceededError extends SessionInvalidError {
  readonly reason = 'lifetime-exceeded' as const;
  readonly expiredAt: Date;
  constructor(sessionId: string, lifetimeSeconds: number, createdAt: Date, expiredAt: Date) {
    super(
      'SESSION_LIFETIME_EXCEEDED',
      `Session reached its maximum lifetime of ${formatDuration(lifetimeSeconds)} at ${isoSeconds(expiredAt)} (created at ${isoSeconds(createdAt)}); activity does not extend it`,
      sessionId,
    );
    this.expiredAt = expiredAt;
  }
}

export class SessionRevokedError extends SessionInvalidError {
  readonly reason = 'revoked' as const;
  /** Why it was revoked: `logout`, `evicted`, `refresh-token-reused`, `admin` or an app's own word. */
  readonly revokedReason: string;
  readonly revokedAt: Date;
  constructor(sessionId: string, revokedReason: string, revokedAt: Date) {
    super(
      'SESSION_REVOKED',
      `Session was revoked at ${isoSeconds(revokedAt)} (reason: ${revokedReason})`,
      sessionId,
    );
    this.revokedReason = revokedReason;
    this.revokedAt = revokedAt;
  }
}

/** A well-signed access token past its `exp` (clock tolerance included): refresh, then retry. */
export class AccessTokenExpiredError extends SessionInvalidError {
  readonly reason = 'access-token-expired' as const;
  readonly expiredAt: Date;
  constructor(sessionId: string | undefined, expiredAt: Date) {
    super(
      'ACCESS_TOKEN_EXPIRED',
      `The access token expired at ${isoSeconds(expiredAt)}; refresh it with the refresh token`,
      sessionId,
    );
    this.expiredAt = expiredAt;
  }
}

/**
 * A rotated refresh token came back after the token that replaced it was used, outside the grace
 * window (or an older ancestor came back): its session is now revoked. `rotatedAt` is the
 * session's latest rotation.
 */
export class RefreshTokenReusedError extends SessionInvalidError {
  readonly reason = 'refresh-token-reused' as const;
  readonly rotatedAt: Date;
  constructor(sessionId: string, rotatedAt: Date, graceSeconds: number) {
    super(
      'REFRESH_TOKEN_REUSED',
      `This refresh token was already exchanged, and the token that replaced it was used too (latest rotation at ${isoSeconds(rotatedAt)}; grace window ${formatDuration(graceSeconds)}); session ${sessionId} was revoked in case the token was stolen`,
      sessionId,
    );
    this.rotatedAt = rotatedAt;
  }
}

/**
 * An upstream session (kept by `@sessionkeeper/pool`) was found logged out. Thrown by a session's
 * observed requests; `pool.use` catches it, replaces the session and reruns the operation, so
 * callers of the pool normally never see it.
 */
export class UpstreamSessionExpiredError extends SessionkeeperError {
  /** The pool key (account) of the session. */
  readonly key: string;
  /** Machine-readable cause from the detector, e.g. `status-401`, `login-redirect`, `text-marker`. */
  readonly reason: string;
  /** What the detector saw, e.g. the marker phrase or the login path. Never a cookie or token. */
  readonly reasonDetail: string | undefined;
  constructor(key: string, reason: string, reasonDetail?: string) {
    super(
      'UPSTREAM_SESSION_EXPIRED',
      `The upstream session for "${key}" is logged out (${reason}${reasonDetail ? `: ${reasonDetail}` : ''})`,
    );
    this.key = key;
    this.reason = reason;
    this.reasonDetail = reasonDetail;
  }
}

/** `pool.use` found the session expired on every one of its attempts and gave up. */
export class UpstreamKeptExpiringError extends SessionkeeperError {
  readonly key: string;
  readonly attempts: number;
  /** The detector reason of the last expiry seen. */
  readonly lastReason: string;
  constructor(key: string, attempts: number, lastReason: string) {
    super(
      'UPSTREAM_KEPT_EXPIRING',
      `The upstream kept expiring sessions for "${key}": the operation met an expired session on all ${attempts} attempts (last: ${lastReason})`,
    );
    this.key = key;
    this.attempts = attempts;
    this.lastReason = lastReason;
  }
}

/** No upstream session could be made: logins keep failing and the pool's circuit breaker is open. */
export class UpstreamUnavailableError extends SessionkeeperError {
  readonly key: string;
  /** Seconds until the pool tries to log in again. */
  readonly retryAfterSeconds: number;
  constructor(key: string, retryAfterSeconds: number, options?: { cause?: unknown }) {
    super(
      'UPSTREAM_UNAVAILABLE',
      `No upstream session for "${key}": logins keep failing, the next attempt is in ${formatDuration(roundUp(retryAfterSeconds))}`,
      options,
    );
    this.key = key;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** The caller waited its whole timeout for an upstream session of `key`. */
export class PoolTimeoutError extends SessionkeeperError {
  readonly key: string;
  readonly timeoutSeconds: number;
  readonly retryAfterSeconds = 1;
  constructor(key: string, timeoutSeconds: number, options?: { cause?: unknown }) {
    super(
      'POOL_TIMEOUT',
      `No upstream session for "${key}" became free within ${formatDuration(timeoutSeconds)}`,
      options,
    );
    this.key = key;
    this.timeoutSeconds = timeoutSeconds;
  }
}

/** The pool was closed before it could serve the operation. */
export class PoolClosedError extends SessionkeeperError {
  constructor(key: string) {
    super(
      'POOL_CLOSED',
      `The upstream session pool is closed; the operation for "${key}" did not run`,
    );
  }
}

function roundUp(seconds: number): number {
  return seconds >= 1 ? Math.ceil(seconds) : Math.max(0.1, Math.ceil(seconds * 10) / 10);
}

/** `2026-01-15T10:00:00Z`: second precision reads better in messages than milliseconds. */
export function isoSeconds(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

/** 1800 -> "30 minutes", 5400 -> "1 hour 30 minutes", 1.5 -> "1.5 seconds". */
export function formatDuration(seconds: number): string {
  if (seconds < 60 || !Number.isInteger(seconds)) return plural(seconds, 'second');
  const parts: string[] = [];
  const units: [number, string][] = [
    [86400, 'day'],
    [3600, 'hour'],
    [60, 'minute'],
    [1, 'second'],
  ];
  let rest = seconds;
  for (const [size, name] of units) {
    const count = Math.floor(rest / size);
    if (count > 0) parts.push(plural(count, name));
    rest -= count * size;
  }
  return parts.join(' ');
}

function plural(count: number, unit: string): string {
  return `${count} ${unit}${count === 1 ? '' : 's'}`;
}
