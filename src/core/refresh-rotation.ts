import { computeExpiresAtMs, isActiveAt } from './expiry.js';
import type { RefreshRotation, SessionRecord } from './store.js';

/** The revoke reason (and `refresh.reused` event reason) when a rotated token comes back late. */
export const REFRESH_REUSED_REASON = 'refresh-token-reused';

/**
 * What a store's `rotateRefresh` must do with `presentedHash` for this record at `nowMs`: the one
 * decision every store makes inside its atomic step (the Redis store's rotate-refresh.lua mirrors it).
 */
export function refreshDecision(
  record: SessionRecord,
  presentedHash: string,
  nowMs: number,
  graceMs: number,
): 'rotate' | 'replay' | 'reuse' | 'reject' {
  const refresh = record.refresh;
  if (!refresh || !isActiveAt(record, nowMs)) return 'reject';
  if (presentedHash === refresh.hash) return 'rotate';
  if (presentedHash !== refresh.previousHash) return 'reject';
  // A client that lost the answer to its rotation may retry with the old token for a while;
  // later, the old token is presumed stolen.
  return nowMs <= refresh.rotatedAtMs + graceMs ? 'replay' : 'reuse';
}

/** Applies a rotation to `record` in place: the new family state, and activity as `touch` records it. */
export function applyRotation(
  record: SessionRecord,
  presentedHash: string,
  next: RefreshRotation,
  nowMs: number,
): void {
  record.refresh = {
    hash: next.hash,
    previousHash: presentedHash,
    nonce: next.nonce,
    rotatedAtMs: nowMs,
  };
  record.lastActiveAtMs = nowMs;
  record.expiresAtMs = computeExpiresAtMs(record);
}
