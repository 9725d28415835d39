import { parseData } from './input.js';
import type { SessionRecord, SessionSnapshot } from './store.js';
import type { Session, SessionData, SessionTiming } from './types.js';

/** The public view of a stored record: Dates for instants, parsed data, no secret hash. */
export function toSession<Data extends SessionData>(record: SessionSnapshot): Session<Data> {
  return {
    id: record.id,
    subject: record.subject,
    data: parseData<Data>(record.dataJson),
    createdAt: new Date(record.createdAtMs),
    lastActiveAt: new Date(record.lastActiveAtMs),
    idleTimeoutSeconds: record.idleTimeoutSeconds,
    absoluteExpiresAt: new Date(record.absoluteExpiresAtMs),
    expiresAt: new Date(record.expiresAtMs),
    status: record.status,
    endReason: record.endReason,
    endedAt: record.endedAtMs === null ? null : new Date(record.endedAtMs),
  };
}

export function timingOf(record: SessionRecord, nowMs: number): SessionTiming {
  return {
    idleRemainingSeconds: Math.max(0, (record.expiresAtMs - nowMs) / 1000),
    absoluteRemainingSeconds: Math.max(0, (record.absoluteExpiresAtMs - nowMs) / 1000),
    ageSeconds: Math.max(0, (nowMs - record.createdAtMs) / 1000),
  };
}
