import type { Logger } from 'pino';
import type { Clock } from './clock.js';
import { ValidationError } from './errors.js';
import { checkOneOf, checkPositiveInteger, checkSeconds, checkSubject } from './input.js';
import type { CreateLimits, LimitPolicy, SessionStore } from './store.js';

export interface LimitOptions {
  max: number;
  /** `evict` (default): end the least recently active session to make room. `refuse`: fail the new one. */
  policy?: LimitPolicy;
}

export interface SessionEngineOptions {
  /** Where sessions live. Default: SQLite at `./data/sessionkeeper.db`. */
  store?: SessionStore;
  /** Idle timeout: a session ends after this many seconds without activity. Default 1800 (30 min). */
  idleTimeoutSeconds?: number;
  /** Absolute lifetime: a session ends this many seconds after creation, whatever its activity. Default 86400 (24 h). */
  absoluteTimeoutSeconds?: number;
  /**
   * Activity is written to the store at most once per this many seconds per session (default 60),
   * and never less often than a tenth of the session's idle timeout. This is the precision of idle
   * expiry: a session may end up to this long before `last use + idle timeout`, never after.
   */
  touchIntervalSeconds?: number;
  /** Largest session data, as JSON bytes. Default 16384. */
  maxDataBytes?: number;
  /** Session caps; none by default. */
  limits?: { perSubject?: LimitOptions; global?: LimitOptions };
  /** How long ended sessions stay readable (validation says "expired"/"revoked", not "not found"). Default 86400. */
  tombstoneRetentionSeconds?: number;
  /** How often the sweeper looks for expired sessions. Default 30. */
  sweepIntervalSeconds?: number;
  /** Sessions per sweep batch; each batch is one short store transaction. Default 500. */
  sweepBatchSize?: number;
  /** How often events written by other instances (or left by a crash) are picked up. Default 1. */
  eventPollIntervalSeconds?: number;
  /** A claimed event not acknowledged within this many seconds is delivered again. Default 30. */
  eventLeaseSeconds?: number;
  /** Deliveries of an event whose listener keeps failing, before it is dropped with an error log. Default 10. */
  maxEventAttempts?: number;
  /**
   * A consumer group that claims nothing for this many seconds (every instance of it stopped) is
   * forgotten by the sweeper: the outbox stops keeping events for it, and if it comes back it
   * starts with what the outbox still holds. Within it, a group catches up on every event it
   * missed. Default 86400 (24 h).
   */
  eventGroupRetentionSeconds?: number;
  /** Runs the sweeper and event delivery on timers (unref'd). Default true; tests call `sweep()` / `deliverEvents()`. */
  background?: boolean;
  /** Access and refresh tokens. */
  tokens?: TokenOptions;
  clock?: Clock;
  /** A pino logger. Default: pino at `SESSIONKEEPER_LOG_LEVEL` (info). Tokens are never logged. */
  logger?: Logger;
}

export interface TokenOptions {
  /** The `iss` of access tokens. Default `sessionkeeper`. */
  issuer?: string;
  /** The `aud` of access tokens. Default `sessionkeeper`. */
  audience?: string;
  /** Access-token lifetime. Default 900 (15 min); never past the session's absolute deadline. */
  accessTokenTtlSeconds?: number;
  /**
   * A rotated refresh token presented again gets the same successor pair for as long as that
   * successor is unused, whatever the time. Once the successor was used, the rotated token still
   * gets the current pair for this many seconds after that rotation committed (measured on the
   * store's clock); after it, the session is revoked as stolen. Default 15. See docs/tokens.md.
   */
  refreshGraceSeconds?: number;
  /**
   * Leeway when checking `exp`, `nbf` and `iat`, for clocks that disagree. Default 30; each
   * token gets at most a tenth of its lifetime (`exp - iat`).
   */
  clockToleranceSeconds?: number;
  /** How long each signing key signs before its successor (published 10 min ahead) takes over. Default 2592000 (30 days). */
  keyRotationIntervalSeconds?: number;
  /**
   * Encrypts private signing keys at rest in the store (AES-256-GCM; at least 32 characters).
   * Default: none, and keys are stored in clear (the store is then as sensitive as the keys).
   */
  keyEncryptionSecret?: string;
  /**
   * `verifyAccessToken` also reads the session (one store round trip) and rejects tokens of revoked
   * or expired sessions at once. Default false: access tokens stay valid until their short `exp`,
   * and verification needs no store.
   */
  denylist?: boolean;
}

export interface ResolvedTokenOptions {
  issuer: string;
  audience: string;
  accessTokenTtlSeconds: number;
  refreshGraceSeconds: number;
  clockToleranceSeconds: number;
  keyRotationIntervalSeconds: number;
  keyEncryptionSecret: string | null;
  denylist: boolean;
}

export interface ResolvedOptions {
  tokens: ResolvedTokenOptions;
  idleTimeoutSeconds: number;
  absoluteTimeoutSeconds: number;
  touchIntervalSeconds: number;
  maxDataBytes: number;
  limits: CreateLimits;
  tombstoneRetentionSeconds: number;
  sweepIntervalSeconds: number;
  sweepBatchSize: number;
  eventPollIntervalSeconds: number;
  eventLeaseSeconds: number;
  maxEventAttempts: number;
  eventGroupRetentionSeconds: number;
  background: boolean;
}

const POLICIES = ['evict', 'refuse'] as const;

/** Checks every option and fills defaults; a wrong option throws `ValidationError` naming it. */
export function resolveOptions(options: SessionEngineOptions): ResolvedOptions {
  const idle = checkSeconds(options.idleTimeoutSeconds ?? 1800, 'idleTimeoutSeconds');
  const absolute = checkSeconds(options.absoluteTimeoutSeconds ?? 86400, 'absoluteTimeoutSeconds');
  checkIdleWithinAbsolute(idle, absolute);
  const limits: CreateLimits = {};
  for (const scope of ['perSubject', 'global'] as const) {
    const limit = options.limits?.[scope];
    if (limit === undefined) continue;
    limits[scope] = {
      max: checkPositiveInteger(limit.max, `limits.${scope}.max`),
      policy: checkOneOf(limit.policy ?? 'evict', POLICIES, `limits.${scope}.policy`),
    };
  }
  return {
    tokens: resolveTokenOptions(options.tokens ?? {}),
    idleTimeoutSeconds: idle,
    absoluteTimeoutSeconds: absolute,
    touchIntervalSeconds: checkSeconds(options.touchIntervalSeconds ?? 60, 'touchIntervalSeconds'),
    maxDataBytes: checkPositiveInteger(options.maxDataBytes ?? 16384, 'maxDataBytes', 1024 * 1024),
    limits,
    tombstoneRetentionSeconds: checkSeconds(
      options.tombstoneRetentionSeconds ?? 86400,
      'tombstoneRetentionSeconds',
    ),
    sweepIntervalSeconds: checkSeconds(options.sweepIntervalSeconds ?? 30, 'sweepIntervalSeconds'),
    sweepBatchSize: checkPositiveInteger(options.sweepBatchSize ?? 500, 'sweepBatchSize', 100_000),
    eventPollIntervalSeconds: checkSeconds(
      options.eventPollIntervalSeconds ?? 1,
      'eventPollIntervalSeconds',
    ),
    eventLeaseSeconds: checkSeconds(options.eventLeaseSeconds ?? 30, 'eventLeaseSeconds'),
    maxEventAttempts: checkPositiveInteger(
      options.maxEventAttempts ?? 10,
      'maxEventAttempts',
      1000,
    ),
    eventGroupRetentionSeconds: checkSeconds(
      options.eventGroupRetentionSeconds ?? 86400,
      'eventGroupRetentionSeconds',
    ),
    background: options.background ?? true,
  };
}

function resolveTokenOptions(tokens: TokenOptions): ResolvedTokenOptions {
  const secret = tokens.keyEncryptionSecret;
  if (secret !== undefined && (typeof secret !== 'string' || secret.length < 32)) {
    throw new ValidationError(
      'tokens.keyEncryptionSecret',
      'must be a string of at least 32 characters',
    );
  }
  return {
    issuer: checkSubject(tokens.issuer ?? 'sessionkeeper', 'tokens.issuer'),
    audience: checkSubject(tokens.audience ?? 'sessionkeeper', 'tokens.audience'),
    accessTokenTtlSeconds: checkSeconds(
      tokens.accessTokenTtlSeconds ?? 900,
      'tokens.accessTokenTtlSeconds',
    ),
    refreshGraceSeconds: checkSeconds(
      tokens.refreshGraceSeconds ?? 15,
      'tokens.refreshGraceSeconds',
    ),
    clockToleranceSeconds: checkNonNegative(
      tokens.clockToleranceSeconds ?? 30,
      'tokens.clockToleranceSeconds',
    ),
    keyRotationIntervalSeconds: checkSeconds(
      tokens.keyRotationIntervalSeconds ?? 2_592_000,
      'tokens.keyRotationIntervalSeconds',
    ),
    keyEncryptionSecret: secret ?? null,
    denylist: tokens.denylist ?? false,
  };
}

function checkNonNegative(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new ValidationError(field, 'must be a number of seconds, 0 or more');
  }
  return value;
}

export function checkIdleWithinAbsolute(
  idle: number,
  absolute: number,
  field = 'absoluteTimeoutSeconds',
): void {
  if (absolute < idle) {
    throw new ValidationError(
      field,
      `(${absolute}) must not be shorter than the idle timeout (${idle})`,
    );
  }
}

/** The touch throttle for one session: never more than a tenth of its idle timeout, in ms. */
export function touchIntervalMs(options: ResolvedOptions, idleTimeoutSeconds: number): number {
  return Math.min(options.touchIntervalSeconds, idleTimeoutSeconds / 10) * 1000;
}
