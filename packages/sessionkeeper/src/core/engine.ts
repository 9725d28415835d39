import { randomUUID } from 'node:crypto';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { AccessTokenResult } from './access-token.js';
import { type Clock, systemClock } from './clock.js';
import {
  InvalidTokenError,
  PayloadTooLargeError,
  type SessionInvalidError,
  SessionLimitReachedError,
  SessionNotFoundError,
  ValidationError,
} from './errors.js';
import { EventDispatcher, type EventListener } from './event-dispatcher.js';
import { asOf, computeExpiresAtMs, newSessionRecord } from './expiry.js';
import { explainEnded } from './explain-ended.js';
import {
  checkPositiveInteger,
  checkSeconds,
  checkSubject,
  serializeData,
  serializePatch,
} from './input.js';
import type { JsonWebKeySet, Keyring } from './keyring.js';
import { createDefaultLogger } from './logger.js';
import {
  checkIdleWithinAbsolute,
  type ResolvedOptions,
  resolveOptions,
  type SessionEngineOptions,
  touchIntervalMs,
} from './options.js';
import { timingOf, toSession } from './session-view.js';
import { checkEventGroup, DEFAULT_EVENT_GROUP, type SessionStore } from './store.js';
import {
  formatSessionToken,
  generateSecret,
  generateSessionId,
  hashSecret,
  isValidSessionId,
  parseSessionToken,
  secretMatches,
} from './token.js';
import { type TokenPair, TokenService } from './token-service.js';
import {
  EVENT_TYPES,
  type EventType,
  type Session,
  type SessionData,
  type SessionTiming,
} from './types.js';

export interface CreateSessionInput<Data extends SessionData = SessionData> {
  subject: string;
  data?: Data;
  /** Overrides the engine's idle timeout for this session. */
  idleTimeoutSeconds?: number;
  /** Overrides the engine's absolute lifetime for this session. */
  absoluteTimeoutSeconds?: number;
  /** Also issue an access token and a rotating refresh token (see `refresh`). */
  tokens?: boolean;
}

export interface CreatedSession<Data extends SessionData = SessionData> {
  session: Session<Data>;
  /** The session token (`sks_…`): give it to the session holder once; only its hash is stored. */
  token: string;
  /** Present when created with `tokens: true`. */
  tokens?: TokenPair;
}

export type RefreshResult<Data extends SessionData = SessionData> =
  | {
      ok: true;
      session: Session<Data>;
      tokens: TokenPair;
      /** True when a concurrent refresh with the same token already rotated it: same pair. */
      replayed: boolean;
    }
  | { ok: false; error: SessionInvalidError };

export type ValidationResult<Data extends SessionData = SessionData> =
  | {
      ok: true;
      session: Session<Data>;
      /** True when this call extended the stored deadline: cookie transports re-send the cookie. */
      fresh: boolean;
      timing: SessionTiming;
    }
  | { ok: false; error: SessionInvalidError };

export interface SessionInfo<Data extends SessionData = SessionData> {
  session: Session<Data>;
  timing: SessionTiming;
}

/**
 * A change to the top level of a session's data: keys to write (`set`) and keys to delete
 * (`remove`); every other key keeps whatever is stored, whoever wrote it.
 */
export interface SessionDataPatch<Data extends SessionData = SessionData> {
  set?: Partial<Data>;
  remove?: ReadonlyArray<Extract<keyof Data, string>>;
}

export interface SessionList<Data extends SessionData = SessionData> {
  sessions: Session<Data>[];
  nextCursor: string | null;
}

export interface SweepSummary {
  expired: number;
  purged: number;
}

/** Which consumer group a listener belongs to, and how that group is delivered to. */
export interface EventListenerOptions {
  /**
   * The consumer group (1 to 64 of A-Z a-z 0-9 : _ . -). Every group receives every event; the
   * instances of one group (processes with listeners in it, on one store) share them. Default
   * `default`: the app's own listeners.
   */
  group?: string;
  /** Events the group claims per store call. Set by the group's first listener. Default 100. */
  batchSize?: number;
  /** Events of one batch delivered at once. Set by the group's first listener. Default 1 (in order). */
  concurrency?: number;
  /**
   * The group's retry schedule in ms: the pause before the n-th redelivery of an event whose
   * listener failed (the last entry repeats). Set by the group's first listener. Default 1 s,
   * doubling, never more than `eventLeaseSeconds`.
   */
  retryDelaysMs?: readonly number[];
}

/** Work that runs while a session is held; the signal aborts if the session ends meanwhile. */
export type HeldWork<T> = Promise<T> | ((signal: AbortSignal) => Promise<T>);

const MAX_LIST_LIMIT = 1000;
/** The engine's own consumer group: logs every event once across the processes on a store. */
export const LOG_EVENT_GROUP = 'sessionkeeper-log';
const MAX_REASON_LENGTH = 64;

/**
 * Opens the store (SQLite under ./data when none is given), checks it answers, and returns an
 * engine. Rejects with `StoreUnavailableError` when the store cannot be reached and with
 * `ValidationError` naming the option when an option is wrong.
 */
export async function createSessionEngine<Data extends SessionData = SessionData>(
  options: SessionEngineOptions = {},
): Promise<SessionEngine<Data>> {
  const resolved = resolveOptions(options);
  const logger = options.logger ?? createDefaultLogger();
  const store = options.store ?? (await openDefaultStore());
  await store.ping();
  if (!store.durable) {
    logger.warn(
      { store: store.location },
      'sessions are kept in process memory and are LOST on restart; use SQLite or Redis outside tests',
    );
  }
  const engine = new SessionEngine<Data>(store, resolved, options.clock ?? systemClock, logger);
  try {
    await engine.tokenKeys.open();
  } catch (error) {
    await store.close().catch(() => {});
    throw error;
  }
  setImmediate(() => engine.startBackground());
  return engine;
}

async function openDefaultStore(): Promise<SessionStore> {
  // Loaded only when the caller chose no store, so the core never pulls in better-sqlite3 otherwise.
  const { createSqliteStore } = await import('../sqlite/index.js');
  return createSqliteStore({ path: './data/sessionkeeper.db' });
}

export class SessionEngine<Data extends SessionData = SessionData> {
  /** One dispatcher per consumer group with listeners in this process. */
  readonly #groups = new Map<string, EventDispatcher<Data>>();
  /**
   * The engine's own group, which logs each event once across every process on the store
   * (created, expired with its age, revoked…), whether or not anyone else listens.
   */
  readonly #logGroup: EventDispatcher<Data>;
  readonly #tokens: TokenService;
  /** The access-token signing keys (made on first use, kept in the store). */
  readonly tokenKeys: Keyring;
  readonly #timers: NodeJS.Timeout[] = [];
  /** Stops the store's event notifications (stores with `watchEvents`), once background runs. */
  #unwatchEvents: (() => void) | null = null;
  #sweeping: Promise<SweepSummary> | null = null;
  #closed = false;

  constructor(
    readonly store: SessionStore,
    readonly options: ResolvedOptions,
    readonly clock: Clock,
    readonly logger: Logger,
  ) {
    this.#logGroup = new EventDispatcher<Data>(store, clock, logger, {
      group: LOG_EVENT_GROUP,
      leaseMs: options.eventLeaseSeconds * 1000,
      maxAttempts: options.maxEventAttempts,
      batchSize: 100,
      concurrency: 1,
      retryDelaysMs: null,
      logEvents: true,
    });
    for (const type of EVENT_TYPES) this.#logGroup.on(type, () => {});
    this.#tokens = new TokenService(store, clock, logger, options.tokens);
    this.tokenKeys = this.#tokens.keyring;
  }

  /** Creates a session for `input.subject`; applies the caps (evicting or refusing). */
  async create(input: CreateSessionInput<Data>): Promise<CreatedSession<Data>> {
    if (typeof input !== 'object' || input === null)
      throw new ValidationError('input', 'must be an object');
    const subject = checkSubject(input.subject);
    const dataJson = serializeData(input.data, this.options.maxDataBytes);
    const idle =
      input.idleTimeoutSeconds === undefined
        ? this.options.idleTimeoutSeconds
        : checkSeconds(input.idleTimeoutSeconds, 'idleTimeoutSeconds');
    const absolute =
      input.absoluteTimeoutSeconds === undefined
        ? Math.max(this.options.absoluteTimeoutSeconds, idle)
        : checkSeconds(input.absoluteTimeoutSeconds, 'absoluteTimeoutSeconds');
    checkIdleWithinAbsolute(idle, absolute);

    const nowMs = this.clock.now();
    const secret = generateSecret();
    const refreshSecret = input.tokens === true ? generateSecret() : null;
    const record = newSessionRecord({
      id: this.store.newSessionId?.(subject) ?? generateSessionId(),
      subject,
      secretHash: hashSecret(secret),
      dataJson,
      nowMs,
      idleTimeoutSeconds: idle,
      absoluteTimeoutSeconds: absolute,
      ...(refreshSecret ? { refreshHash: hashSecret(refreshSecret) } : {}),
    });
    // Signing needs the keyring: load (or make) it before the session exists, so a keyring
    // failure cannot leave a session whose tokens were never handed out.
    const tokens = refreshSecret ? await this.#tokens.pair(record, refreshSecret, nowMs) : null;
    const outcome = await this.store.create(record, this.options.limits, nowMs);
    if (!outcome.ok) {
      this.logger.info(
        { subject, scope: outcome.scope, max: outcome.max },
        'session refused: limit reached',
      );
      throw new SessionLimitReachedError(outcome.scope, outcome.max, subject);
    }
    this.#kickEvents();
    const created = {
      session: toSession<Data>(record),
      token: formatSessionToken(record.id, secret),
    };
    return tokens ? { ...created, tokens } : created;
  }

  /**
   * Checks a session token: one store read, plus a throttled write when the stored activity is
   * older than the touch interval. An invalid token is a result (`ok: false`), not an exception.
   */
  validate(token: string): Promise<ValidationResult<Data>> {
    return this.#validate(token, false);
  }

  /** Like `validate`, but always records the activity (a keep-alive). */
  renew(token: string): Promise<ValidationResult<Data>> {
    return this.#validate(token, true);
  }

  /**
   * Exchanges a refresh token for a new pair and records activity. The old token keeps answering
   * with the same new pair for as long as the new refresh token is unused; once it was used, the
   * old one revokes the session (`RefreshTokenReusedError`, event `refresh.reused`) when presented
   * more than `tokens.refreshGraceSeconds` after that rotation, as do older tokens at any time.
   * A store failure rejects with `StoreUnavailableError`: retry with the same token.
   */
  async refresh(refreshToken: string): Promise<RefreshResult<Data>> {
    const result = await this.#tokens.refresh(refreshToken);
    this.#kickEvents();
    if (!result.ok) {
      this.logger.info(
        { sessionId: result.error.sessionId, reason: result.error.reason },
        'refresh refused',
      );
      return result;
    }
    return {
      ok: true,
      session: toSession<Data>(result.record),
      tokens: result.tokens,
      replayed: result.replayed,
    };
  }

  /**
   * Checks an access token's signature and claims against this engine's keys, with no store read
   * unless `tokens.denylist` is on. Other services use `createAccessTokenVerifier` with the JWKS.
   */
  verifyAccessToken(accessToken: string): Promise<AccessTokenResult> {
    return this.#tokens.verify(accessToken);
  }

  /** The public signing keys (current and recently retired) as a JWKS document. */
  jwks(): Promise<JsonWebKeySet> {
    return this.#tokens.jwks();
  }

  /** A session by id, whatever its status, without counting as activity; null if unknown. */
  async get(id: string): Promise<SessionInfo<Data> | null> {
    const record = await this.store.get(checkId(id));
    if (!record) return null;
    const nowMs = this.clock.now();
    return { session: toSession<Data>(asOf(record, nowMs)), timing: timingOf(record, nowMs) };
  }

  /** Replaces the data of an active session; null when the session is not active. */
  async update(id: string, data: Data): Promise<Session<Data> | null> {
    const dataJson = serializeData(data, this.options.maxDataBytes);
    const record = await this.store.setData(checkId(id), dataJson, this.clock.now());
    return record ? toSession<Data>(record) : null;
  }

  /**
   * Writes and deletes top-level keys of an active session's data in one atomic store step, so
   * concurrent patches of different keys, from any number of processes, all survive (unlike
   * `update`, which replaces the whole object). Null when the session is not active. Throws
   * `PayloadTooLargeError` (nothing written) when the merged data would be over `maxDataBytes`,
   * and `ValidationError` for a value JSON cannot hold or a key both set and removed.
   */
  async patch(id: string, patch: SessionDataPatch<Data>): Promise<Session<Data> | null> {
    const sessionId = checkId(id);
    const maxBytes = this.options.maxDataBytes;
    const checked = serializePatch(patch, maxBytes);
    const outcome = await this.store.patchData(sessionId, checked, this.clock.now(), maxBytes);
    if (outcome.kind === 'too-large') {
      throw new PayloadTooLargeError('data', outcome.sizeBytes, maxBytes);
    }
    return outcome.kind === 'patched' ? toSession<Data>(outcome.record) : null;
  }

  /**
   * Records activity on an active session by id, always writing (callers throttle). For bridges
   * that authenticate the holder themselves (e.g. a signed cookie) and so hold no session token.
   * True if the session was active and is now touched; false if it is unknown or ended.
   */
  async touch(id: string): Promise<boolean> {
    return this.store.touch(checkId(id), this.clock.now());
  }

  /** Ends one session. True if this call revoked it; false if it was unknown or already ended. */
  async revoke(id: string, reason = 'logout'): Promise<boolean> {
    const record = await this.store.revoke(checkId(id), checkReason(reason), this.clock.now());
    if (record) this.#kickEvents();
    return record !== null;
  }

  /** Ends every active session of `subject`; resolves to how many were revoked. */
  async revokeSubject(subject: string, reason = 'logout'): Promise<number> {
    const records = await this.store.revokeSubject(
      checkSubject(subject),
      checkReason(reason),
      this.clock.now(),
    );
    if (records.length > 0) this.#kickEvents();
    return records.length;
  }

  /** Active sessions of `subject`, newest first, `limit` (default 50, at most 1000) per page. */
  async list(
    subject: string,
    page: { limit?: number; cursor?: string | null } = {},
  ): Promise<SessionList<Data>> {
    const limit = checkPositiveInteger(page.limit ?? 50, 'limit', MAX_LIST_LIMIT);
    const result = await this.store.list(
      checkSubject(subject),
      { limit, cursor: page.cursor ?? null },
      this.clock.now(),
    );
    return {
      sessions: result.records.map((r) => toSession<Data>(r)),
      nextCursor: result.nextCursor,
    };
  }

  async stats(): Promise<{ active: number }> {
    return { active: await this.store.countActive(this.clock.now()) };
  }

  /**
   * Holds a session alive for `ttlSeconds` (capped by its absolute deadline) whatever its idle
   * timeout; returns the lease id, or null if the session is not active. Acquiring and releasing
   * count as activity.
   */
  async acquireLease(sessionId: string, ttlSeconds: number): Promise<string | null> {
    const ttl = checkSeconds(ttlSeconds, 'ttlSeconds');
    const leaseId = randomUUID();
    const nowMs = this.clock.now();
    const record = await this.store.setLease(
      checkId(sessionId),
      leaseId,
      nowMs + Math.round(ttl * 1000),
      nowMs,
    );
    return record ? leaseId : null;
  }

  /** Ends a lease; the idle timeout then runs from now. False if the session is no longer active. */
  async releaseLease(sessionId: string, leaseId: string): Promise<boolean> {
    const record = await this.store.setLease(checkId(sessionId), leaseId, null, this.clock.now());
    return record !== null;
  }

  /**
   * Keeps the session alive while `work` runs (renewing a lease in the background), then releases
   * it so the idle timeout runs from the end of the work. The absolute lifetime still applies; if
   * the session ends meanwhile the signal given to `work` aborts. Rejects with the session's
   * `SessionInvalidError` if it is not active when called.
   */
  async holdWhile<T>(sessionId: string, work: HeldWork<T>): Promise<T> {
    const record = await this.store.get(checkId(sessionId));
    const invalid = record
      ? explainEnded(record, this.clock.now())
      : new SessionNotFoundError(sessionId);
    if (!record || invalid) throw invalid;
    // A lease of half the idle timeout, renewed at half its length: if this process dies the
    // session outlives the work by at most 1.5 idle timeouts.
    const ttlSeconds = record.idleTimeoutSeconds / 2;
    const leaseId = await this.acquireLease(sessionId, ttlSeconds);
    if (!leaseId) throw new SessionNotFoundError(sessionId); // ended between the read and the lease
    const controller = new AbortController();
    const renew = setInterval(
      () => {
        const at = this.clock.now();
        this.store.setLease(sessionId, leaseId, at + ttlSeconds * 1000, at).then(
          (record) => {
            if (!record && !controller.signal.aborted) {
              controller.abort(new Error(`Session ${sessionId} ended while it was held`));
              clearInterval(renew);
            }
          },
          (err: unknown) => this.logger.warn({ err, sessionId }, 'lease renewal failed; retrying'),
        );
      },
      (ttlSeconds * 1000) / 2,
    );
    try {
      return await (typeof work === 'function' ? work(controller.signal) : work);
    } finally {
      clearInterval(renew);
      await this.releaseLease(sessionId, leaseId).catch((err: unknown) =>
        this.logger.warn({ err, sessionId }, 'lease release failed; it lapses on its own'),
      );
    }
  }

  /**
   * Listens for a lifecycle event in a consumer group (`options.group`, default `default`).
   * Listeners may be async; a throw means redelivery to the group later. The group acknowledges
   * events of types it has no listener for. Instances of one group should register the same
   * listeners.
   */
  on(type: EventType, listener: EventListener<Data>, options: EventListenerOptions = {}): this {
    this.#group(options).on(type, listener);
    return this;
  }

  off(type: EventType, listener: EventListener<Data>, options: EventListenerOptions = {}): this {
    this.#groups.get(checkEventGroup(options.group ?? DEFAULT_EVENT_GROUP))?.off(type, listener);
    return this;
  }

  /**
   * Runs `cleanup` once for every session that ends (expired, revoked or evicted), with the
   * session's data as it was, e.g. to delete the files it owned. Durable: a cleanup that throws or
   * is interrupted by a crash runs again.
   */
  onSessionEnded(cleanup: EventListener<Data>, options: EventListenerOptions = {}): this {
    for (const type of ['expired', 'revoked', 'evicted'] as const) this.on(type, cleanup, options);
    return this;
  }

  /** Marks every session past its deadline as expired, in batches, then purges old tombstones. */
  sweep(): Promise<SweepSummary> {
    this.#sweeping ??= this.#sweep().finally(() => {
      this.#sweeping = null;
    });
    return this.#sweeping;
  }

  /**
   * Delivers waiting events to this process's listeners now, for `group` or every group with
   * listeners here; resolves to how many were delivered (summed over groups). Without `group` the
   * engine's own log group is drained too (not counted).
   */
  async deliverEvents(group?: string): Promise<number> {
    const dispatchers =
      group === undefined ? [...this.#groups.values()] : [this.#groups.get(checkEventGroup(group))];
    const [counts] = await Promise.all([
      Promise.all(dispatchers.map((d) => d?.drain() ?? 0)),
      group === undefined ? this.#logGroup.drain() : 0,
    ]);
    return counts.reduce((sum, n) => sum + n, 0);
  }

  /** Stops background work, waits for work in flight, and closes the store. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers) clearInterval(timer);
    this.#unwatchEvents?.();
    await Promise.allSettled([
      this.#sweeping,
      this.#logGroup.pending,
      ...[...this.#groups.values()].map((d) => d.pending),
    ]);
    await this.store.close();
  }

  async #validate(token: string, force: boolean): Promise<ValidationResult<Data>> {
    const parsed = parseSessionToken(token);
    if (!parsed.ok) return this.#reject(new InvalidTokenError(parsed.problem, parsed.id));
    const record = await this.store.get(parsed.id);
    if (!record) return this.#reject(new SessionNotFoundError(parsed.id));
    if (!secretMatches(parsed.secret, record.secretHash)) {
      return this.#reject(
        new InvalidTokenError(`The token secret does not match session ${parsed.id}`, parsed.id),
      );
    }
    const nowMs = this.clock.now();
    const ended = explainEnded(record, nowMs);
    if (ended) return this.#reject(ended);
    let fresh = false;
    if (
      force ||
      nowMs - record.lastActiveAtMs >= touchIntervalMs(this.options, record.idleTimeoutSeconds)
    ) {
      fresh = await this.store.touch(record.id, nowMs);
      if (fresh) {
        record.lastActiveAtMs = nowMs;
        record.expiresAtMs = computeExpiresAtMs(record);
      }
    }
    return { ok: true, session: toSession<Data>(record), fresh, timing: timingOf(record, nowMs) };
  }

  #reject(error: SessionInvalidError): ValidationResult<Data> {
    this.logger.info(
      { sessionId: error.sessionId, reason: error.reason },
      'session validation failed',
    );
    return { ok: false, error };
  }

  async #sweep(): Promise<SweepSummary> {
    const total: SweepSummary = { expired: 0, purged: 0 };
    for (;;) {
      const nowMs = this.clock.now();
      const purgeBeforeMs = nowMs - this.options.tombstoneRetentionSeconds * 1000;
      const result = await this.store.sweep(nowMs, this.options.sweepBatchSize, purgeBeforeMs);
      total.expired += result.expired;
      total.purged += result.purged;
      if (!result.more || this.#closed) break;
      await yieldToEventLoop(); // let validations run between batches
    }
    if (total.expired > 0) this.#kickEvents();
    // Groups that stopped claiming long ago no longer hold events in the outbox.
    const forgotten = await this.store.forgetEventGroups(
      this.clock.now() - this.options.eventGroupRetentionSeconds * 1000,
    );
    if (forgotten.length > 0) {
      this.logger.warn(
        { groups: forgotten, retentionSeconds: this.options.eventGroupRetentionSeconds },
        'event consumer groups forgotten: they claimed no event within the retention',
      );
    }
    if (total.expired + total.purged > 0) {
      this.logger.info(
        { ...total, active: await this.store.countActive(this.clock.now()) },
        'sweep finished',
      );
    }
    return total;
  }

  #kickEvents(): void {
    if (!this.options.background || this.#closed) return;
    this.deliverEvents().catch((err: unknown) =>
      this.logger.warn({ err }, 'event delivery failed; will retry'),
    );
  }

  /** The dispatcher of a listener's group, made on the group's first listener. */
  #group(options: EventListenerOptions): EventDispatcher<Data> {
    const group = checkEventGroup(options.group ?? DEFAULT_EVENT_GROUP);
    let dispatcher = this.#groups.get(group);
    if (!dispatcher) {
      dispatcher = new EventDispatcher<Data>(this.store, this.clock, this.logger, {
        group,
        leaseMs: this.options.eventLeaseSeconds * 1000,
        maxAttempts: this.options.maxEventAttempts,
        batchSize: checkPositiveInteger(options.batchSize ?? 100, 'batchSize', 10_000),
        concurrency: checkPositiveInteger(options.concurrency ?? 1, 'concurrency', 1000),
        retryDelaysMs: checkRetryDelays(options.retryDelaysMs),
        logEvents: false,
      });
      this.#groups.set(group, dispatcher);
    }
    return dispatcher;
  }

  /**
   * Starts the sweeper and event delivery when `background` is on. `createSessionEngine` calls it
   * once the engine is ready, on the next turn, so listeners registered right after creation
   * see every event (a group acknowledges events of types it has no listener for).
   */
  startBackground(): void {
    if (this.#closed || !this.options.background || this.#timers.length > 0) return;
    const every = (seconds: number, task: () => Promise<unknown>, what: string) => {
      const run = () => {
        task().catch((err: unknown) => this.logger.warn({ err }, `${what} failed; will retry`));
      };
      const timer = setInterval(run, seconds * 1000);
      timer.unref();
      this.#timers.push(timer);
      run();
    };
    every(this.options.sweepIntervalSeconds, () => this.sweep(), 'sweep');
    every(this.options.eventPollIntervalSeconds, () => this.deliverEvents(), 'event delivery');
    // Stores that can say when events were appended (PostgreSQL LISTEN/NOTIFY) wake delivery at
    // once, in every instance; the poll above stays as the fallback.
    this.#unwatchEvents = this.store.watchEvents?.(() => this.#kickEvents()) ?? null;
  }
}

function checkId(id: unknown): string {
  if (typeof id !== 'string' || !isValidSessionId(id)) {
    throw new ValidationError(
      'sessionId',
      'must be a session id (8 to 64 characters of A-Z, a-z, 0-9, _ and -)',
    );
  }
  return id;
}

function checkRetryDelays(delays: unknown): readonly number[] | null {
  if (delays === undefined) return null;
  if (
    !Array.isArray(delays) ||
    delays.length === 0 ||
    !delays.every((d) => typeof d === 'number' && Number.isFinite(d) && d >= 0)
  ) {
    throw new ValidationError('retryDelaysMs', 'must be a non-empty list of ms, each 0 or more');
  }
  return [...delays];
}

function checkReason(reason: unknown): string {
  if (typeof reason !== 'string' || reason.length === 0 || reason.length > MAX_REASON_LENGTH) {
    throw new ValidationError(
      'reason',
      `must be a non-empty string of at most ${MAX_REASON_LENGTH} characters`,
    );
  }
  return reason;
}
