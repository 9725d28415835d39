import type { BreakerState } from './events.js';
import type { Group } from './session-state.js';

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

/** Counts what the groups of a pool hold right now. */
export function countStats<S>(groups: Iterable<Group<S>>, breaker: BreakerState): PoolStats {
  let sessions = 0;
  let healthy = 0;
  let inUse = 0;
  let waiting = 0;
  let loggingIn = 0;
  for (const group of groups) {
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
  return { sessions, healthy, inUse, waiting, loggingIn, breaker };
}
