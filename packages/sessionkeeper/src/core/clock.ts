/** Time source. Injected so that expiry is tested by moving a clock, never by sleeping. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that only moves when told to; for tests and simulations. */
export interface ManualClock extends Clock {
  /** Moves the clock forward by `seconds`. */
  advance(seconds: number): void;
  set(epochMs: number): void;
}

export function createManualClock(startMs = Date.UTC(2026, 0, 15, 10, 0, 0)): ManualClock {
  let current = startMs;
  return {
    now: () => current,
    advance(seconds) {
      current += Math.round(seconds * 1000);
    },
    set(epochMs) {
      current = epochMs;
    },
  };
}
