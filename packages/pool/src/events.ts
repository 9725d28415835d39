import type { Logger } from 'pino';

/** Where a session was found expired. */
export type ExpiryPhase =
  /** The background health check of an idle session. */
  | 'check'
  /** The periodic refresh of an idle session. */
  | 'refresh'
  /** The probe of a session idle for `probeAfterIdleSeconds`, before handing it out. */
  | 'before-use'
  /** The probe of a session resumed from persisted state, before its first use. */
  | 'resume'
  /** The operation's own answers. */
  | 'operation'
  /** The kind reported the session dead on its own (`ctx.expire`: a crashed browser). */
  | 'kind';

/** Why a session left the pool. */
export type RetireReason = 'expired' | 'max-age' | 'max-uses' | 'evicted' | 'failed' | 'closed';

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface PoolEvents {
  /** A session is ready: logged in, or resumed from persisted state and probed. */
  created: { key: string; slotId: string; resumed: boolean; durationMs: number };
  /** A detector said a session is logged out. */
  expired: { key: string; slotId: string; phase: ExpiryPhase; reason: string; detail?: string };
  /** A session was taken out of service; it is destroyed once no operation uses it. */
  retired: { key: string; slotId: string; reason: RetireReason; uses: number; ageSeconds: number };
  /** A new session took the place of an expired or worn-out one (`durationMs`: its login). */
  replaced: {
    key: string;
    slotId: string;
    reason: Exclude<RetireReason, 'evicted' | 'closed' | 'failed'>;
    durationMs: number;
  };
  /**
   * An operation that met an expired session succeeded on a later attempt. `recoveryMs`: from the
   * detection to the rerun starting; `loginMs`: the part of it spent waiting for the new login.
   */
  recovered: {
    key: string;
    slotId: string;
    attempts: number;
    recoveryMs: number;
    loginMs: number;
  };
  /** Making a session failed (the login threw, timed out, or a resumed session's probe failed). */
  'login-failed': { key: string; slotId: string; error: unknown; consecutiveFailures: number };
  /** The circuit breaker over logins changed state. */
  breaker: { state: BreakerState; retryAfterSeconds?: number };
  /** Persisted state could not be loaded, saved (e.g. larger than the store allows) or deleted. */
  'state-error': {
    key: string;
    slotId?: string;
    operation: 'load' | 'save' | 'delete';
    error: unknown;
  };
}

export type PoolEventName = keyof PoolEvents;
export type PoolListener<E extends PoolEventName> = (event: PoolEvents[E]) => void;

/** A typed emitter whose throwing listeners are logged, never allowed to break the pool. */
export class PoolEmitter {
  readonly #listeners = new Map<PoolEventName, Set<(event: never) => void>>();

  constructor(private readonly logger: Logger) {}

  on<E extends PoolEventName>(name: E, listener: PoolListener<E>): void {
    let set = this.#listeners.get(name);
    if (!set) {
      set = new Set();
      this.#listeners.set(name, set);
    }
    set.add(listener as (event: never) => void);
  }

  off<E extends PoolEventName>(name: E, listener: PoolListener<E>): void {
    this.#listeners.get(name)?.delete(listener as (event: never) => void);
  }

  emit<E extends PoolEventName>(name: E, event: PoolEvents[E]): void {
    const set = this.#listeners.get(name);
    if (!set) return;
    for (const listener of set) {
      try {
        (listener as PoolListener<E>)(event);
      } catch (err) {
        this.logger.error({ err, event: name }, 'pool event listener threw');
      }
    }
  }
}
