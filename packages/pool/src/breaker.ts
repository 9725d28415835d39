import { UpstreamUnavailableError } from 'sessionkeeper/internal/errors';
import type { BreakerState } from './events.js';
import type { PoolContext } from './pool-context.js';
import type { Group } from './session-state.js';
import { UpstreamUnreachableError } from './unreachable.js';

/**
 * The circuit breaker over a pool's logins. Closed: logins run freely; after a failure, one at a
 * time; open: none until the cooldown ends.
 */
export class CircuitBreaker<S, State> {
  readonly #ctx: PoolContext<S, State>;
  #state: BreakerState = 'closed';
  /** Logins that failed in a row. */
  #failures = 0;
  #openUntilMs = 0;

  constructor(ctx: PoolContext<S, State>) {
    this.#ctx = ctx;
  }

  get state(): BreakerState {
    return this.#state;
  }

  /** Logins that failed in a row. */
  get failures(): number {
    return this.#failures;
  }

  /** Whether a login may start `now`, with `inFlight` logins running. */
  allows(now: number, inFlight: number): boolean {
    if (this.#state === 'open') {
      if (now < this.#openUntilMs) return false;
      this.#state = 'half-open';
      this.#ctx.logger.info('circuit breaker half-open: trying one login');
      this.#ctx.events.emit('breaker', { state: 'half-open' });
    }
    if (this.#state === 'half-open' || this.#failures > 0) return inFlight === 0;
    return true;
  }

  /** A login worked: closes the breaker. */
  succeeded(): void {
    const wasOpen = this.#state !== 'closed';
    this.#failures = 0;
    this.#state = 'closed';
    if (wasOpen) {
      this.#ctx.logger.info('circuit breaker closed: logins work again');
      this.#ctx.events.emit('breaker', { state: 'closed' });
    }
  }

  /** Counts a failed login; returns the failures in a row. */
  failed(): number {
    return ++this.#failures;
  }

  /**
   * Opens the breaker if the failed login counted as `failures` was the one too many (or the
   * half-open trial); true when it opened.
   */
  tripAfter(failures: number, now: number): boolean {
    const state = this.#state;
    // Logins already in flight when it opened fail too; they do not open it again.
    if (
      state === 'half-open' ||
      (state === 'closed' && failures >= this.#ctx.options.failureThreshold)
    ) {
      this.#open(now);
      return true;
    }
    return false;
  }

  /**
   * An operation of `group` could not reach the upstream (`error`): counts as a failure like a
   * failed login (the breaker may open) and returns the error for its caller, told to come back
   * when the breaker lets logins through again if it is open now.
   */
  operationFailed(
    group: Group<S>,
    error: UpstreamUnreachableError,
    now: number,
  ): UpstreamUnreachableError {
    group.lastError = error.cause ?? error;
    const failures = this.failed();
    this.#ctx.logger.warn(
      { key: group.key, err: error.cause, consecutiveFailures: failures },
      'the upstream could not be reached during an operation',
    );
    this.tripAfter(failures, now);
    if (this.#state !== 'open') return error;
    const retryAfter = Math.max(0.001, (this.#openUntilMs - now) / 1000);
    return new UpstreamUnreachableError(group.key, retryAfter, error.cause);
  }

  /** The error for the callers of `group` while the breaker is open. */
  unavailable(group: Group<S>, now: number): UpstreamUnavailableError {
    const retryAfter = Math.max(0.001, (this.#openUntilMs - now) / 1000);
    const cause = group.lastError;
    return new UpstreamUnavailableError(
      group.key,
      retryAfter,
      cause === undefined ? {} : { cause },
    );
  }

  #open(now: number): void {
    const { cooldownSeconds } = this.#ctx.options;
    this.#state = 'open';
    this.#openUntilMs = now + cooldownSeconds * 1000;
    this.#ctx.logger.warn(
      { consecutiveFailures: this.#failures, cooldownSeconds },
      'circuit breaker open: logins keep failing',
    );
    this.#ctx.events.emit('breaker', { state: 'open', retryAfterSeconds: cooldownSeconds });
  }
}
