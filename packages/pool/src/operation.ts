import { AsyncLocalStorage } from 'node:async_hooks';
import type { ExpiryVerdict } from './kind.js';
import type { Entry } from './session-state.js';

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

/** One run of an operation on one session, and the expiry its own answers showed. */
export interface Lease {
  readonly entry: Entry<unknown>;
  verdict: ExpiryVerdict | undefined;
  active: boolean;
}

/**
 * Which operation a detection belongs to: a session shared by several operations (HTTP) reruns
 * only the one whose own answer showed the expiry.
 */
export const leases = new AsyncLocalStorage<Lease>();
