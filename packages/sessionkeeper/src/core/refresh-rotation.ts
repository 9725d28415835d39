import { computeExpiresAtMs, isActiveAt } from './expiry.js';
import type { RefreshRotation, RefreshState, SessionRecord } from './store.js';

/** The revoke reason (and `refresh.reused` event reason) when a rotated token comes back late. */
export const REFRESH_REUSED_REASON = 'refresh-token-reused';

/** How many tokens older than the previous one a family remembers (their replay is reuse). */
export const REFRESH_ANCESTOR_LIMIT = 4;

/**
 * Characters of a hash an ancestor is remembered by: 72 bits. Enough that no one can present an
 * ancestor without holding it (hashes are never shown, and each guess costs a request), and short
 * enough that Redis keeps all four in one small hash field.
 */
export const ANCESTOR_KEY_CHARS = 12;

export function ancestorKey(hash: string): string {
  return hash.slice(0, ANCESTOR_KEY_CHARS);
}

/**
 * How far back in the family `presentedHash` lies: 0 current, 1 previous, 2… an ancestor
 * (2 = the one before the previous), or -1 when the family never issued it (as far as it remembers).
 */
export function refreshDepth(refresh: RefreshState, presentedHash: string): number {
  if (presentedHash === refresh.hash) return 0;
  if (presentedHash === refresh.previousHash) return 1;
  const index = refresh.ancestorKeys.indexOf(ancestorKey(presentedHash));
  return index < 0 ? -1 : index + 2;
}

/**
 * What a store's `rotateRefresh` must do with `presentedHash` for this record: the one decision
 * every store makes inside its atomic step (the Redis store's rotate-refresh.lua mirrors it).
 * `nowMs` is the engine's clock (is the session active?); `storeNowMs` the store's own clock, read
 * inside the atomic step, on which the grace window runs from `committedAtMs`.
 *
 * - current token: rotate.
 * - previous token: its successor (the current token) has never been used, so the answer is that
 *   same successor, whatever the time: a client whose answer was lost in an outage or a stall can
 *   always retry, and two tabs refreshing at once both succeed.
 * - the token before it: its successor was used by the rotation that committed at
 *   `committedAtMs`; within the grace window after that commit the current pair is replayed (a
 *   tab that lost a race to a tab that already refreshed again), after it this is reuse.
 * - any older remembered ancestor: reuse, at any time.
 * - a token the family does not know (a wrong secret, or older than it remembers): reject,
 *   revealing nothing about the session.
 */
export function refreshDecision(
  record: SessionRecord,
  presentedHash: string,
  nowMs: number,
  storeNowMs: number,
  graceMs: number,
): 'rotate' | 'replay' | 'reuse' | 'reject' {
  const refresh = record.refresh;
  if (!refresh) return 'reject';
  const depth = refreshDepth(refresh, presentedHash);
  if (depth < 0 || !isActiveAt(record, nowMs)) return 'reject';
  if (depth === 0) return 'rotate';
  if (depth === 1) return 'replay';
  if (depth === 2 && storeNowMs <= refresh.committedAtMs + graceMs) return 'replay';
  return 'reuse';
}

/**
 * Applies a rotation to `record` in place: the new family state (committed at `storeNowMs` on
 * the store's clock), and activity as `touch` records it. Returns the new family state.
 */
export function applyRotation(
  record: SessionRecord,
  presentedHash: string,
  next: RefreshRotation,
  nowMs: number,
  storeNowMs: number,
): RefreshState {
  const old = record.refresh;
  const ancestorKeys = old?.ancestorKeys ?? [];
  const refresh: RefreshState = {
    hash: next.hash,
    previousHash: presentedHash,
    nonce: next.nonce,
    rotatedAtMs: nowMs,
    previousNonce: old?.nonce ?? '',
    ancestorKeys: (old?.previousHash
      ? [ancestorKey(old.previousHash), ...ancestorKeys]
      : ancestorKeys
    ).slice(0, REFRESH_ANCESTOR_LIMIT),
    committedAtMs: storeNowMs,
  };
  record.refresh = refresh;
  record.lastActiveAtMs = nowMs;
  record.expiresAtMs = computeExpiresAtMs(record);
  return refresh;
}
