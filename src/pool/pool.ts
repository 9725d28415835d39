import { AsyncLocalStorage } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';
import { type Logger, pino } from 'pino';
import { type Clock, systemClock } from '../core/clock.js';
import {
  PoolClosedError,
  PoolTimeoutError,
  UpstreamKeptExpiringError,
  UpstreamSessionExpiredError,
  UpstreamUnavailableError,
  ValidationError,
} from '../core/errors.js';
import { checkSeconds, checkSubject } from '../core/input.js';
import { runDetectors } from './detectors.js';
import {
  type BreakerState,
  type ExpiryPhase,
  PoolEmitter,
  type PoolEventName,
  type PoolEvents,
  type PoolListener,
  type RetireReason,
} from './events.js';
import type { ExpiryVerdict, ObservedResponse, SessionContext, SessionKind } from './kind.js';
import { createPoolMetrics, type PoolMetrics } from './metrics.js';
import {
  type ResolvedPoolOptions,
  resolvePoolOptions,
  type SessionPoolOptions,
} from './options.js';
import type { PoolStateStore } from './state-store.js';

/** What an operation learns about the session it was given. */
export interface OperationInfo {
  key: string;
  /** The slot (one of the key's `sessionsPerKey` places) the session fills. */
  slotId: string;
  /** 1 on the first run; higher when an earlier run met an expired session. */
  attempt: number;
  /** Aborted when the session is destroyed (the pool closing, or the session retired and idle). */
  signal: AbortSignal;
}

/** The caller's work with one upstream session. It may run again (with a fresh session) if the session turns out expired. */
export type PoolOperation<S, T> = (session: S, info: OperationInfo) => Promise<T> | T;

export interface UseOptions {
  /** How long to wait for a session, each attempt. Default: the pool's `acquireTimeoutSeconds`. */
  timeoutSeconds?: number;
  /** Stops waiting for a session (rejecting with the signal's reason). A running operation is not interrupted. */
  signal?: AbortSignal;
}

export interface PoolStats {
  /** Sessions in service (idle, in use, or being checked). */
  sessions: number;
  /** Of those, the ones not known to be expired. */
  healthy: number;
  /** Sessions running at least one operation. */
  inUse: number;
  /** Operations waiting for a session. */
  waiting: number;
  /** Logins in progress. */
  loggingIn: number;
  breaker: BreakerState;
}

export interface MaintenanceSummary {
  /** Idle sessions probed. */
  checked: number;
  /** Idle sessions refreshed. */
  refreshed: number;
  /** Sessions past their age or use limit whose replacement started. */
  replacing: number;
}

interface Entry<S> {
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
}

interface Slot<S> {
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

interface Waiter<S> {
  /** A rerun after an expiry detected at this time prefers sessions known good since. */
  freshAfter: number | undefined;
  resolve(entry: Entry<S>): void;
  reject(error: unknown): void;
}

interface Group<S> {
  readonly key: string;
  readonly slots: Slot<S>[];
  readonly waiters: Waiter<S>[];
  loaded: boolean;
  loading: boolean;
  /** The last failure to make a session for this key; the cause of timeouts and breaker errors. */
  lastError: unknown;
}

interface Lease {
  readonly entry: Entry<unknown>;
  verdict: ExpiryVerdict | undefined;
  active: boolean;
}

/**
 * Which operation a detection belongs to: a session shared by several operations (HTTP) reruns
 * only the one whose own answer showed the expiry.
 */
const leases = new AsyncLocalStorage<Lease>();

/** Background probes and refreshes running at once, so a pool of many sessions does not flood the upstream. */
const MAX_BACKGROUND_TASKS = 8;
/** First wait after a failed login; doubles per failure up to the breaker's cooldown. */
const BACKOFF_BASE_SECONDS = 0.1;

/**
 * A pool of logged-in upstream sessions, per key (an account). `use` hands out a healthy session,
 * and when a detector says the session expired (before use or in the operation's own answers) it
 * retires it, makes a fresh one and runs the operation again, up to `maxAttempts`.
 */
export function createSessionPool<S, State = unknown>(
  options: SessionPoolOptions<S, State>,
): SessionPool<S, State> {
  return new SessionPool(options);
}

export class SessionPool<S, State = unknown> {
  readonly #kind: SessionKind<S, State>;
  readonly #o: ResolvedPoolOptions;
  readonly #store: PoolStateStore<State> | undefined;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #events: PoolEmitter;
  readonly #metrics: PoolMetrics;
  readonly #groups = new Map<string, Group<S>>();
  readonly #waitingGroups = new Set<Group<S>>();
  /** Every session made and not yet destroyed (in service, retired but still in use, or being made). */
  readonly #entries = new Set<Entry<S>>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #breaker = { state: 'closed' as BreakerState, failures: 0, openUntilMs: 0 };
  #slotCount = 0;
  #fillsInFlight = 0;
  #backgroundTasks = 0;
  /** Operations holding a session right now. */
  #active = 0;
  #nextEntryId = 1;
  #closed = false;
  #closing: Promise<void> | undefined;
  #onIdle: (() => void) | undefined;
  #ticker: NodeJS.Timeout | undefined;
  #wake: { atMs: number; timer: NodeJS.Timeout } | undefined;

  constructor(options: SessionPoolOptions<S, State>) {
    this.#o = resolvePoolOptions(options);
    this.#kind = options.kind;
    this.#store = options.state;
    this.#clock = options.clock ?? systemClock;
    this.#logger = (options.logger ?? pino({ level: 'silent' })).child({
      pool: this.#o.name,
      kind: this.#kind.name,
    });
    this.#events = new PoolEmitter(this.#logger);
    this.#metrics = createPoolMetrics(options.registry, {
      name: this.#o.name,
      healthyCount: () => this.stats().healthy,
      inUseCount: () => this.stats().inUse,
      waitingCount: () => this.stats().waiting,
    });
    if (this.#o.background) {
      const shortest = Math.min(
        this.#o.checkIntervalSeconds,
        this.#o.refreshIntervalSeconds,
        this.#o.maxAgeSeconds ?? Number.POSITIVE_INFINITY,
      );
      const tickMs = Math.min(1000, Math.max(10, (shortest * 1000) / 5));
      this.#ticker = setInterval(() => {
        this.maintain().catch((err: unknown) =>
          this.#logger.error({ err }, 'pool maintenance failed'),
        );
      }, tickMs);
      this.#ticker.unref();
    }
  }

  /**
   * Runs `operation` with a healthy session of `key`. An expiry seen in the operation's answers
   * (or thrown as `UpstreamSessionExpiredError`) retires the session and reruns the operation with
   * a fresh one; after `maxAttempts` it rejects with `UpstreamKeptExpiringError`. Any other error
   * of the operation reaches the caller unchanged, without a rerun. Rejects with
   * `PoolTimeoutError`, `UpstreamUnavailableError` or `PoolClosedError` when no session can be had.
   */
  async use<T>(key: string, operation: PoolOperation<S, T>, options: UseOptions = {}): Promise<T> {
    checkSubject(key, 'key');
    if (typeof operation !== 'function')
      throw new ValidationError('operation', 'must be a function');
    const timeoutSeconds =
      options.timeoutSeconds === undefined
        ? this.#o.acquireTimeoutSeconds
        : checkSeconds(options.timeoutSeconds, 'timeoutSeconds');
    const group = this.#group(key);
    const { maxAttempts } = this.#o;
    let detectedAt: number | undefined;
    let lastReason = '';
    let counted = 0;
    // Runs on a stale session do not count (below); each retires one, so this bounds them.
    const maxRuns = maxAttempts + this.#o.sessionsPerKey;
    for (let attempt = 1; attempt <= maxRuns; attempt++) {
      const entry = await this.#acquire(group, timeoutSeconds, options.signal, detectedAt);
      const startedAt = performance.now();
      // A session already in service when the last expiry was seen, and not seen healthy since:
      // its siblings often expire together, so meeting another expiry on it is not the upstream
      // expiring fresh sessions, and is not counted against maxAttempts.
      const stale = detectedAt !== undefined && entry.goodAtPerf < detectedAt;
      const recovery = detectedAt === undefined ? undefined : this.#recoveryOf(entry, detectedAt);
      const lease: Lease = { entry: entry as Entry<unknown>, verdict: undefined, active: true };
      const info: OperationInfo = {
        key,
        slotId: entry.slot.id,
        attempt,
        signal: entry.controller.signal,
      };
      let result: T | undefined;
      let failure: { error: unknown } | undefined;
      try {
        result = await leases.run(lease, () => operation(entry.session, info));
      } catch (error) {
        failure = { error };
      }
      lease.active = false;
      const verdict =
        lease.verdict ??
        expiryOf(failure?.error, key) ??
        // One operation per session (a browser page): any detection while it ran is its own.
        (this.#kind.concurrency === 1 ? entry.expired : undefined);
      if (verdict) entry.expired ??= verdict; // before the release, so no one else is given it
      this.#release(entry);
      if (!verdict) {
        if (entry.goodAtPerf < startedAt) entry.goodAtPerf = startedAt;
        if (recovery) this.#recovered(entry, attempt, recovery);
        if (failure) throw failure.error;
        return result as T;
      }
      lastReason = verdict.reason;
      detectedAt = performance.now();
      // The refill it starts is tracked; the rerun below waits for it through acquire.
      void this.#onExpired(entry, verdict, 'operation');
      if (!stale) counted++;
      if (counted >= maxAttempts) {
        throw new UpstreamKeptExpiringError(key, attempt, lastReason);
      }
    }
    throw new UpstreamKeptExpiringError(key, maxRuns, lastReason);
  }

  on<E extends PoolEventName>(name: E, listener: PoolListener<E>): this {
    this.#events.on(name, listener);
    return this;
  }

  off<E extends PoolEventName>(name: E, listener: PoolListener<E>): this {
    this.#events.off(name, listener);
    return this;
  }

  stats(): PoolStats {
    let sessions = 0;
    let healthy = 0;
    let inUse = 0;
    let waiting = 0;
    let loggingIn = 0;
    for (const group of this.#groups.values()) {
      waiting += group.waiters.length;
      for (const slot of group.slots) {
        if (slot.filling) loggingIn++;
        const entry = slot.entry;
        if (!entry) continue;
        sessions++;
        if (!entry.expired) healthy++;
        if (entry.inUse > 0) inUse++;
      }
    }
    return { sessions, healthy, inUse, waiting, loggingIn, breaker: this.#breaker.state };
  }

  /**
   * One pass of the background work, now: probes idle sessions due a check, refreshes those due a
   * refresh, starts the replacement of sessions past their age or use limit, and resolves when
   * what it started has finished (replacements included). The timer calls it; tests call it
   * after moving an injected clock. A session in use is never probed or refreshed.
   */
  async maintain(): Promise<MaintenanceSummary> {
    const summary: MaintenanceSummary = { checked: 0, refreshed: 0, replacing: 0 };
    if (this.#closed) return summary;
    const now = this.#clock.now();
    const started: Promise<void>[] = [];
    for (const group of this.#groups.values()) {
      for (const slot of group.slots) {
        const entry = slot.entry;
        if (!entry || entry.busy || entry.retired) continue;
        if (entry.expired) {
          // Marked by an answer no operation claimed (a page event); act on it once idle.
          if (!entry.handled && entry.inUse === 0) {
            const refill = this.#onExpired(entry, entry.expired, 'operation');
            if (refill) started.push(refill);
          }
          continue;
        }
        const worn = this.#worn(entry, now);
        if (worn) {
          const fill = slot.filling ?? this.#startRolling(slot, worn);
          if (fill) {
            summary.replacing++;
            started.push(fill);
          }
          continue;
        }
        if (entry.inUse > 0 || slot.filling || this.#backgroundTasks >= MAX_BACKGROUND_TASKS)
          continue;
        if (now - entry.lastRefreshedAtMs >= entry.refreshDelayMs) {
          summary.refreshed++;
          started.push(this.#startTask(entry, 'refresh'));
        } else if (
          now - Math.max(entry.lastUsedAtMs, entry.lastCheckedAtMs) >=
          entry.checkDelayMs
        ) {
          summary.checked++;
          started.push(this.#startTask(entry, 'check'));
        }
      }
    }
    await Promise.all(started);
    return summary;
  }

  /**
   * Stops the timers, rejects waiting callers with `PoolClosedError`, lets running operations
   * finish, saves every live session's state (so a restart resumes it), then destroys the sessions
   * and closes the kind. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  // ---- handing out ------------------------------------------------------------------------

  #group(key: string): Group<S> {
    let group = this.#groups.get(key);
    if (!group) {
      group = { key, slots: [], waiters: [], loaded: false, loading: false, lastError: undefined };
      this.#groups.set(key, group);
    }
    return group;
  }

  #acquire(
    group: Group<S>,
    timeoutSeconds: number,
    signal: AbortSignal | undefined,
    freshAfter: number | undefined,
  ): Entry<S> | Promise<Entry<S>> {
    if (this.#closed) throw new PoolClosedError(group.key);
    if (signal?.aborted) throw signal.reason;
    if (group.loaded && group.waiters.length === 0) {
      const entry = this.#pick(group, freshAfter);
      if (entry) {
        this.#checkout(entry);
        return entry;
      }
    }
    return new Promise<Entry<S>>((resolve, reject) => {
      const onAbort = () => {
        this.#dropWaiter(group, waiter);
        waiter.reject(signal?.reason);
      };
      const timer = setTimeout(() => {
        this.#dropWaiter(group, waiter);
        const cause = group.lastError;
        waiter.reject(
          new PoolTimeoutError(group.key, timeoutSeconds, cause === undefined ? {} : { cause }),
        );
      }, timeoutSeconds * 1000);
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const waiter: Waiter<S> = {
        freshAfter,
        resolve: (entry) => {
          done();
          resolve(entry);
        },
        reject: (error) => {
          done();
          reject(error);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      group.waiters.push(waiter);
      this.#waitingGroups.add(group);
      if (group.loaded) this.#pump(group);
      else this.#load(group);
    });
  }

  #dropWaiter(group: Group<S>, waiter: Waiter<S>): void {
    const index = group.waiters.indexOf(waiter);
    if (index !== -1) group.waiters.splice(index, 1);
    if (group.waiters.length === 0) this.#waitingGroups.delete(group);
  }

  /**
   * The least busy session of `group` that may take one more operation now; with `freshAfter`
   * (a rerun), one known good since then if there is one.
   */
  #pick(group: Group<S>, freshAfter?: number): Entry<S> | undefined {
    const { maxUses, probeAfterIdleSeconds } = this.#o;
    const concurrency = this.#kind.concurrency;
    let best: Entry<S> | undefined;
    for (const slot of group.slots) {
      const entry = slot.entry;
      if (!entry || entry.busy || entry.expired || entry.inUse >= concurrency) continue;
      if (maxUses !== undefined && entry.uses >= maxUses) continue;
      if (
        probeAfterIdleSeconds !== undefined &&
        entry.inUse === 0 &&
        this.#clock.now() - Math.max(entry.lastUsedAtMs, entry.lastCheckedAtMs) >=
          probeAfterIdleSeconds * 1000
      ) {
        void this.#startTask(entry, 'before-use');
        continue;
      }
      if (!best) best = entry;
      else if (
        freshAfter !== undefined &&
        entry.goodAtPerf >= freshAfter !== best.goodAtPerf >= freshAfter
      ) {
        if (entry.goodAtPerf >= freshAfter) best = entry;
      } else if (entry.inUse < best.inUse) best = entry;
    }
    return best;
  }

  #checkout(entry: Entry<S>): void {
    entry.inUse++;
    entry.uses++;
    this.#active++;
    const { maxUses, maxAgeSeconds } = this.#o;
    const worn =
      maxUses !== undefined && entry.uses >= maxUses
        ? 'max-uses'
        : maxAgeSeconds !== undefined && this.#clock.now() >= entry.retireAtMs
          ? 'max-age'
          : undefined;
    if (worn && !entry.slot.filling) void this.#startRolling(entry.slot, worn);
  }

  #release(entry: Entry<S>): void {
    entry.inUse--;
    this.#active--;
    entry.lastUsedAtMs = this.#clock.now();
    if (entry.retired) {
      if (entry.inUse === 0) this.#destroy(entry);
    } else if (entry.expired && !entry.handled && entry.inUse === 0) {
      void this.#onExpired(entry, entry.expired, 'operation');
    }
    if (this.#active === 0 && this.#onIdle) this.#onIdle();
    const group = entry.slot.group;
    if (group.waiters.length > 0) this.#pump(group);
  }

  /** Serves waiting callers in order, then starts the logins the rest need. */
  #pump(group: Group<S>): void {
    if (this.#closed) return;
    while (group.waiters.length > 0) {
      const entry = this.#pick(group, group.waiters[0]?.freshAfter);
      if (!entry) break;
      const waiter = group.waiters.shift() as Waiter<S>;
      this.#checkout(entry);
      waiter.resolve(entry);
    }
    if (group.waiters.length === 0) {
      this.#waitingGroups.delete(group);
      return;
    }
    this.#grow(group);
  }

  #pumpAll(): void {
    for (const group of [...this.#waitingGroups]) this.#pump(group);
  }

  /** Starts as many logins as the waiting callers of `group` need, within the caps. */
  #grow(group: Group<S>): void {
    const concurrency = this.#kind.concurrency;
    let coming = 0;
    for (const slot of group.slots) {
      if (slot.filling) coming += concurrency;
      else if (slot.entry?.busy && !slot.entry.expired) coming += concurrency - slot.entry.inUse;
    }
    let need = group.waiters.length - coming;
    const now = this.#clock.now();
    for (const slot of group.slots) {
      if (need <= 0) break;
      if (slot.filling) continue;
      const worn = slot.entry && !slot.entry.expired ? this.#worn(slot.entry, now) : undefined;
      if (slot.entry && !worn) continue;
      if (worn) slot.replacing = worn;
      if (this.#startFill(slot)) need -= concurrency;
    }
    while (need > 0 && group.slots.length < this.#o.sessionsPerKey) {
      // While logins fail, a new slot would only be one more login to fail: the empty slot
      // backing off is retried instead.
      if (this.#breaker.failures > 0 && group.slots.some((slot) => !slot.entry)) break;
      if (this.#slotCount >= this.#o.maxSessions && !this.#evictFor(group)) break;
      const slot = this.#addSlot(group, this.#freeSlotId(group));
      if (!this.#startFill(slot)) break;
      need -= concurrency;
    }
    if (this.#breaker.state === 'open' && !this.#capacityComing(group)) {
      this.#rejectWaiters(group, this.#unavailable(group, now));
    }
  }

  /** Whether anything of `group` can still serve a waiting caller without a new login. */
  #capacityComing(group: Group<S>): boolean {
    return group.slots.some(
      (slot) => slot.filling !== undefined || (slot.entry !== undefined && !slot.entry.expired),
    );
  }

  #rejectWaiters(group: Group<S>, error: Error): void {
    const waiters = group.waiters.splice(0);
    this.#waitingGroups.delete(group);
    for (const waiter of waiters) waiter.reject(error);
  }

  #unavailable(group: Group<S>, now: number): UpstreamUnavailableError {
    const retryAfter = Math.max(0.001, (this.#breaker.openUntilMs - now) / 1000);
    const cause = group.lastError;
    return new UpstreamUnavailableError(
      group.key,
      retryAfter,
      cause === undefined ? {} : { cause },
    );
  }

  #recoveryOf(entry: Entry<S>, detectedAt: number): { recoveryMs: number; loginMs: number } {
    const now = performance.now();
    const loginMs =
      entry.readyAtPerf > detectedAt ? Math.min(entry.createMs, entry.readyAtPerf - detectedAt) : 0;
    return { recoveryMs: now - detectedAt, loginMs };
  }

  #recovered(
    entry: Entry<S>,
    attempts: number,
    { recoveryMs, loginMs }: { recoveryMs: number; loginMs: number },
  ): void {
    const key = entry.slot.group.key;
    this.#metrics.recovery(recoveryMs / 1000);
    this.#logger.info(
      { key, slotId: entry.slot.id, attempts, recoveryMs, loginMs },
      `recovered in ${Math.round(recoveryMs)} ms`,
    );
    this.#events.emit('recovered', { key, slotId: entry.slot.id, attempts, recoveryMs, loginMs });
  }

  // ---- slots and logins -------------------------------------------------------------------

  /** Loads the persisted slots of a key on its first use; they are resumed (and probed) on demand. */
  #load(group: Group<S>): void {
    if (group.loading) return;
    group.loading = true;
    const finish = () => {
      group.loaded = true;
      group.loading = false;
      this.#pump(group);
    };
    const store = this.#store;
    if (!store) {
      finish();
      return;
    }
    this.#track(
      (async () => {
        try {
          const persisted = await store.load(group.key);
          for (const { slotId, state } of persisted) {
            if (typeof slotId !== 'string' || group.slots.some((slot) => slot.id === slotId))
              continue;
            if (group.slots.length >= this.#o.sessionsPerKey) break;
            if (this.#slotCount >= this.#o.maxSessions) break;
            this.#addSlot(group, slotId).resumeState = { state };
          }
        } catch (error) {
          this.#stateError(group.key, undefined, 'load', error);
        }
        finish();
      })(),
    );
  }

  #addSlot(group: Group<S>, id: string): Slot<S> {
    const slot: Slot<S> = {
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
    group.slots.push(slot);
    this.#slotCount++;
    return slot;
  }

  #freeSlotId(group: Group<S>): string {
    for (let n = 0; ; n++) {
      const id = String(n);
      if (!group.slots.some((slot) => slot.id === id)) return id;
    }
  }

  /** Makes room under `maxSessions` by dropping an idle slot of another key; false if none. */
  #evictFor(group: Group<S>): boolean {
    let victim: Slot<S> | undefined;
    for (const other of this.#groups.values()) {
      if (other === group || other.waiters.length > 0) continue;
      for (const slot of other.slots) {
        if (slot.filling) continue;
        const entry = slot.entry;
        if (!entry) {
          victim = slot;
          break;
        }
        if (entry.inUse > 0 || entry.busy) continue;
        if (!victim?.entry || entry.lastUsedAtMs < victim.entry.lastUsedAtMs) victim = slot;
      }
      if (victim && !victim.entry) break;
    }
    if (!victim) return false;
    victim.removed = true;
    const slots = victim.group.slots;
    slots.splice(slots.indexOf(victim), 1);
    this.#slotCount--;
    if (victim.entry) this.#retire(victim.entry, 'evicted');
    this.#forget(victim);
    return true;
  }

  /** Starts the rolling replacement of a worn session: it serves until its successor is ready. */
  #startRolling(slot: Slot<S>, reason: 'max-age' | 'max-uses'): Promise<void> | undefined {
    if (slot.filling) return slot.filling;
    slot.replacing = reason;
    return this.#startFill(slot);
  }

  /**
   * Starts the one login of `slot` (or the in-place login of `relogin`), unless one runs, the slot
   * is backing off after a failure, or the breaker holds logins back.
   */
  #startFill(slot: Slot<S>, relogin?: Entry<S>): Promise<void> | undefined {
    if (slot.filling) return slot.filling;
    if (this.#closed || slot.removed) return undefined;
    const now = this.#clock.now();
    if (now < slot.retryAtMs) {
      this.#wakeAt(slot.retryAtMs);
      return undefined;
    }
    if (!this.#breakerAllows(now)) return undefined;
    this.#fillsInFlight++;
    const fill = this.#fill(slot, relogin);
    slot.filling = fill;
    this.#track(fill);
    return fill;
  }

  async #fill(slot: Slot<S>, relogin: Entry<S> | undefined): Promise<void> {
    const started = performance.now();
    let entry: Entry<S> | undefined;
    let failure: { error: unknown } | undefined;
    try {
      entry = relogin ? await this.#relogin(relogin) : await this.#make(slot);
    } catch (error) {
      failure = { error };
    }
    this.#fillsInFlight--;
    slot.filling = undefined;
    if (failure) this.#fillFailed(slot, failure.error, relogin);
    else if (entry)
      this.#installed(slot, entry, performance.now() - started, relogin !== undefined);
    this.#pumpAll();
  }

  /** Resumes the slot's persisted state (probing it), or logs in. */
  async #make(slot: Slot<S>): Promise<Entry<S>> {
    const resume = slot.resumeState;
    if (resume) {
      slot.resumeState = undefined;
      const entry = this.#newEntry(slot);
      let resumed = false;
      try {
        entry.session = await this.#bounded(entry, () =>
          this.#kind.create(entry.ctx, resume.state as State),
        );
        resumed = true;
      } catch (err) {
        this.#discard(entry);
        this.#logger.warn(
          { key: slot.group.key, slotId: slot.id, err },
          'persisted state could not be resumed; logging in',
        );
      }
      if (resumed) {
        entry.expired = undefined;
        let verdict: ExpiryVerdict | undefined;
        try {
          verdict = (await this.#probe(entry, 'check')) ?? entry.expired;
        } catch (error) {
          // The upstream did not answer: the state may still be good, keep it for the next try.
          slot.resumeState = resume;
          this.#discard(entry);
          throw error;
        }
        if (!verdict) {
          entry.resumed = true;
          entry.savedState = safeJson(resume.state);
          return entry;
        }
        this.#expiredEvent(slot, verdict, 'resume');
        this.#discard(entry);
      }
    }
    const entry = this.#newEntry(slot);
    try {
      entry.session = await this.#bounded(entry, () => this.#kind.create(entry.ctx));
    } catch (error) {
      this.#discard(entry);
      throw error;
    }
    entry.expired = undefined; // answers seen while logging in are the login page, not an expiry
    return entry;
  }

  async #relogin(entry: Entry<S>): Promise<Entry<S>> {
    const login = this.#kind.login;
    if (!login) return entry;
    await this.#bounded(entry, () => login.call(this.#kind, entry.session, entry.ctx));
    entry.expired = undefined;
    entry.handled = false;
    entry.busy = false;
    return entry;
  }

  /** Runs a login with the pool's `loginTimeoutSeconds`; a late session is destroyed. */
  #bounded<T>(entry: Entry<S>, work: () => Promise<T>): Promise<T> {
    const seconds = this.#o.loginTimeoutSeconds;
    return new Promise<T>((resolve, reject) => {
      let late = false;
      const timer = setTimeout(() => {
        late = true;
        const error = new Error(
          `Logging in for "${entry.slot.group.key}" took longer than ${seconds} seconds`,
        );
        entry.controller.abort(error);
        reject(error);
      }, seconds * 1000);
      work().then(
        (value) => {
          clearTimeout(timer);
          if (!late) resolve(value);
          else if (value !== undefined && value !== entry.session) {
            this.#track(this.#kind.destroy(value as unknown as S));
          }
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  #newEntry(slot: Slot<S>): Entry<S> {
    const now = this.#clock.now();
    const controller = new AbortController();
    const maxAge = this.#o.maxAgeSeconds;
    const entry: Entry<S> = {
      id: this.#nextEntryId++,
      slot,
      session: undefined as S,
      ctx: undefined as unknown as SessionContext,
      controller,
      createdAtMs: now,
      retireAtMs:
        maxAge === undefined ? Number.POSITIVE_INFINITY : now + this.#jittered(maxAge, -1),
      createMs: 0,
      readyAtPerf: 0,
      goodAtPerf: 0,
      resumed: false,
      inUse: 0,
      uses: 0,
      busy: false,
      expired: undefined,
      handled: false,
      retired: false,
      destroyed: false,
      lastUsedAtMs: now,
      lastCheckedAtMs: now,
      lastRefreshedAtMs: now,
      checkDelayMs: this.#jittered(this.#o.checkIntervalSeconds),
      refreshDelayMs: this.#jittered(this.#o.refreshIntervalSeconds),
      savedState: undefined,
    };
    entry.ctx = {
      key: slot.group.key,
      signal: controller.signal,
      observe: (response) => this.#observe(entry, response),
    };
    this.#entries.add(entry);
    return entry;
  }

  /** Throws away a session that never came into service. */
  #discard(entry: Entry<S>): void {
    entry.retired = true;
    this.#destroy(entry);
  }

  #installed(slot: Slot<S>, entry: Entry<S>, durationMs: number, inPlace: boolean): void {
    if (this.#closed && !inPlace) {
      this.#discard(entry);
      return;
    }
    const now = this.#clock.now();
    const key = slot.group.key;
    this.#breakerSuccess();
    slot.failures = 0;
    slot.retryAtMs = 0;
    slot.group.lastError = undefined;
    entry.createMs = durationMs;
    entry.readyAtPerf = performance.now();
    entry.goodAtPerf = entry.readyAtPerf;
    entry.lastCheckedAtMs = now;
    entry.lastRefreshedAtMs = now;
    if (!inPlace) {
      const previous = slot.entry;
      slot.entry = entry;
      // Retired before the successor is announced: counting created minus retired never
      // exceeds the caps.
      if (previous && previous !== entry) this.#retire(previous, slot.replacing ?? 'expired');
    }
    this.#metrics.login(entry.resumed ? 'resumed' : 'ok');
    this.#logger.info(
      { key, slotId: slot.id, resumed: entry.resumed, inPlace, durationMs },
      entry.resumed ? 'upstream session resumed' : 'upstream session logged in',
    );
    // Logged in again in place, it is the same session: `replaced` says so, not `created`.
    if (!inPlace) {
      this.#events.emit('created', { key, slotId: slot.id, resumed: entry.resumed, durationMs });
    }
    const reason = slot.replacing;
    if (reason) {
      slot.replacing = undefined;
      this.#metrics.replaced(reason);
      this.#logger.info({ key, slotId: slot.id, reason, durationMs }, 'replaced');
      this.#events.emit('replaced', { key, slotId: slot.id, reason, durationMs });
    }
    if (!entry.resumed || inPlace) this.#persist(slot, entry);
  }

  #fillFailed(slot: Slot<S>, error: unknown, relogin: Entry<S> | undefined): void {
    if (relogin) {
      relogin.busy = false;
      this.#retire(relogin, 'failed');
    }
    if (this.#closed) return;
    const now = this.#clock.now();
    const key = slot.group.key;
    slot.failures++;
    const backoff = Math.min(
      this.#o.cooldownSeconds,
      BACKOFF_BASE_SECONDS * 2 ** (slot.failures - 1),
    );
    slot.retryAtMs = now + this.#jittered(backoff);
    slot.group.lastError = error;
    this.#metrics.login('failed');
    const failures = ++this.#breaker.failures;
    this.#logger.warn(
      { key, slotId: slot.id, err: error, consecutiveFailures: failures },
      'login failed',
    );
    this.#events.emit('login-failed', {
      key,
      slotId: slot.id,
      error,
      consecutiveFailures: failures,
    });
    const state = this.#breaker.state;
    // Logins already in flight when it opened fail too; they do not open it again.
    if (state === 'half-open' || (state === 'closed' && failures >= this.#o.failureThreshold)) {
      this.#openBreaker(now);
    }
  }

  // ---- expiry, retirement, background -----------------------------------------------------

  async #observe(entry: Entry<S>, response: ObservedResponse): Promise<void> {
    const verdict = await runDetectors(this.#o.detectors, response, (err) =>
      this.#logger.warn({ err }, 'a detector threw; its answer is ignored'),
    );
    if (!verdict) return;
    entry.expired ??= verdict;
    const lease = leases.getStore();
    if (lease?.active && lease.entry === (entry as Entry<unknown>)) lease.verdict ??= verdict;
    throw new UpstreamSessionExpiredError(entry.slot.group.key, verdict.reason, verdict.detail);
  }

  /** Acts once on an expired session: logs it in again in place (if the kind can) or retires and replaces it. */
  #onExpired(
    entry: Entry<S>,
    verdict: ExpiryVerdict,
    phase: ExpiryPhase,
  ): Promise<void> | undefined {
    entry.expired ??= verdict;
    if (entry.handled || entry.retired) return undefined;
    entry.handled = true;
    const slot = entry.slot;
    this.#expiredEvent(slot, verdict, phase);
    if (this.#closed || slot.entry !== entry) {
      this.#retire(entry, 'expired');
      return undefined;
    }
    slot.replacing = 'expired';
    if (this.#kind.login && entry.inUse === 0 && !slot.filling) {
      entry.busy = true;
      const fill = this.#startFill(slot, entry);
      if (fill) return fill;
      entry.busy = false;
    }
    this.#retire(entry, 'expired');
    const refill = this.#startFill(slot);
    this.#pump(slot.group);
    return refill;
  }

  #expiredEvent(slot: Slot<S>, verdict: ExpiryVerdict, phase: ExpiryPhase): void {
    const key = slot.group.key;
    this.#metrics.expiryDetected(phase);
    this.#logger.info(
      { key, slotId: slot.id, phase, reason: verdict.reason, detail: verdict.detail },
      'expiry detected',
    );
    this.#events.emit('expired', {
      key,
      slotId: slot.id,
      phase,
      reason: verdict.reason,
      ...(verdict.detail === undefined ? {} : { detail: verdict.detail }),
    });
  }

  #retire(entry: Entry<S>, reason: RetireReason): void {
    if (entry.retired) return;
    entry.retired = true;
    const slot = entry.slot;
    if (slot.entry === entry) slot.entry = undefined;
    const key = slot.group.key;
    const ageSeconds = (this.#clock.now() - entry.createdAtMs) / 1000;
    this.#logger.info({ key, slotId: slot.id, reason, uses: entry.uses }, 'session retired');
    this.#events.emit('retired', { key, slotId: slot.id, reason, uses: entry.uses, ageSeconds });
    if (entry.inUse === 0) this.#destroy(entry);
  }

  #destroy(entry: Entry<S>): void {
    if (entry.destroyed) return;
    entry.destroyed = true;
    this.#entries.delete(entry);
    entry.controller.abort(new Error('The upstream session was retired'));
    if (entry.session === undefined) return; // never made
    this.#track(
      this.#kind
        .destroy(entry.session)
        .catch((err: unknown) =>
          this.#logger.warn({ key: entry.slot.group.key, err }, 'destroying a session failed'),
        ),
    );
  }

  #worn(entry: Entry<S>, now: number): 'max-age' | 'max-uses' | undefined {
    const maxUses = this.#o.maxUses;
    if (maxUses !== undefined && entry.uses >= maxUses) return 'max-uses';
    if (now >= entry.retireAtMs) return 'max-age';
    return undefined;
  }

  #startTask(entry: Entry<S>, phase: 'check' | 'refresh' | 'before-use'): Promise<void> {
    entry.busy = true;
    this.#backgroundTasks++;
    const task = this.#task(entry, phase);
    this.#track(task);
    return task;
  }

  async #task(entry: Entry<S>, phase: 'check' | 'refresh' | 'before-use'): Promise<void> {
    let verdict: ExpiryVerdict | undefined;
    let failed = false;
    try {
      verdict = await this.#probe(entry, phase === 'refresh' ? 'refresh' : 'check');
    } catch (err) {
      failed = true;
      this.#logger.warn(
        { key: entry.slot.group.key, slotId: entry.slot.id, phase, err },
        'health check failed; the session stays in service',
      );
    }
    verdict ??= entry.expired;
    entry.busy = false;
    this.#backgroundTasks--;
    const now = this.#clock.now();
    entry.lastCheckedAtMs = now;
    entry.checkDelayMs = this.#jittered(this.#o.checkIntervalSeconds);
    if (phase === 'refresh') {
      entry.lastRefreshedAtMs = now;
      entry.refreshDelayMs = this.#jittered(this.#o.refreshIntervalSeconds);
    }
    if (this.#closed || entry.retired) return;
    if (verdict) {
      await this.#onExpired(entry, verdict, phase);
      return;
    }
    if (!failed) {
      entry.goodAtPerf = performance.now();
      this.#persist(entry.slot, entry); // a refresh may have rotated the cookies
    }
    this.#pump(entry.slot.group);
  }

  /** The kind's probe (or refresh); an expiry it throws is a verdict, not a failure. */
  async #probe(entry: Entry<S>, what: 'check' | 'refresh'): Promise<ExpiryVerdict | undefined> {
    const kind = this.#kind;
    try {
      return what === 'refresh' && kind.refresh
        ? await kind.refresh(entry.session, entry.ctx)
        : await kind.probe(entry.session, entry.ctx);
    } catch (error) {
      const verdict = expiryOf(error, entry.slot.group.key);
      if (verdict) return verdict;
      throw error;
    }
  }

  // ---- circuit breaker ----------------------------------------------------------------------

  /** Closed: logins run freely; after a failure, one at a time; open: none until the cooldown ends. */
  #breakerAllows(now: number): boolean {
    const breaker = this.#breaker;
    if (breaker.state === 'open') {
      if (now < breaker.openUntilMs) return false;
      breaker.state = 'half-open';
      this.#logger.info('circuit breaker half-open: trying one login');
      this.#events.emit('breaker', { state: 'half-open' });
    }
    if (breaker.state === 'half-open' || breaker.failures > 0) return this.#fillsInFlight === 0;
    return true;
  }

  #breakerSuccess(): void {
    const breaker = this.#breaker;
    const wasOpen = breaker.state !== 'closed';
    breaker.failures = 0;
    breaker.state = 'closed';
    if (wasOpen) {
      this.#logger.info('circuit breaker closed: logins work again');
      this.#events.emit('breaker', { state: 'closed' });
    }
  }

  #openBreaker(now: number): void {
    const breaker = this.#breaker;
    breaker.state = 'open';
    breaker.openUntilMs = now + this.#o.cooldownSeconds * 1000;
    this.#logger.warn(
      { consecutiveFailures: breaker.failures, cooldownSeconds: this.#o.cooldownSeconds },
      'circuit breaker open: logins keep failing',
    );
    this.#events.emit('breaker', { state: 'open', retryAfterSeconds: this.#o.cooldownSeconds });
    for (const group of [...this.#waitingGroups]) {
      if (!this.#capacityComing(group)) this.#rejectWaiters(group, this.#unavailable(group, now));
    }
  }

  /** One timer for the earliest slot that may log in again after backing off. */
  #wakeAt(atMs: number): void {
    if (this.#closed || (this.#wake && this.#wake.atMs <= atMs)) return;
    if (this.#wake) clearTimeout(this.#wake.timer);
    const timer = setTimeout(
      () => {
        this.#wake = undefined;
        this.#pumpAll();
      },
      Math.max(10, atMs - this.#clock.now()),
    );
    timer.unref();
    this.#wake = { atMs, timer };
  }

  // ---- persistence ----------------------------------------------------------------------------

  #persist(slot: Slot<S>, entry: Entry<S>): void {
    const store = this.#store;
    const exportState = this.#kind.exportState;
    if (!store || !exportState) return;
    const key = slot.group.key;
    slot.persisting = slot.persisting.then(async () => {
      if (entry.destroyed || slot.removed) return;
      let state: State;
      try {
        state = await exportState.call(this.#kind, entry.session);
      } catch (error) {
        this.#stateError(key, slot.id, 'save', error);
        return;
      }
      const json = safeJson(state);
      if (json !== undefined && json === entry.savedState) return;
      try {
        await store.save(key, slot.id, state);
        entry.savedState = json;
      } catch (error) {
        this.#stateError(key, slot.id, 'save', error);
      }
    });
    this.#track(slot.persisting);
  }

  #forget(slot: Slot<S>): void {
    const store = this.#store;
    if (!store) return;
    const key = slot.group.key;
    slot.persisting = slot.persisting.then(async () => {
      try {
        await store.delete(key, slot.id);
      } catch (error) {
        this.#stateError(key, slot.id, 'delete', error);
      }
    });
    this.#track(slot.persisting);
  }

  #stateError(
    key: string,
    slotId: string | undefined,
    operation: 'load' | 'save' | 'delete',
    error: unknown,
  ): void {
    this.#logger.error({ key, slotId, operation, err: error }, `session state ${operation} failed`);
    this.#events.emit('state-error', {
      key,
      operation,
      error,
      ...(slotId === undefined ? {} : { slotId }),
    });
  }

  // ---- shutdown -------------------------------------------------------------------------------

  async #shutdown(): Promise<void> {
    this.#closed = true;
    if (this.#ticker) clearInterval(this.#ticker);
    if (this.#wake) clearTimeout(this.#wake.timer);
    this.#wake = undefined;
    for (const group of this.#groups.values()) {
      this.#rejectWaiters(group, new PoolClosedError(group.key));
    }
    for (const entry of this.#entries) {
      if (!entry.slot.entry || entry.slot.entry !== entry) {
        // Being made (a login in progress): stop it.
        if (entry.inUse === 0 && !entry.retired)
          entry.controller.abort(new PoolClosedError(entry.ctx.key));
      }
    }
    if (this.#active > 0) {
      await new Promise<void>((resolve) => {
        this.#onIdle = resolve;
      });
    }
    await this.#settle();
    // Save what the live sessions hold now, so the next start resumes them.
    for (const group of this.#groups.values()) {
      for (const slot of group.slots) {
        if (slot.entry && !slot.entry.expired) this.#persist(slot, slot.entry);
      }
    }
    await this.#settle();
    for (const entry of [...this.#entries]) this.#retire(entry, 'closed');
    await this.#settle();
    await this.#kind.close?.();
    this.#metrics.detach();
  }

  async #settle(): Promise<void> {
    while (this.#tasks.size > 0) await Promise.all([...this.#tasks]);
  }

  #track(work: Promise<unknown>): void {
    const tracked = work.then(
      () => {},
      (err: unknown) => this.#logger.error({ err }, 'pool background work failed'),
    );
    this.#tasks.add(tracked);
    void tracked.then(() => this.#tasks.delete(tracked));
  }

  /** `seconds` in ms, spread by ± `jitter` (`direction` -1: only shorter). */
  #jittered(seconds: number, direction: 1 | -1 = 1): number {
    const spread = this.#o.jitter * (direction === 1 ? Math.random() * 2 - 1 : -Math.random());
    return seconds * 1000 * (1 + spread);
  }
}

function expiryOf(error: unknown, key: string): ExpiryVerdict | undefined {
  if (!(error instanceof UpstreamSessionExpiredError) || error.key !== key) return undefined;
  return error.reasonDetail === undefined
    ? { reason: error.reason }
    : { reason: error.reason, detail: error.reasonDetail };
}

function safeJson(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    return undefined;
  }
}
