import type { RetireReason } from './events.js';
import { observeResponse } from './expiry.js';
import { jitteredMs } from './jitter.js';
import type { ExpiryVerdict, SessionContext } from './kind.js';
import type { PoolContext } from './pool-context.js';
import { type Entry, markExpired, type Slot } from './session-state.js';

/** A pool's sessions from the moment one starts being made until it is destroyed. */
export class SessionLifecycle<S, State> {
  readonly #ctx: PoolContext<S, State>;
  /** Every session made and not yet destroyed (in service, retired but still in use, or being made). */
  readonly live = new Set<Entry<S>>();
  #nextId = 1;

  readonly #onExpired: (entry: Entry<S>, verdict: ExpiryVerdict) => void;

  /** `onExpired`: a session the kind reported dead (`ctx.expire`) while no operation used it. */
  constructor(
    ctx: PoolContext<S, State>,
    onExpired: (entry: Entry<S>, verdict: ExpiryVerdict) => void,
  ) {
    this.#ctx = ctx;
    this.#onExpired = onExpired;
  }

  /** The record of a session about to be made for `slot`; `session` is set once it is. */
  create(slot: Slot<S>): Entry<S> {
    const { clock, options } = this.#ctx;
    const now = clock.now();
    const controller = new AbortController();
    const maxAge = options.maxAgeSeconds;
    const entry: Entry<S> = {
      id: this.#nextId++,
      slot,
      session: undefined as S,
      ctx: undefined as unknown as SessionContext,
      controller,
      createdAtMs: now,
      retireAtMs:
        maxAge === undefined
          ? Number.POSITIVE_INFINITY
          : now + jitteredMs(maxAge, options.jitter, -1),
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
      checkDelayMs: jitteredMs(options.checkIntervalSeconds, options.jitter),
      refreshDelayMs: jitteredMs(options.refreshIntervalSeconds, options.jitter),
      savedState: undefined,
      observing: new Set(),
      onExpired: new Set(),
    };
    entry.ctx = {
      key: slot.group.key,
      signal: controller.signal,
      observe: (response) => {
        const judged = observeResponse(this.#ctx, entry, response);
        entry.observing.add(judged);
        const done = () => void entry.observing.delete(judged);
        judged.then(done, done);
        return judged;
      },
      expire: (verdict) => {
        // One still being made fails its login by itself; one retired is gone already.
        if (entry.retired || entry.expired || entry.slot.entry !== entry) return;
        markExpired(entry as Entry<unknown>, verdict);
        // One in use is handled when its operation ends (it reruns); an idle one is replaced now.
        if (entry.inUse === 0 && !entry.busy) this.#onExpired(entry, verdict);
      },
    };
    this.live.add(entry);
    return entry;
  }

  /** Throws away a session that never came into service. */
  discard(entry: Entry<S>): void {
    entry.retired = true;
    this.destroy(entry);
  }

  /** Takes a session out of service (event `retired`); it is destroyed once no operation uses it. */
  retire(entry: Entry<S>, reason: RetireReason): void {
    if (entry.retired) return;
    entry.retired = true;
    const slot = entry.slot;
    if (slot.entry === entry) slot.entry = undefined;
    const key = slot.group.key;
    const ageSeconds = (this.#ctx.clock.now() - entry.createdAtMs) / 1000;
    this.#ctx.logger.info({ key, slotId: slot.id, reason, uses: entry.uses }, 'session retired');
    this.#ctx.events.emit('retired', {
      key,
      slotId: slot.id,
      reason,
      uses: entry.uses,
      ageSeconds,
    });
    if (entry.inUse === 0) this.destroy(entry);
  }

  /** Aborts the session's signal and frees it through the kind. Idempotent. */
  destroy(entry: Entry<S>): void {
    if (entry.destroyed) return;
    entry.destroyed = true;
    this.live.delete(entry);
    entry.controller.abort(new Error('The upstream session was retired'));
    if (entry.session === undefined) return; // never made
    this.#ctx.tasks.track(
      this.#ctx.kind
        .destroy(entry.session)
        .catch((err: unknown) =>
          this.#ctx.logger.warn({ key: entry.slot.group.key, err }, 'destroying a session failed'),
        ),
    );
  }
}
