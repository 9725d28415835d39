import type { BreakerState } from './events.js';
import type { Entry, Group } from './session-state.js';

/** What one session is doing now. */
export type PoolSessionState = 'idle' | 'in-use' | 'checking' | 'expired';

/** One session in service, as `pool.stats().keys[n].sessions` shows it. No cookie, no token. */
export interface PoolSessionStats {
  /** The slot it fills (one of the key's `sessionsPerKey` places). */
  slotId: string;
  /** `checking`: a probe, refresh or in-place login runs; `expired`: found logged out, being replaced. */
  state: PoolSessionState;
  /** Operations running on it now. */
  inUse: number;
  /** Operations it has served. */
  uses: number;
  /** Seconds since it logged in (or was resumed). */
  ageSeconds: number;
  /** When it last passed a check: its login, a probe or a refresh (ISO 8601). */
  lastCheckedAt: string;
  /** When an operation last gave it back (ISO 8601; its login time if never used). */
  lastUsedAt: string;
  /** Resumed from persisted state instead of logging in. */
  resumed: boolean;
}

/** One key (account) of the pool. */
export interface PoolKeyStats {
  key: string;
  sessions: PoolSessionStats[];
  /** Operations of this key waiting for a session. */
  waiting: number;
  /** Logins of this key in progress. */
  loggingIn: number;
  /** Sessions of this key found expired (each counted once, whichever phase found it). */
  expiries: number;
  /** Operations of this key that met an expired session and then succeeded on a fresh one. */
  recoveries: number;
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
  /** The circuit breaker over logins: `closed` (normal), `open` (no logins), `half-open` (trying one). */
  breaker: BreakerState;
  /** Per key, in the order the keys were first used. */
  keys: PoolKeyStats[];
}

/** Counts what the groups of a pool hold right now (`nowMs`: the pool's clock). */
export function countStats<S>(
  groups: Iterable<Group<S>>,
  breaker: BreakerState,
  nowMs: number,
): PoolStats {
  let sessions = 0;
  let healthy = 0;
  let inUse = 0;
  let waiting = 0;
  let loggingIn = 0;
  const keys: PoolKeyStats[] = [];
  for (const group of groups) {
    waiting += group.waiters.length;
    const key: PoolKeyStats = {
      key: group.key,
      sessions: [],
      waiting: group.waiters.length,
      loggingIn: 0,
      expiries: group.expiries,
      recoveries: group.recoveries,
    };
    keys.push(key);
    for (const slot of group.slots) {
      if (slot.filling) {
        loggingIn++;
        key.loggingIn++;
      }
      const entry = slot.entry;
      if (!entry) continue;
      sessions++;
      if (!entry.expired) healthy++;
      if (entry.inUse > 0) inUse++;
      key.sessions.push(sessionStats(slot.id, entry, nowMs));
    }
  }
  return { sessions, healthy, inUse, waiting, loggingIn, breaker, keys };
}

function sessionStats(slotId: string, entry: Entry<unknown>, nowMs: number): PoolSessionStats {
  const state: PoolSessionState = entry.expired
    ? 'expired'
    : entry.busy
      ? 'checking'
      : entry.inUse > 0
        ? 'in-use'
        : 'idle';
  return {
    slotId,
    state,
    inUse: entry.inUse,
    uses: entry.uses,
    ageSeconds: Math.max(0, (nowMs - entry.createdAtMs) / 1000),
    lastCheckedAt: new Date(entry.lastCheckedAtMs).toISOString(),
    lastUsedAt: new Date(entry.lastUsedAtMs).toISOString(),
    resumed: entry.resumed,
  };
}
