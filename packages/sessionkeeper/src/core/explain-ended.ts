import {
  SessionExpiredError,
  type SessionInvalidError,
  SessionLifetimeExceededError,
  SessionRevokedError,
} from './errors.js';
import { expiryReason } from './expiry.js';
import type { SessionRecord } from './store.js';

/** The specific reason a stored session no longer grants access at `nowMs`, or null if it does. */
export function explainEnded(record: SessionRecord, nowMs: number): SessionInvalidError | null {
  if (record.status === 'revoked') {
    return new SessionRevokedError(
      record.id,
      record.endReason ?? 'revoked',
      new Date(record.endedAtMs ?? nowMs),
    );
  }
  if (record.status === 'active' && record.expiresAtMs > nowMs) return null;
  const reason = record.status === 'expired' ? record.endReason : expiryReason(record);
  if (reason === 'absolute') {
    return new SessionLifetimeExceededError(
      record.id,
      (record.absoluteExpiresAtMs - record.createdAtMs) / 1000,
      new Date(record.createdAtMs),
      new Date(record.absoluteExpiresAtMs),
    );
  }
  return new SessionExpiredError(
    record.id,
    record.idleTimeoutSeconds,
    new Date(record.lastActiveAtMs),
    new Date(record.expiresAtMs),
  );
}
