import { computeExpiresAtMs } from '../../src/core/expiry.js';
import type { SessionRecord } from '../../src/core/store.js';
import { generateSecret, hashSecret } from '../../src/core/token.js';
import type { RedisStore } from '../../src/redis/index.js';

/** A record as the engine would build it, with an id from the store. */
export function newRecord(
  store: RedisStore,
  subject: string,
  nowMs: number,
  overrides: Partial<SessionRecord> = {},
): SessionRecord {
  const base = {
    id: store.newSessionId(subject),
    subject,
    secretHash: hashSecret(generateSecret()),
    dataJson: JSON.stringify({ user: subject }),
    createdAtMs: nowMs,
    lastActiveAtMs: nowMs,
    idleTimeoutSeconds: 60,
    absoluteExpiresAtMs: nowMs + 3_600_000,
    leases: {},
    status: 'active' as const,
    endReason: null,
    endedAtMs: null,
    ...overrides,
  };
  return { ...base, expiresAtMs: overrides.expiresAtMs ?? computeExpiresAtMs(base) };
}

/** A fixed instant, so tests never depend on the wall clock. */
export const T0 = Date.UTC(2026, 0, 15, 10, 0, 0);
