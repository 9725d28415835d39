import { performance } from 'node:perf_hooks';
import type { CircuitBreaker } from './breaker.js';
import { probeSession, reportExpiry } from './expiry.js';
import { jitteredMs } from './jitter.js';
import type { ExpiryVerdict } from './kind.js';
import type { PoolContext } from './pool-context.js';
import type { SessionLifecycle } from './session-lifecycle.js';
import type { Entry, Slot, WornReason } from './session-state.js';
import { type SlotPersistence, safeJson } from './slot-persistence.js';
import type { WaitQueue } from './wait-queue.js';

/** First wait after a failed login; doubles per failure up to the breaker's cooldown. */
const BACKOFF_BASE_SECONDS = 0.1;

/**
 * Fills slots with sessions: resumes persisted state or logs in, one login per slot at a time,
 * backing off after a failure and held back by the circuit breaker.
 */
export class Logins<S, State> {
  readonly #ctx: PoolContext<S, State>;
  readonly #sessions: SessionLifecycle<S, State>;
  readonly #breaker: CircuitBreaker<S, State>;
  readonly #queue: WaitQueue<S>;
  readonly #persistence: SlotPersistence<S, State>;
  /** Serves the callers waiting for any key: a login ended, or a backoff is over. */
  readonly #pumpAll: () => void;
  #inFlight = 0;
  #wake: { atMs: number; timer: NodeJS.Timeout } | undefined;

  constructor(
    ctx: PoolContext<S, State>,
    sessions: SessionLifecycle<S, State>,
    breaker: CircuitBreaker<S, State>,
    queue: WaitQueue<S>,
    persistence: SlotPersistence<S, State>,
    pumpAll: () => void,
  ) {
    this.#ctx = ctx;
    this.#sessions = sessions;
    this.#breaker = breaker;
    this.#queue = queue;
    this.#persistence = persistence;
    this.#pumpAll = pumpAll;
  }

  /** Starts the rolling replacement of a worn session: it serves until its successor is ready. */
  startRolling(slot: Slot<S>, reason: WornReason): Promise<void> | undefined {
    if (slot.filling) return slot.filling;
    slot.replacing = reason;
    return this.startFill(slot);
  }

  /**
   * Starts the one login of `slot` (or the in-place login of `relogin`), unless one runs, the slot
   * is backing off after a failure, or the breaker holds logins back.
   */
  startFill(slot: Slot<S>, relogin?: Entry<S>): Promise<void> | undefined {
    if (slot.filling) return slot.filling;
    if (this.#ctx.isClosed() || slot.removed) return undefined;
    const now = this.#ctx.clock.now();
    if (now < slot.retryAtMs) {
      this.#wakeAt(slot.retryAtMs);
      return undefined;
    }
    if (!this.#breaker.allows(now, this.#inFlight)) return undefined;
    this.#inFlight++;
    const fill = this.#fill(slot, relogin);
    slot.filling = fill;
    this.#ctx.tasks.track(fill);
    return fill;
  }

  /** Cancels the backoff timer (the pool is closing). */
  stop(): void {
    if (this.#wake) clearTimeout(this.#wake.timer);
    this.#wake = undefined;
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
    this.#inFlight--;
    slot.filling = undefined;
    if (failure) this.#fillFailed(slot, failure.error, relogin);
    else if (entry)
      this.#installed(slot, entry, performance.now() - started, relogin !== undefined);
    this.#pumpAll();
  }

  /** Resumes the slot's persisted state (probing it), or logs in. */
  async #make(slot: Slot<S>): Promise<Entry<S>> {
    const kind = this.#ctx.kind;
    const resume = slot.resumeState;
    if (resume) {
      slot.resumeState = undefined;
      const entry = this.#sessions.create(slot);
      let resumed = false;
      try {
        entry.session = await this.#bounded(entry, () =>
          kind.create(entry.ctx, resume.state as State),
        );
        resumed = true;
      } catch (err) {
        this.#sessions.discard(entry);
        this.#ctx.logger.warn(
          { key: slot.group.key, slotId: slot.id, err },
          'persisted state could not be resumed; logging in',
        );
      }
      if (resumed) {
        entry.expired = undefined;
        let verdict: ExpiryVerdict | undefined;
        try {
          verdict = (await probeSession(kind, entry, 'check')) ?? entry.expired;
        } catch (error) {
          // The upstream did not answer: the state may still be good, keep it for the next try.
          slot.resumeState = resume;
          this.#sessions.discard(entry);
          throw error;
        }
        if (!verdict) {
          entry.resumed = true;
          entry.savedState = safeJson(resume.state);
          return entry;
        }
        reportExpiry(this.#ctx, slot, verdict, 'resume');
        this.#sessions.discard(entry);
      }
    }
    const entry = this.#sessions.create(slot);
    try {
      entry.session = await this.#bounded(entry, () => kind.create(entry.ctx));
    } catch (error) {
      this.#sessions.discard(entry);
      throw error;
    }
    entry.expired = undefined; // answers seen while logging in are the login page, not an expiry
    return entry;
  }

  async #relogin(entry: Entry<S>): Promise<Entry<S>> {
    const kind = this.#ctx.kind;
    const login = kind.login;
    if (!login) return entry;
    await this.#bounded(entry, () => login.call(kind, entry.session, entry.ctx));
    entry.expired = undefined;
    entry.handled = false;
    entry.busy = false;
    return entry;
  }

  /** Runs a login with the pool's `loginTimeoutSeconds`; a late session is destroyed. */
  #bounded<T>(entry: Entry<S>, work: () => Promise<T>): Promise<T> {
    const seconds = this.#ctx.options.loginTimeoutSeconds;
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
            this.#ctx.tasks.track(this.#ctx.kind.destroy(value as unknown as S));
          }
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  #installed(slot: Slot<S>, entry: Entry<S>, durationMs: number, inPlace: boolean): void {
    const { clock, logger, events, metrics } = this.#ctx;
    if (this.#ctx.isClosed() && !inPlace) {
      this.#sessions.discard(entry);
      return;
    }
    const now = clock.now();
    const key = slot.group.key;
    this.#breaker.succeeded();
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
      if (previous && previous !== entry) {
        this.#sessions.retire(previous, slot.replacing ?? 'expired');
      }
    }
    metrics.login(entry.resumed ? 'resumed' : 'ok');
    logger.info(
      { key, slotId: slot.id, resumed: entry.resumed, inPlace, durationMs },
      entry.resumed ? 'upstream session resumed' : 'upstream session logged in',
    );
    // Logged in again in place, it is the same session: `replaced` says so, not `created`.
    if (!inPlace) {
      events.emit('created', { key, slotId: slot.id, resumed: entry.resumed, durationMs });
    }
    const reason = slot.replacing;
    if (reason) {
      slot.replacing = undefined;
      metrics.replaced(reason);
      logger.info({ key, slotId: slot.id, reason, durationMs }, 'replaced');
      events.emit('replaced', { key, slotId: slot.id, reason, durationMs });
    }
    if (!entry.resumed || inPlace) this.#persistence.persist(slot, entry);
  }

  #fillFailed(slot: Slot<S>, error: unknown, relogin: Entry<S> | undefined): void {
    if (relogin) {
      relogin.busy = false;
      this.#sessions.retire(relogin, 'failed');
    }
    if (this.#ctx.isClosed()) return;
    const { clock, logger, events, metrics, options } = this.#ctx;
    const now = clock.now();
    const key = slot.group.key;
    slot.failures++;
    const backoff = Math.min(
      options.cooldownSeconds,
      BACKOFF_BASE_SECONDS * 2 ** (slot.failures - 1),
    );
    slot.retryAtMs = now + jitteredMs(backoff, options.jitter);
    slot.group.lastError = error;
    metrics.login('failed');
    const failures = this.#breaker.failed();
    logger.warn(
      { key, slotId: slot.id, err: error, consecutiveFailures: failures },
      'login failed',
    );
    events.emit('login-failed', {
      key,
      slotId: slot.id,
      error,
      consecutiveFailures: failures,
    });
    if (this.#breaker.tripAfter(failures, now)) {
      this.#queue.rejectStranded((group) => this.#breaker.unavailable(group, now));
    }
  }

  /** One timer for the earliest slot that may log in again after backing off. */
  #wakeAt(atMs: number): void {
    if (this.#ctx.isClosed() || (this.#wake && this.#wake.atMs <= atMs)) return;
    if (this.#wake) clearTimeout(this.#wake.timer);
    const timer = setTimeout(
      () => {
        this.#wake = undefined;
        this.#pumpAll();
      },
      Math.max(10, atMs - this.#ctx.clock.now()),
    );
    timer.unref();
    this.#wake = { atMs, timer };
  }
}
