import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { systemClock } from 'sessionkeeper/internal/clock';
import {
  PoolClosedError,
  UpstreamKeptExpiringError,
  ValidationError,
} from 'sessionkeeper/internal/errors';
import { checkSeconds, checkSubject } from 'sessionkeeper/internal/input';
import { CircuitBreaker } from './breaker.js';
import { type ExpiryPhase, PoolEmitter, type PoolEventName, type PoolListener } from './events.js';
import { expiryOf, reportExpiry } from './expiry.js';
import type { ExpiryVerdict } from './kind.js';
import { Logins } from './logins.js';
import { Maintenance, type MaintenanceSummary } from './maintenance.js';
import { createPoolMetrics } from './metrics.js';
import {
  type Lease,
  leases,
  type OperationInfo,
  type PoolOperation,
  type UseOptions,
} from './operation.js';
import { resolvePoolOptions, type SessionPoolOptions } from './options.js';
import type { PoolContext } from './pool-context.js';
import { recoveryOf, reportRecovery } from './recovery.js';
import { SessionLifecycle } from './session-lifecycle.js';
import { capacityComing, type Entry, freeSlotId, type Group, wornReason } from './session-state.js';
import { SlotPersistence } from './slot-persistence.js';
import { Slots } from './slots.js';
import { countStats, type PoolStats } from './stats.js';
import { TaskTracker } from './task-tracker.js';
import { UpstreamUnreachableError } from './unreachable.js';
import { untilExpired } from './until-expired.js';
import { WaitQueue } from './wait-queue.js';

export type { MaintenanceSummary } from './maintenance.js';
export type { OperationInfo, PoolOperation, UseOptions } from './operation.js';
export type {
  PoolKeyStats,
  PoolSessionState,
  PoolSessionStats,
  PoolStats,
} from './stats.js';

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
  readonly #ctx: PoolContext<S, State>;
  readonly #events: PoolEmitter;
  readonly #slots: Slots<S, State>;
  readonly #queue = new WaitQueue<S>();
  readonly #breaker: CircuitBreaker<S, State>;
  readonly #sessions: SessionLifecycle<S, State>;
  readonly #persistence: SlotPersistence<S, State>;
  readonly #logins: Logins<S, State>;
  readonly #maintenance: Maintenance<S, State>;
  /** Operations holding a session right now. */
  #active = 0;
  #closed = false;
  #closing: Promise<void> | undefined;
  #onIdle: (() => void) | undefined;

  constructor(options: SessionPoolOptions<S, State>) {
    const resolved = resolvePoolOptions(options);
    const kind = options.kind;
    const logger = (options.logger ?? pino({ level: 'silent' })).child({
      pool: resolved.name,
      kind: kind.name,
    });
    this.#events = new PoolEmitter(logger);
    const metrics = createPoolMetrics(options.registry, {
      name: resolved.name,
      healthyCount: () => this.stats().healthy,
      inUseCount: () => this.stats().inUse,
      waitingCount: () => this.stats().waiting,
    });
    const ctx: PoolContext<S, State> = {
      kind,
      options: resolved,
      clock: options.clock ?? systemClock,
      logger,
      events: this.#events,
      metrics,
      tasks: new TaskTracker(logger),
      isClosed: () => this.#closed,
    };
    this.#ctx = ctx;
    this.#breaker = new CircuitBreaker(ctx);
    this.#sessions = new SessionLifecycle(ctx, (entry, verdict) => {
      void this.#onExpired(entry, verdict, 'kind');
    });
    this.#persistence = new SlotPersistence(ctx, options.state);
    this.#slots = new Slots(ctx, options.state, this.#sessions, this.#persistence);
    this.#logins = new Logins(
      ctx,
      this.#sessions,
      this.#breaker,
      this.#queue,
      this.#persistence,
      () => this.#pumpAll(),
    );
    this.#maintenance = new Maintenance(ctx, this.#slots.groups, this.#logins, this.#persistence, {
      onExpired: (entry, verdict, phase) => this.#onExpired(entry, verdict, phase),
      pump: (group) => this.#pump(group),
    });
    if (resolved.background) this.#maintenance.startTimer(() => this.maintain());
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
        ? this.#ctx.options.acquireTimeoutSeconds
        : checkSeconds(options.timeoutSeconds, 'timeoutSeconds');
    const group = this.#slots.group(key);
    const { maxAttempts } = this.#ctx.options;
    let detectedAt: number | undefined;
    let lastReason = '';
    let counted = 0;
    // Runs on a stale session do not count (below); each retires one, so this bounds them.
    const maxRuns = maxAttempts + this.#ctx.options.sessionsPerKey;
    for (let attempt = 1; attempt <= maxRuns; attempt++) {
      const entry = await this.#acquire(group, timeoutSeconds, options.signal, detectedAt);
      const startedAt = performance.now();
      // A session already in service when the last expiry was seen, and not seen healthy since:
      // its siblings often expire together, so meeting another expiry on it is not the upstream
      // expiring fresh sessions, and is not counted against maxAttempts.
      const stale = detectedAt !== undefined && entry.goodAtPerf < detectedAt;
      const recovery = detectedAt === undefined ? undefined : recoveryOf(entry, detectedAt);
      const lease: Lease = { entry: entry as Entry<unknown>, verdict: undefined, active: true };
      const info: OperationInfo = {
        key,
        slotId: entry.slot.id,
        attempt,
        signal: entry.controller.signal,
      };
      let result: T | undefined;
      let failure: { error: unknown } | undefined;
      let abandoned = false;
      try {
        const running = leases.run(lease, async () => operation(entry.session, info));
        if (this.#ctx.kind.concurrency === 1) {
          const outcome = await untilExpired(running, entry as Entry<unknown>);
          if (outcome.abandoned) abandoned = true;
          else result = outcome.value;
        } else result = await running;
      } catch (error) {
        failure = { error };
      }
      // A page's navigation may still be under judgement (its text being read): the outcome
      // waits for it, so a logged-out page the operation already returned is not taken as good.
      if (!abandoned && entry.observing.size > 0) await Promise.allSettled(entry.observing);
      lease.active = false;
      const verdict =
        lease.verdict ??
        expiryOf(failure?.error, key) ??
        // One operation per session (a browser page): any detection while it ran is its own.
        (this.#ctx.kind.concurrency === 1 ? entry.expired : undefined);
      if (verdict) entry.expired ??= verdict; // before the release, so no one else is given it
      this.#release(entry);
      if (!verdict) {
        if (entry.goodAtPerf < startedAt) entry.goodAtPerf = startedAt;
        if (failure && isUnreachable(failure.error, key)) {
          // The upstream is down, not the session: no rerun; the breaker counts it.
          throw this.#breaker.operationFailed(group, failure.error, this.#ctx.clock.now());
        }
        if (recovery) reportRecovery(this.#ctx, entry, attempt, recovery);
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

  /**
   * What the pool holds now: totals, the breaker's state, and per key its sessions (state, uses,
   * age, last check, last use), waiting callers, logins, expiries and recoveries. Cheap enough
   * for a status endpoint or a metrics scrape; it never includes a cookie or a token.
   */
  stats(): PoolStats {
    return countStats(this.#slots.groups.values(), this.#breaker.state, this.#ctx.clock.now());
  }

  /**
   * One pass of the background work, now: probes idle sessions due a check, refreshes those due a
   * refresh, starts the replacement of sessions past their age or use limit, and resolves when
   * what it started has finished (replacements included). The timer calls it; tests call it
   * after moving an injected clock. A session in use is never probed or refreshed.
   */
  maintain(): Promise<MaintenanceSummary> {
    return this.#maintenance.run();
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
    return this.#queue.wait(group, timeoutSeconds, signal, freshAfter, () => {
      if (group.loaded) this.#pump(group);
      else this.#slots.load(group, () => this.#pump(group));
    });
  }

  /**
   * The least busy session of `group` that may take one more operation now; with `freshAfter`
   * (a rerun), one known good since then if there is one.
   */
  #pick(group: Group<S>, freshAfter?: number): Entry<S> | undefined {
    const { maxUses, probeAfterIdleSeconds } = this.#ctx.options;
    const concurrency = this.#ctx.kind.concurrency;
    let best: Entry<S> | undefined;
    for (const slot of group.slots) {
      const entry = slot.entry;
      if (!entry || entry.busy || entry.expired || entry.inUse >= concurrency) continue;
      if (maxUses !== undefined && entry.uses >= maxUses) continue;
      if (
        probeAfterIdleSeconds !== undefined &&
        entry.inUse === 0 &&
        this.#ctx.clock.now() - Math.max(entry.lastUsedAtMs, entry.lastCheckedAtMs) >=
          probeAfterIdleSeconds * 1000
      ) {
        void this.#maintenance.startCheck(entry, 'before-use');
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
    const { maxUses, maxAgeSeconds } = this.#ctx.options;
    const worn =
      maxUses !== undefined && entry.uses >= maxUses
        ? 'max-uses'
        : maxAgeSeconds !== undefined && this.#ctx.clock.now() >= entry.retireAtMs
          ? 'max-age'
          : undefined;
    if (worn && !entry.slot.filling) void this.#logins.startRolling(entry.slot, worn);
  }

  #release(entry: Entry<S>): void {
    entry.inUse--;
    this.#active--;
    entry.lastUsedAtMs = this.#ctx.clock.now();
    if (entry.retired) {
      if (entry.inUse === 0) this.#sessions.destroy(entry);
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
    const waiting = this.#queue.serve(
      group,
      (freshAfter) => this.#pick(group, freshAfter),
      (entry) => this.#checkout(entry),
    );
    if (waiting) this.#grow(group);
  }

  #pumpAll(): void {
    for (const group of this.#queue.waiting()) this.#pump(group);
  }

  /** Starts as many logins as the waiting callers of `group` need, within the caps. */
  #grow(group: Group<S>): void {
    const { maxUses, sessionsPerKey, maxSessions } = this.#ctx.options;
    const concurrency = this.#ctx.kind.concurrency;
    let coming = 0;
    for (const slot of group.slots) {
      if (slot.filling) coming += concurrency;
      else if (slot.entry?.busy && !slot.entry.expired) coming += concurrency - slot.entry.inUse;
    }
    let need = group.waiters.length - coming;
    const now = this.#ctx.clock.now();
    for (const slot of group.slots) {
      if (need <= 0) break;
      if (slot.filling) continue;
      const worn =
        slot.entry && !slot.entry.expired ? wornReason(slot.entry, now, maxUses) : undefined;
      if (slot.entry && !worn) continue;
      if (worn) slot.replacing = worn;
      if (this.#logins.startFill(slot)) need -= concurrency;
    }
    while (need > 0 && group.slots.length < sessionsPerKey) {
      // While logins fail, a new slot would only be one more login to fail: the empty slot
      // backing off is retried instead.
      if (this.#breaker.failures > 0 && group.slots.some((slot) => !slot.entry)) break;
      if (this.#slots.count >= maxSessions && !this.#slots.evictFor(group)) break;
      const slot = this.#slots.add(group, freeSlotId(group));
      if (!this.#logins.startFill(slot)) break;
      need -= concurrency;
    }
    if (this.#breaker.state === 'open' && !capacityComing(group)) {
      this.#queue.reject(group, this.#breaker.unavailable(group, now));
    }
  }

  // ---- expiry -------------------------------------------------------------------------------

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
    reportExpiry(this.#ctx, slot, verdict, phase);
    if (this.#closed || slot.entry !== entry) {
      this.#sessions.retire(entry, 'expired');
      return undefined;
    }
    slot.replacing = 'expired';
    if (this.#ctx.kind.login && entry.inUse === 0 && !slot.filling) {
      entry.busy = true;
      const fill = this.#logins.startFill(slot, entry);
      if (fill) return fill;
      entry.busy = false;
    }
    this.#sessions.retire(entry, 'expired');
    const refill = this.#logins.startFill(slot);
    this.#pump(slot.group);
    return refill;
  }

  // ---- shutdown -------------------------------------------------------------------------------

  async #shutdown(): Promise<void> {
    this.#closed = true;
    this.#maintenance.stopTimer();
    this.#logins.stop();
    for (const group of this.#slots.groups.values()) {
      this.#queue.reject(group, new PoolClosedError(group.key));
    }
    for (const entry of this.#sessions.live) {
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
    const { tasks } = this.#ctx;
    await tasks.settle();
    // Save what the live sessions hold now, so the next start resumes them.
    for (const group of this.#slots.groups.values()) {
      for (const slot of group.slots) {
        if (slot.entry && !slot.entry.expired) this.#persistence.persist(slot, slot.entry);
      }
    }
    await tasks.settle();
    for (const entry of [...this.#sessions.live]) this.#sessions.retire(entry, 'closed');
    await tasks.settle();
    await this.#ctx.kind.close?.();
    this.#ctx.metrics.detach();
  }
}

/** A failure to reach the upstream of `key` in the middle of an operation (not an expiry). */
function isUnreachable(error: unknown, key: string): error is UpstreamUnreachableError {
  return error instanceof UpstreamUnreachableError && error.key === key;
}
