import { hash } from 'node:crypto';
import { type SessionData as ExpressSessionData, Store } from 'express-session';
import type { EventListenerOptions, SessionEngine } from 'sessionkeeper/internal/engine';
import { ValidationError } from 'sessionkeeper/internal/errors';
import type { EventListener } from 'sessionkeeper/internal/event-dispatcher';
import { asOf } from 'sessionkeeper/internal/expiry';
import { touchIntervalMs } from 'sessionkeeper/internal/options';
import type { SessionRecord } from 'sessionkeeper/internal/store';
import type { Session, SessionData } from 'sessionkeeper/internal/types';

/**
 * How an express-session session maps onto the engine (docs/express-session.md has the why):
 *
 * - The express-session `sid` is a bearer secret (its cookie is only signed), so it is never
 *   stored: the store keeps `H(sid)` = base64url SHA-256 of a domain tag and the sid.
 * - Each sid has a *link* session, subject `express-session:sid:<H(sid)>`, found with one
 *   `list(subject)`; its data names the *main* session. Ids are made by the store (Redis places
 *   them in the shard of their subject), so a sid cannot name a session id directly.
 * - The *main* session holds the express-session data as is. Its subject is the user (the
 *   configured `userField`), or `express-session:anonymous:<H(sid)>` before there is one, so
 *   `engine.list(user)` / `engine.revokeSubject(user)` (and the server's per-subject API) see the
 *   app's sessions. When another user appears in a stored session, the data moves to a new main
 *   session of that user (the old one is revoked with reason `user-changed`) and the link follows.
 * - This process remembers `H(sid)` -> main id, so a request costs one `get` once warm.
 */
const LINK_SUBJECT_PREFIX = 'express-session:sid:';
const ANONYMOUS_SUBJECT_PREFIX = 'express-session:anonymous:';
const LINK_KEY = 'sessionkeeper:express-session-link';
/** Revoke reason of a main session whose data moved to another user's session. */
export const USER_CHANGED_REASON = 'user-changed';
const DEFAULT_CACHE_SIZE = 10_000;

type Callback = (err?: unknown) => void;
type GetCallback = (err: unknown, session?: ExpressSessionData | null) => void;

/** The user a session's data belongs to, or undefined before login. */
export type UserField = string | ((data: Record<string, unknown>) => unknown);

/** Why `get` found no session for a sid (the `rejected` event's payload). */
export interface SessionRejection {
  /** The main session's id, when there was one. */
  sessionId: string | null;
  /** `not-found`, `idle` / `absolute` (expired), or the revoke reason (`logout`, `evicted`…). */
  reason: string;
  status: 'missing' | 'expired' | 'revoked';
}

export interface SessionkeeperStoreOptions {
  /**
   * Where the user is in the session data: a key (default `userId`) or a function of the data.
   * Its value (a non-empty string or a number) becomes the engine subject.
   */
  userField?: UserField;
  /**
   * Idle timeout of a new session when its cookie has no `maxAge`. With a `maxAge` the idle
   * timeout is the cookie's maxAge (express-session's rolling window), capped by the absolute
   * lifetime. Default: the engine's `idleTimeoutSeconds`.
   */
  idleTimeoutSeconds?: number;
  /** Absolute lifetime of a sid, whatever the activity. Default: the engine's. */
  absoluteTimeoutSeconds?: number;
  /** How many sid -> session mappings this process remembers (default 10 000). */
  cacheSize?: number;
}

interface Resolved {
  mainId: string;
  linkId: string;
}

/** What `get` handed to express-session, kept per Session object to write only what changed. */
interface Snapshot extends Resolved {
  /** The data as last read or written (parsed only when a write needs it). */
  dataJson: string;
  lastActiveAtMs: number;
  idleTimeoutSeconds: number;
}

/**
 * An express-session `Store` backed by a sessionkeeper engine, on any of its stores.
 * `get`/`set`/`destroy`/`touch` follow express-session's contract; `listUserSessions`,
 * `revokeUser` and `onSessionEnded` add what express-session lacks. Emits `rejected`
 * (`SessionRejection`) when a cookie names a session that ended or never existed.
 */
export class SessionkeeperStore extends Store {
  readonly engine: SessionEngine;
  readonly #userOf: (data: Record<string, unknown>) => string | undefined;
  readonly #idleSeconds: number | undefined;
  readonly #absoluteSeconds: number;
  readonly #cacheSize: number;
  /** H(sid) -> sessions; bounded, oldest first out. */
  readonly #cache = new Map<string, Resolved>();
  /** Per H(sid): the tail of the writes in flight, so one process applies them one at a time. */
  readonly #queues = new Map<string, Promise<unknown>>();
  /** Plain objects `get` returned -> their snapshot, until `createSession` wraps them. */
  readonly #loaded = new WeakMap<object, Snapshot>();
  /** Session objects -> what this process last read or wrote for them. */
  readonly #snapshots = new WeakMap<object, Snapshot>();

  constructor(engine: SessionEngine, options: SessionkeeperStoreOptions = {}) {
    super();
    this.engine = engine;
    this.#userOf = userReader(options.userField ?? 'userId');
    this.#idleSeconds = optionalSeconds(options.idleTimeoutSeconds, 'idleTimeoutSeconds');
    this.#absoluteSeconds =
      optionalSeconds(options.absoluteTimeoutSeconds, 'absoluteTimeoutSeconds') ??
      engine.options.absoluteTimeoutSeconds;
    const size = options.cacheSize ?? DEFAULT_CACHE_SIZE;
    if (!Number.isInteger(size) || size < 0) {
      throw new ValidationError('cacheSize', 'must be an integer, 0 or more');
    }
    this.#cacheSize = size;
  }

  override get(sid: string, callback: GetCallback): void {
    this.#load(sid).then(
      (data) => callback(null, data as ExpressSessionData | null),
      (err: unknown) => callback(err),
    );
  }

  override createSession(req: Parameters<Store['createSession']>[0], data: ExpressSessionData) {
    const snapshot = this.#loaded.get(data);
    const session = super.createSession(req, data);
    if (snapshot) this.#snapshots.set(session, snapshot);
    return session;
  }

  override set(sid: string, session: ExpressSessionData, callback?: Callback): void {
    const h = sidHash(sid);
    this.#serial(h, () => this.#save(h, session)).then(
      () => callback?.(),
      (err: unknown) => callback?.(err),
    );
  }

  override touch(sid: string, session: ExpressSessionData, callback?: Callback): void {
    this.#touch(sidHash(sid), session).then(
      () => callback?.(),
      (err: unknown) => callback?.(err),
    );
  }

  override destroy(sid: string, callback?: Callback): void {
    const h = sidHash(sid);
    this.#serial(h, () => this.#destroy(h)).then(
      () => callback?.(),
      (err: unknown) => callback?.(err),
    );
  }

  /** Not offered: a sid is never stored, so the store cannot list sessions by sid. */
  override all(callback: (err: unknown) => void): void {
    callback(unsupported('all', 'list one user with listUserSessions(user)'));
  }

  /** Not offered: the engine counts all its sessions (`engine.stats()`), not express-session's. */
  override length(callback: (err: unknown) => void): void {
    callback(unsupported('length', 'count with engine.stats() or listUserSessions(user)'));
  }

  /** Not offered: ending every session is `revokeUser` per user, never one silent call. */
  override clear(callback?: (err: unknown) => void): void {
    callback?.(unsupported('clear', 'revoke one user with revokeUser(user)'));
  }

  /**
   * The active sessions of `user`, newest first: those whose data still names the user (a
   * session that logged out by clearing the field keeps its subject but is not listed).
   */
  async listUserSessions(user: string | number): Promise<Session[]> {
    const subject = checkUser(user);
    const sessions: Session[] = [];
    let cursor: string | null = null;
    do {
      const page = await this.engine.list(subject, { limit: 1000, cursor });
      for (const s of page.sessions) if (this.#userOf(s.data) === subject) sessions.push(s);
      cursor = page.nextCursor;
    } while (cursor !== null);
    return sessions;
  }

  /** Ends every session of `user` (their next request starts a fresh session); how many ended. */
  async revokeUser(user: string | number, reason = 'logout'): Promise<number> {
    return this.engine.revokeSubject(checkUser(user), reason);
  }

  /**
   * Runs `cleanup` once for every express-session session that ends (expired, revoked, evicted)
   * with its data as it was. Durable: retried after a throw or a crash. Skips the store's links
   * and sessions whose data moved on to another user's session.
   */
  onSessionEnded(cleanup: EventListener<SessionData>, options: EventListenerOptions = {}): this {
    this.engine.onSessionEnded((event) => {
      const subject = event.session.subject;
      if (subject.startsWith(LINK_SUBJECT_PREFIX)) return;
      if (event.type === 'revoked' && event.reason === USER_CHANGED_REASON) return;
      return cleanup(event);
    }, options);
    return this;
  }

  async #load(sid: string): Promise<Record<string, unknown> | null> {
    const h = sidHash(sid);
    let resolved = this.#cache.get(h) ?? null;
    const cached = resolved !== null;
    resolved ??= await this.#lookup(h);
    if (!resolved)
      return this.#reject(h, { sessionId: null, reason: 'not-found', status: 'missing' });
    let record = await this.#read(resolved.mainId);
    // Another process moved this sid to another user's session: follow the link once more.
    if (cached && record?.endReason === USER_CHANGED_REASON) {
      this.#cache.delete(h);
      resolved = await this.#lookup(h);
      record = resolved ? await this.#read(resolved.mainId) : null;
    }
    if (!resolved || !record || record.status !== 'active') {
      return this.#reject(h, rejection(resolved?.mainId ?? null, record));
    }
    this.#remember(h, resolved);
    const data = JSON.parse(record.dataJson) as Record<string, unknown>;
    this.#loaded.set(data, {
      ...resolved,
      dataJson: record.dataJson,
      lastActiveAtMs: record.lastActiveAtMs,
      idleTimeoutSeconds: record.idleTimeoutSeconds,
    });
    return data;
  }

  #reject(h: string, rejection: SessionRejection): null {
    this.#cache.delete(h);
    this.engine.logger.info(rejection, 'express-session cookie names no active session');
    this.emit('rejected', rejection);
    return null;
  }

  async #save(h: string, session: ExpressSessionData): Promise<void> {
    const data = toJson(session);
    const known = this.#snapshots.get(session);
    let resolved = known ?? this.#cache.get(h) ?? (await this.#lookup(h));
    if (!resolved) {
      this.#snapshots.set(session, await this.#create(h, data));
      return;
    }
    let current = await this.#read(resolved.mainId);
    if (current?.endReason === USER_CHANGED_REASON) {
      // Another process moved this sid to another user's session meanwhile: write there.
      const moved = await this.#lookup(h);
      if (moved && moved.mainId !== resolved.mainId) {
        resolved = moved;
        current = await this.#read(moved.mainId);
      }
    }
    if (!current || current.status !== 'active') {
      // Ended while this request ran (revoked, expired): never bring it back.
      this.#reject(h, rejection(resolved.mainId, current));
      return;
    }
    // Only the keys this request changed (set or deleted since its `get`) go to the store, which
    // merges them into what it holds in one atomic step (engine.patch): another request's keys
    // survive, whichever instance saves it. Without a snapshot (no `get` in this request) the
    // data replaces what is stored.
    const changes = known ? changesOf(keyJson(JSON.parse(known.dataJson)), data) : null;
    // What the store will hold, as far as this process can tell: only to notice a new user.
    const merged = changes ? applyChanges(JSON.parse(current.dataJson), changes) : data;
    const user = this.#userOf(merged);
    if (user !== undefined && user !== current.subject) {
      this.#snapshots.set(session, await this.#moveToUser(h, resolved, current, merged, user));
      return;
    }
    const written =
      changes === null
        ? await this.engine.update(resolved.mainId, data)
        : changes.set.length + changes.remove.length === 0
          ? true // nothing changed: the session was active when read, and the write is skipped
          : await this.engine.patch(resolved.mainId, {
              set: Object.fromEntries(changes.set),
              remove: changes.remove,
            });
    if (!written) {
      this.#reject(h, rejection(resolved.mainId, await this.#read(resolved.mainId)));
      return;
    }
    // express-session saves instead of touching when the data changed: count it as activity.
    let lastActiveAtMs = current.lastActiveAtMs;
    if (this.#touchDue(lastActiveAtMs, current.idleTimeoutSeconds)) {
      if (await this.engine.touch(resolved.mainId)) lastActiveAtMs = this.engine.clock.now();
    }
    // The request's own view, not the merged data: a second save of this session object (an
    // explicit save, then express-session's own) must not delete keys other requests added.
    this.#snapshots.set(session, {
      ...resolved,
      dataJson: JSON.stringify(data),
      lastActiveAtMs,
      idleTimeoutSeconds: current.idleTimeoutSeconds,
    });
  }

  async #touch(h: string, session: ExpressSessionData): Promise<void> {
    const snapshot = this.#snapshots.get(session);
    if (snapshot && !this.#touchDue(snapshot.lastActiveAtMs, snapshot.idleTimeoutSeconds)) return;
    const resolved = snapshot ?? this.#cache.get(h) ?? (await this.#lookup(h));
    if (!resolved) return;
    if (await this.engine.touch(resolved.mainId)) {
      if (snapshot) snapshot.lastActiveAtMs = this.engine.clock.now();
      return;
    }
    this.#reject(h, rejection(resolved.mainId, await this.#read(resolved.mainId)));
  }

  async #destroy(h: string): Promise<void> {
    const resolved = this.#cache.get(h) ?? (await this.#lookup(h));
    this.#cache.delete(h);
    // The link stays until the sid's absolute deadline, so a later request with this cookie
    // learns why there is no session (`logout`) instead of `not-found`.
    if (resolved) await this.engine.revoke(resolved.mainId, 'logout');
  }

  /** A new sid: its main session, then its link (the main is revoked if the link fails). */
  async #create(h: string, data: Record<string, unknown>): Promise<Snapshot> {
    const subject = this.#userOf(data) ?? ANONYMOUS_SUBJECT_PREFIX + h;
    const absolute = this.#absoluteSeconds;
    const idle = Math.min(this.#idleFor(data), absolute);
    const main = await this.engine.create({
      subject,
      data,
      idleTimeoutSeconds: idle,
      absoluteTimeoutSeconds: absolute,
    });
    let link: Awaited<ReturnType<SessionEngine['create']>>;
    try {
      link = await this.engine.create({
        subject: LINK_SUBJECT_PREFIX + h,
        data: { [LINK_KEY]: main.session.id },
        idleTimeoutSeconds: absolute,
        absoluteTimeoutSeconds: absolute,
      });
    } catch (error) {
      await this.engine.revoke(main.session.id, 'link-failed').catch(() => {});
      throw error;
    }
    const resolved = { mainId: main.session.id, linkId: link.session.id };
    this.#remember(h, resolved);
    return {
      ...resolved,
      dataJson: JSON.stringify(data),
      lastActiveAtMs: main.session.lastActiveAt.getTime(),
      idleTimeoutSeconds: idle,
    };
  }

  /**
   * Another user appeared in a stored session (login without `regenerate`, or a switch of user):
   * its data moves to a new session of that user, keeping the sid's absolute deadline, so
   * `revokeUser` finds it. The old session ends with reason `user-changed`.
   */
  async #moveToUser(
    h: string,
    resolved: Resolved,
    current: SessionRecord,
    data: Record<string, unknown>,
    user: string,
  ): Promise<Snapshot> {
    const remainingSeconds = Math.max(
      1,
      Math.floor((current.absoluteExpiresAtMs - this.engine.clock.now()) / 1000),
    );
    const idle = Math.min(this.#idleFor(data), remainingSeconds);
    const main = await this.engine.create({
      subject: user,
      data,
      idleTimeoutSeconds: idle,
      absoluteTimeoutSeconds: remainingSeconds,
    });
    await this.engine.revoke(resolved.mainId, USER_CHANGED_REASON);
    const linked = await this.engine.update(resolved.linkId, { [LINK_KEY]: main.session.id });
    if (!linked) throw new Error(`The link of session ${resolved.mainId} ended during a login`);
    const moved = { mainId: main.session.id, linkId: resolved.linkId };
    this.#remember(h, moved);
    return {
      ...moved,
      dataJson: JSON.stringify(data),
      lastActiveAtMs: main.session.lastActiveAt.getTime(),
      idleTimeoutSeconds: idle,
    };
  }

  /** The record as it stands now (past its deadline = expired), without the engine's view work. */
  async #read(id: string): Promise<SessionRecord | null> {
    const record = await this.engine.store.get(id);
    return record ? asOf(record, this.engine.clock.now()) : null;
  }

  async #lookup(h: string): Promise<Resolved | null> {
    const page = await this.engine.list(LINK_SUBJECT_PREFIX + h, { limit: 1 });
    const link = page.sessions[0];
    const mainId = link?.data[LINK_KEY];
    return link && typeof mainId === 'string' ? { mainId, linkId: link.id } : null;
  }

  #remember(h: string, resolved: Resolved): void {
    if (this.#cacheSize === 0) return;
    this.#cache.delete(h);
    this.#cache.set(h, resolved);
    if (this.#cache.size > this.#cacheSize) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
  }

  #idleFor(data: Record<string, unknown>): number {
    const cookie = data.cookie as { originalMaxAge?: unknown } | undefined;
    const maxAge = cookie?.originalMaxAge;
    if (typeof maxAge === 'number' && Number.isFinite(maxAge) && maxAge > 0) {
      return Math.max(1, Math.ceil(maxAge / 1000));
    }
    return this.#idleSeconds ?? this.engine.options.idleTimeoutSeconds;
  }

  /** The engine's touch throttle: a write only when the last one is older than its interval. */
  #touchDue(lastActiveAtMs: number, idleTimeoutSeconds: number): boolean {
    return (
      this.engine.clock.now() - lastActiveAtMs >=
      touchIntervalMs(this.engine.options, idleTimeoutSeconds)
    );
  }

  /** Runs `work` after the writes already queued for this sid in this process. */
  #serial<T>(h: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#queues.get(h) ?? Promise.resolve();
    const run = previous.then(work, work);
    const tail = run.catch(() => {});
    this.#queues.set(h, tail);
    tail.then(() => {
      if (this.#queues.get(h) === tail) this.#queues.delete(h);
    });
    return run;
  }
}

/** Thrown (to the callback) by the optional methods this store does not offer. */
export class UnsupportedStoreOperationError extends Error {
  readonly code = 'unsupported-store-operation';
  constructor(
    readonly operation: string,
    instead: string,
  ) {
    super(`SessionkeeperStore.${operation}() is not offered: ${instead}`);
    this.name = 'UnsupportedStoreOperationError';
  }
}

function rejection(sessionId: string | null, record: SessionRecord | null): SessionRejection {
  if (!record || record.status === 'active') {
    return { sessionId, reason: 'not-found', status: 'missing' };
  }
  return { sessionId, reason: record.endReason ?? record.status, status: record.status };
}

function unsupported(operation: string, instead: string): UnsupportedStoreOperationError {
  return new UnsupportedStoreOperationError(operation, instead);
}

function sidHash(sid: string): string {
  if (typeof sid !== 'string' || sid.length === 0) {
    throw new ValidationError('sid', 'must be a non-empty string');
  }
  return hash('sha256', `express-session\0${sid}`, 'base64url');
}

function userReader(field: UserField): (data: Record<string, unknown>) => string | undefined {
  if (typeof field === 'string') {
    if (field.length === 0) throw new ValidationError('userField', 'must not be empty');
    return (data) => userValue(data[field]);
  }
  if (typeof field === 'function') return (data) => userValue(field(data));
  throw new ValidationError('userField', 'must be a key of the session data or a function');
}

function userValue(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'string' && value.length > 0) return value;
  return undefined;
}

function checkUser(user: unknown): string {
  const value = userValue(user);
  if (value === undefined)
    throw new ValidationError('user', 'must be a non-empty string or a number');
  return value;
}

function optionalSeconds(value: unknown, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ValidationError(field, 'must be a positive number of seconds');
  }
  return value;
}

/** The session as the JSON express-session would store (its cookie serializes itself). */
function toJson(session: ExpressSessionData): Record<string, unknown> {
  return JSON.parse(JSON.stringify(session)) as Record<string, unknown>;
}

function keyJson(data: Record<string, unknown>): Map<string, string> {
  const keys = new Map<string, string>();
  for (const [key, value] of Object.entries(data)) keys.set(key, JSON.stringify(value));
  return keys;
}

/** What a request changed at the top level of its session, as key -> value pairs and keys. */
interface Changes {
  set: Array<[string, unknown]>;
  remove: string[];
}

/**
 * The keys whose JSON differs from what the request read are set; keys it read and no longer
 * has are deleted; keys it did not touch are left out, so a stale copy never writes them back.
 */
function changesOf(read: Map<string, string>, written: Record<string, unknown>): Changes {
  const set: Array<[string, unknown]> = [];
  for (const [key, value] of Object.entries(written)) {
    if (read.get(key) !== JSON.stringify(value)) set.push([key, value]);
  }
  const remove = [...read.keys()].filter((key) => !Object.hasOwn(written, key));
  return { set, remove };
}

/** `stored` with `changes` applied, as the store's merge does. */
function applyChanges(stored: Record<string, unknown>, changes: Changes): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...stored };
  for (const key of changes.remove) delete merged[key];
  for (const [key, value] of changes.set) merged[key] = value;
  return merged;
}
