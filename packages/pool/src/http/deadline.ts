// The bound of one HTTP request. Node 20's AbortSignal.timeout() keeps its timer only weakly and
// AbortSignal.any() holds its sources weakly: after a garbage collection a request can lose its
// timeout and wait forever on an upstream that never answers. A plain timer and a controller,
// referenced by this object until `done()`, cannot be collected while the request runs.

export interface Deadline {
  /** Aborted when the time is up or any of the given signals aborts. */
  readonly signal: AbortSignal;
  /** Whether it was the time running out (not one of the given signals) that aborted it. */
  readonly timedOut: boolean;
  /** The error the timeout aborted with. */
  readonly timeoutError: Error | undefined;
  /** Stops the timer and detaches from the given signals. Call it when the request is over. */
  done(): void;
}

/** A deadline of `timeoutMs` for one request, also aborted by any of `signals`. */
export function startDeadline(
  timeoutMs: number,
  signals: readonly (AbortSignal | undefined)[],
  describe: () => string,
): Deadline {
  const controller = new AbortController();
  let timeoutError: Error | undefined;
  const timer = setTimeout(() => {
    timeoutError = new Error(`${describe()} got no complete answer within ${timeoutMs / 1000} s`);
    timeoutError.name = 'TimeoutError';
    controller.abort(timeoutError);
  }, timeoutMs);
  const attached: { signal: AbortSignal; onAbort: () => void }[] = [];
  for (const signal of signals) {
    if (!signal) continue;
    if (signal.aborted) {
      controller.abort(signal.reason);
      break;
    }
    const onAbort = () => controller.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    attached.push({ signal, onAbort });
  }
  return {
    signal: controller.signal,
    get timedOut() {
      return timeoutError !== undefined;
    },
    get timeoutError() {
      return timeoutError;
    },
    done() {
      clearTimeout(timer);
      for (const { signal, onAbort } of attached.splice(0))
        signal.removeEventListener('abort', onAbort);
    },
  };
}
