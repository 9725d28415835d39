import type { RedisStore } from '../../packages/redis/src/index.js';
import {
  computeExpiresAtMs,
  newSessionRecord,
} from '../../packages/sessionkeeper/src/core/expiry.js';
import type { SessionRecord } from '../../packages/sessionkeeper/src/core/store.js';
import { generateSecret, hashSecret } from '../../packages/sessionkeeper/src/core/token.js';

/** A record as the engine would build it, with an id from the store. */
export function newRecord(
  store: RedisStore,
  subject: string,
  nowMs: number,
  overrides: Partial<SessionRecord> = {},
): SessionRecord {
  const base = newSessionRecord({
    id: store.newSessionId(subject),
    subject,
    secretHash: hashSecret(generateSecret()),
    dataJson: JSON.stringify({ user: subject }),
    nowMs,
    idleTimeoutSeconds: 60,
    absoluteTimeoutSeconds: 3600,
  });
  const record = { ...base, ...overrides };
  return { ...record, expiresAtMs: overrides.expiresAtMs ?? computeExpiresAtMs(record) };
}

/** A fixed instant, so tests never depend on the wall clock. */
export const T0 = Date.UTC(2026, 0, 15, 10, 0, 0);
