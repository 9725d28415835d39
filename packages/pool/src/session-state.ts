// The records a pool keeps: per key (account) a group of slots, each slot holding at most one
// session in service, and the callers waiting for one of them.
import type { PoolEvents } from './events.js';
import type { ExpiryVerdict, SessionContext } from './kind.js';

/** Why a session still in service is replaced: it is past its age or its use limit. */
export type WornReason = 'max-age' | 'max-uses';

/** One session made for a slot: in service, being made, or retired and waiting to be destroyed. */
export interface Entry<S> {
  readonly id: number;
  readonly slot: Slot<S>;
  session: S;
  ctx: SessionContext;
  readonly controller: AbortController;
  readonly createdAtMs: number;
  readonly retireAtMs: number;
  /** How long its login (or resume) took, ms. */
  createMs: number;
  /** `performance.now()` when it came into service. */
  readyAtPerf: number;
  /**
   * `performance.now()` of the latest moment it is known to have been logged in: its login, a
   * probe that passed, or the start of an operation that met no expiry.
   */
  goodAtPerf: number;
  resumed: boolean;
  inUse: number;
  uses: number;
  /** A probe or refresh (or an in-place login) is running: not handed out meanwhile. */
  busy: boolean;
  expired: ExpiryVerdict | undefined;
  /** The expiry was acted on (event sent, replacement started). */
  handled: boolean;
  retired: boolean;
  destroyed: boolean;
  lastUsedAtMs: number;
  lastCheckedAtMs: number;
  lastRefreshedAtMs: number;
  checkDelayMs: number;
  refreshDelayMs: number;
  /** JSON of the state last saved, to skip writes that change nothing. */
  savedState: string | undefined;
  /** `observe` calls still judging an answer: an operation's outcome waits for them. */
  observing: Set<Promise<void>>;
  /** Called once when the session is first marked expired (the pool stops waiting on it). */
  onExpired: Set<() => void>;
}

/** Marks `entry` expired (the first verdict stays) and tells who waits for that. */
export function markExpired(entry: Entry<unknown>, verdict: ExpiryVerdict): void {
  if (entry.expired) return;
  entry.expired = verdict;
  for (const notify of [...entry.onExpired]) notify();
  entry.onExpired.clear();
}

/** One of a key's `sessionsPerKey` places for a session. */
export interface Slot<S> {
  readonly group: Group<S>;
  readonly id: string;
  entry: Entry<S> | undefined;
  /** The one login (or resume) of this slot in progress: never two at once. */
  filling: Promise<void> | undefined;
  resumeState: { state: unknown } | undefined;
  /** Why the next session of this slot is a replacement, for the `replaced` event. */
  replacing: PoolEvents['replaced']['reason'] | undefined;
  failures: number;
  retryAtMs: number;
  removed: boolean;
  /** Saves and deletes of this slot's state, one after the other. */
  persisting: Promise<void>;
}

/** A caller of `use` waiting for a session. */
export interface Waiter<S> {
  /** A rerun after an expiry detected at this time prefers sessions known good since. */
  freshAfter: number | undefined;
  resolve(entry: Entry<S>): void;
  reject(error: unknown): void;
}

/** Everything the pool holds for one key. */
export interface Group<S> {
  readonly key: string;
  readonly slots: Slot<S>[];
  readonly waiters: Waiter<S>[];
  loaded: boolean;
  loading: boolean;
  /** The last failure to make a session for this key; the cause of timeouts and breaker errors. */
  lastError: unknown;
  /** Sessions of this key found expired, for `stats()`. */
  expiries: number;
  /** Operations of this key that recovered from an expiry, for `stats()`. */
  recoveries: number;
}

export function createGroup<S>(key: string): Group<S> {
  return {
    key,
    slots: [],
    waiters: [],
    loaded: false,
    loading: false,
    lastError: undefined,
    expiries: 0,
    recoveries: 0,
  };
}

/** An empty slot of `group`; the caller adds it to the group. */
export function createSlot<S>(group: Group<S>, id: string): Slot<S> {
  return {
    group,
    id,
    entry: undefined,
    filling: undefined,
    resumeState: undefined,
    replacing: undefined,
    failures: 0,
    retryAtMs: 0,
    removed: false,
    persisting: Promise.resolve(),
  };
}

/** The lowest slot id not taken in `group`. */
export function freeSlotId(group: Group<unknown>): string {
  for (let n = 0; ; n++) {
    const id = String(n);
    if (!group.slots.some((slot) => slot.id === id)) return id;
  }
}

/** Whether anything of `group` can still serve a waiting caller without a new login. */
export function capacityComing(group: Group<unknown>): boolean {
  return group.slots.some(
    (slot) => slot.filling !== undefined || (slot.entry !== undefined && !slot.entry.expired),
  );
}

/** Whether `entry` is past its use limit (`maxUses`) or its age (`now`, ms) and due a successor. */
export function wornReason(
  entry: Entry<unknown>,
  now: number,
  maxUses: number | undefined,
): WornReason | undefined {
  if (maxUses !== undefined && entry.uses >= maxUses) return 'max-uses';
  if (now >= entry.retireAtMs) return 'max-age';
  return undefined;
}
