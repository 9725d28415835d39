import { ValidationError } from './errors.js';
import type { EventType, SessionStatus } from './types.js';

/**
 * A session as stores keep it. Instants are epoch milliseconds (`…Ms`), durations seconds.
 * Stores persist every field and hand records back unchanged; the meaning lives in the core.
 */
export interface SessionRecord {
  id: string;
  subject: string;
  /** base64url SHA-256 of the token secret; the secret itself is never stored. */
  secretHash: string;
  /** The session data as JSON text (the core serializes and size-checks it). */
  dataJson: string;
  createdAtMs: number;
  lastActiveAtMs: number;
  idleTimeoutSeconds: number;
  absoluteExpiresAtMs: number;
  /** Live leases: lease id -> epoch ms until which it holds the session alive. */
  leases: Record<string, number>;
  /**
   * When the session ends if nothing else happens: `computeExpiresAtMs(record)`. Stores recompute
   * it on every write that changes activity or leases, and index it for the sweeper.
   */
  expiresAtMs: number;
  status: SessionStatus;
  /** `idle` | `absolute` once expired; the revoke reason once revoked; null while active. */
  endReason: string | null;
  endedAtMs: number | null;
  /** Refresh-token state, for sessions created with tokens; null otherwise. */
  refresh: RefreshState | null;
}

/**
 * The refresh-token family of one session. Hashes only: a refresh secret is never stored. The
 * current token's successor is `HMAC-SHA256(key = presented secret, nonce)`, so only the holder of
 * the previous token can recompute it from the stored nonce (see `src/core/refresh-token.ts`).
 */
export interface RefreshState {
  /** base64url SHA-256 of the current refresh secret. */
  hash: string;
  /** Hash of the token the current one replaced; null before the first rotation. */
  previousHash: string | null;
  /** The random nonce the current secret was derived with (empty before the first rotation). */
  nonce: string;
  /** When the current token was issued (epoch ms, the engine's clock): the `iat` of its access token. */
  rotatedAtMs: number;
  /**
   * The nonce the previous token was derived with ('' when none): lets the token two rotations
   * back recompute the current pair within the grace window.
   */
  previousNonce: string;
  /**
   * `ancestorKey()` of the tokens older than the previous one, newest first, at most
   * `REFRESH_ANCESTOR_LIMIT`: presenting one of them is reuse (see `refreshDecision`).
   */
  ancestorKeys: string[];
  /**
   * When the rotation that issued the current token committed, epoch ms on the store's own clock
   * (Redis `TIME` inside the script; the process clock inside the SQLite write transaction), so a
   * stall between the engine's clock reading and the commit cannot eat the grace window.
   */
  committedAtMs: number;
}

/** The new family state a rotation writes when the presented token is the current one. */
export interface RefreshRotation {
  hash: string;
  nonce: string;
}

/**
 * What `rotateRefresh` did (the decision is `refreshDecision` in `src/core/refresh-rotation.ts`):
 * - `rotated`: the presented token was current; the rotation is written and the session touched.
 * - `replayed`: the presented token was the previous one (its successor, the current token, was
 *   never used), or the one before it within the grace window after its successor was used;
 *   nothing written.
 * - `reused`: the presented token is an ancestor whose successor was used, outside the grace
 *   window; the session is now revoked with reason `refresh-token-reused` (events
 *   `refresh.reused` and `revoked`).
 * - `rejected`: nothing written; `record` is null for an unknown session, else the session is not
 *   active at `nowMs`, has no refresh family, or the token is none the family knows.
 */
export type RefreshOutcome =
  | { kind: 'rotated' | 'replayed' | 'reused'; record: SessionRecord }
  | { kind: 'rejected'; record: SessionRecord | null };

/** The signing keyring, as an opaque JSON document with an optimistic-concurrency version. */
export interface KeyringDocument {
  /** 1 for the first saved document, +1 on every save. */
  version: number;
  json: string;
}

/** A record as it was when an event happened; secrets' hashes are never part of an event. */
export type SessionSnapshot = Omit<SessionRecord, 'secretHash' | 'refresh'>;

/** An event waiting in the store's durable outbox. */
export interface StoredEvent {
  /** Unique per event (stores use a UUID or their own sequence). */
  id: string;
  type: EventType;
  atMs: number;
  reason: string | null;
  session: SessionSnapshot;
  /** How many times this event has been claimed before (0 on first delivery). */
  attempts: number;
}

/** The consumer group of `engine.on(…)` without a group: the app's own listeners. */
export const DEFAULT_EVENT_GROUP = 'default';

const EVENT_GROUP_PATTERN = /^[A-Za-z0-9:_.-]{1,64}$/;

/**
 * A consumer group's name, checked: it goes into store keys, so 1 to 64 of A-Z a-z 0-9 : _ . -
 * (never braces or glob characters). Throws `ValidationError` naming `group` otherwise.
 */
export function checkEventGroup(group: unknown): string {
  if (typeof group !== 'string' || !EVENT_GROUP_PATTERN.test(group)) {
    throw new ValidationError('group', 'must be 1 to 64 characters of A-Z a-z 0-9 : _ . -');
  }
  return group;
}

export type LimitPolicy = 'evict' | 'refuse';

export interface CreateLimits {
  /** Active sessions one subject may hold. */
  perSubject?: { max: number; policy: LimitPolicy };
  /** Active sessions the whole store may hold. */
  global?: { max: number; policy: LimitPolicy };
}

export type CreateOutcome =
  | { ok: true; evictedIds: string[] }
  | { ok: false; scope: 'subject' | 'global'; max: number };

/**
 * A change to the top level of a session's data (`SessionStore.patchData`): keys written and keys
 * deleted; every other key keeps its stored value. A key is never in both lists.
 */
export interface DataPatch {
  /**
   * Keys to add or replace, each with its new value as JSON text exactly as `JSON.stringify`
   * wrote it. Stores keep that text byte for byte (no parse and re-encode of the value).
   * Entries, not an object, so a key such as `__proto__` is a plain key.
   */
  set: ReadonlyArray<readonly [key: string, valueJson: string]>;
  /** Keys to delete; keys the data does not have are ignored. */
  remove: readonly string[];
}

/**
 * What `patchData` did: `patched` with the record as written; `inactive` (nothing written) when
 * the session is unknown or not active at `nowMs`; `too-large` (nothing written) when the merged
 * data would be over the limit, with its size in bytes (UTF-8 of its JSON text).
 */
export type PatchOutcome =
  | { kind: 'patched'; record: SessionRecord }
  | { kind: 'inactive' }
  | { kind: 'too-large'; sizeBytes: number };

export interface ListPage {
  records: SessionRecord[];
  /** Opaque; pass it back to get the next page. Null on the last page. */
  nextCursor: string | null;
}

export interface SweepResult {
  /** Sessions this call marked expired (an `expired` event was appended for each). */
  expired: number;
  /** Ended sessions (tombstones) this call deleted. */
  purged: number;
  /** True when a limit was hit and another call would find more work. */
  more: boolean;
}

/**
 * The contract every store implements. "Active" below always means `status === 'active'` and
 * `expiresAtMs > nowMs`: a session past its deadline is treated as ended even before the sweeper
 * has marked it. Every method that changes sessions appends its events to the store's durable
 * outbox in the same atomic step, so an event is never lost and never emitted for a change that
 * did not happen. Every method rejects with `StoreUnavailableError` when the store cannot be
 * reached; it then changed nothing that a caller can observe.
 *
 * The conformance suite in `sessionkeeper/testing` checks all of this for each store.
 */
export interface SessionStore {
  /** Where the data lives, for logs and errors (e.g. `sqlite:./data/sessionkeeper.db`). Never a password. */
  readonly location: string;

  /** False only for stores that lose everything on restart (memory); the engine warns about those. */
  readonly durable: boolean;

  /**
   * Optional: a new session id for `subject`, for stores whose layout needs the id to carry
   * placement (e.g. a Redis Cluster hash slot). Must match `isValidSessionId`. When absent the
   * engine uses `generateSessionId()`.
   */
  newSessionId?(subject: string): string;

  /**
   * Optional: calls `onEvents` soon after events were appended to the outbox by any instance
   * (e.g. PostgreSQL LISTEN/NOTIFY), so delivery need not wait for the next poll. Best effort: the
   * engine keeps polling. Returns the function that stops the calls.
   */
  watchEvents?(onEvents: () => void): () => void;
  /** Resolves when the store answers; rejects with `StoreUnavailableError` naming `location`. */
  ping(): Promise<void>;

  /**
   * Inserts `record` (status active) unless a limit refuses it, atomically with the limit check:
   * concurrent creations for one subject, from any number of processes, never leave more than
   * `limits.perSubject.max` active sessions. When a limit with policy `evict` is reached, the
   * least recently active sessions in that scope are revoked with reason `evicted` (event
   * `evicted`) until the new one fits. Appends a `created` event.
   */
  create(record: SessionRecord, limits: CreateLimits, nowMs: number): Promise<CreateOutcome>;

  /** The record with this id whatever its status, or null. One round trip, no write. */
  get(id: string): Promise<SessionRecord | null>;

  /**
   * Records activity: sets `lastActiveAtMs = nowMs` and recomputes `expiresAtMs`, only if the
   * session is active at `nowMs`. Returns false (and writes nothing) otherwise.
   */
  touch(id: string, nowMs: number): Promise<boolean>;

  /** Replaces the data of an active session. Returns the updated record, or null if not active. */
  setData(id: string, dataJson: string, nowMs: number): Promise<SessionRecord | null>;

  /**
   * Merges `patch` into the data of an active session in ONE atomic step: the stored data is
   * read, `patch.remove` deleted, `patch.set` written (replacing or appending top-level keys) and
   * the result stored, with no other write to the session in between, from any process. So
   * concurrent patches of different keys all survive; of concurrent patches of one key, the last
   * to commit wins. The limit is checked on the merged result inside that step: when its JSON
   * text is over `maxDataBytes` bytes (UTF-8) nothing is written (`too-large`). Not activity:
   * `lastActiveAtMs` and `expiresAtMs` are unchanged, like `setData`. No event is appended.
   */
  patchData(
    id: string,
    patch: DataPatch,
    nowMs: number,
    maxDataBytes: number,
  ): Promise<PatchOutcome>;

  /**
   * Adds or renews (`untilMs` a number) or removes (`untilMs` null) one lease of an active session,
   * drops leases already past, counts as activity (`lastActiveAtMs = nowMs`) and recomputes
   * `expiresAtMs`. Returns the updated record, or null if the session is not active.
   */
  setLease(
    id: string,
    leaseId: string,
    untilMs: number | null,
    nowMs: number,
  ): Promise<SessionRecord | null>;

  /**
   * Revokes one active session (status `revoked`, `endReason = reason`, `endedAtMs = nowMs`) and
   * appends a `revoked` event. Of concurrent callers exactly one receives the record (as revoked);
   * the others, and callers for sessions already ended or unknown, receive null.
   */
  revoke(id: string, reason: string, nowMs: number): Promise<SessionRecord | null>;

  /** Revokes every active session of `subject` as `revoke` does; returns those it revoked. */
  revokeSubject(subject: string, reason: string, nowMs: number): Promise<SessionRecord[]>;

  /** Active sessions of `subject`, most recently created first. */
  list(
    subject: string,
    page: { limit: number; cursor: string | null },
    nowMs: number,
  ): Promise<ListPage>;

  /** Number of active sessions. */
  countActive(nowMs: number): Promise<number>;

  /**
   * Marks up to `limit` sessions with `status = active` and `expiresAtMs <= nowMs` as expired
   * (`endReason` `absolute` when `expiresAtMs >= absoluteExpiresAtMs`, else `idle`: see
   * `expiryReason`; `endedAtMs` = `expiresAtMs`) and appends one `expired` event for each; exactly one of any number of
   * concurrent sweepers claims a given session. Then deletes up to `limit` ended sessions whose
   * `endedAtMs <= purgeBeforeMs`. Each batch is short, so validations are never blocked for long.
   */
  sweep(nowMs: number, limit: number, purgeBeforeMs: number): Promise<SweepResult>;

  /**
   * Rotates the refresh family of session `id` when `presentedHash` is its current hash: in one
   * atomic step applies `applyRotation` (`previousHash` = presented, the old previous hash joins
   * the ancestors, `rotatedAtMs` = `nowMs`, `committedAtMs` = the store's own clock read inside the
   * atomic step), records activity as `touch` does, and appends a `refresh.rotated` event (reason
   * null). Of concurrent callers presenting one token exactly one rotates; the others then find it
   * to be the previous token (`replayed`). The grace window (`graceMs`) is measured on the
   * store's clock from `committedAtMs`. See `RefreshOutcome` for the other cases;
   * `reused` revokes only this one session, appending `refresh.reused` (reason
   * `refresh-token-reused`) and then `revoked`. A failure rejects with `StoreUnavailableError`
   * having written nothing.
   */
  rotateRefresh(
    id: string,
    presentedHash: string,
    next: RefreshRotation,
    nowMs: number,
    graceMs: number,
  ): Promise<RefreshOutcome>;

  /** The stored keyring, or null before the first save. */
  loadKeyring(): Promise<KeyringDocument | null>;

  /**
   * Saves the keyring if the stored version is still `expectedVersion` (0: none saved yet), as
   * version `expectedVersion + 1`. Returns false, writing nothing, when another writer got there first.
   */
  saveKeyring(expectedVersion: number, json: string): Promise<boolean>;

  /**
   * Claims for consumer group `group` (default `DEFAULT_EVENT_GROUP`) up to `limit` outbox events
   * that the group has not acknowledged and that no instance of the group holds: first claims
   * whose hold ran out (oldest first; `attempts` counts the earlier claims by this group), then
   * events the group never claimed, oldest first. Each is held for the group for `leaseMs`. Every
   * group gets every event, independently of the others; of concurrent claimers of one group,
   * each event goes to exactly one. Claiming registers the group (see `forgetEventGroups`): a
   * group seen for the first time starts with every event still in the outbox.
   */
  claimEvents(
    nowMs: number,
    limit: number,
    leaseMs: number,
    group?: string,
  ): Promise<StoredEvent[]>;

  /**
   * Marks events as delivered to `group`: the group never gets them again. An event is deleted
   * once every registered group acknowledged it. Unknown ids are ignored.
   */
  ackEvents(ids: readonly string[], group?: string): Promise<void>;

  /**
   * Holds events `group` claimed until `retryAtMs` (epoch ms), after which they are claimable by
   * the group again (its retry schedule). Ids the group does not hold are ignored.
   */
  retryEvents(ids: readonly string[], retryAtMs: number, group?: string): Promise<void>;

  /**
   * Forgets the groups that claimed nothing since `seenBeforeMs` (their claims and position go;
   * events only they still needed are deleted) and returns their names. A forgotten group that
   * claims again is a new group. With no group registered at all, events whose time is before
   * `seenBeforeMs` are deleted too, so an outbox nobody reads stays bounded.
   */
  forgetEventGroups(seenBeforeMs: number): Promise<string[]>;

  /** Releases connections and file handles. Further calls reject. */
  close(): Promise<void>;
}
