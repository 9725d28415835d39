// Helpers for stores that keep sessions and outbox events as rows (SQLite, PostgreSQL).
import { randomBytes } from 'node:crypto';
import type { RefreshState, SessionRecord, SessionSnapshot, StoredEvent } from './store.js';
import type { EventType, SessionStatus } from './types.js';

/**
 * A UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then random bits. Unique like any
 * UUID, but time-ordered, so outbox inserts land at the right edge of the `events.id` index
 * instead of dirtying a random page each (random v4 ids made sweep commits several times larger).
 */
export function timeOrderedUuid(nowMs = Date.now()): string {
  const bytes = randomBytes(16);
  bytes.writeUIntBE(nowMs, 0, 6);
  bytes[6] = 0x70 | ((bytes[6] as number) & 0x0f); // version 7
  bytes[8] = 0x80 | ((bytes[8] as number) & 0x3f); // RFC 9562 variant
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A lease map as stored: `null` when there is none, so most rows store nothing. */
export function leasesJson(leases: Record<string, number>): string | null {
  for (const _ in leases) return JSON.stringify(leases);
  return null;
}

/** The event's copy of the session: everything but the secret's and refresh tokens' hashes. */
export function snapshotJson(record: SessionRecord): string {
  const { secretHash: _secretHash, refresh: _refresh, ...snapshot } = record;
  return JSON.stringify(snapshot satisfies SessionSnapshot);
}

/** The columns of an outbox row that make a StoredEvent. */
export interface StoredEventRow {
  id: string;
  type: EventType;
  atMs: number;
  reason: string | null;
  session: string;
  /** Earlier claims of this event by the claiming group. */
  attempts: number;
}

export function toStoredEvent(row: StoredEventRow): StoredEvent {
  return {
    id: row.id,
    type: row.type,
    atMs: row.atMs,
    reason: row.reason,
    session: JSON.parse(row.session) as SessionSnapshot,
    attempts: row.attempts,
  };
}

/** The `sessions` columns every SQL store selects under their `SessionRecord` names. */
export interface SessionRowBase {
  id: string;
  subject: string;
  secretHash: string;
  dataJson: string;
  createdAtMs: number;
  lastActiveAtMs: number;
  idleTimeoutSeconds: number;
  absoluteExpiresAtMs: number;
  /** JSON text, NULL when there are none (the common case, so most reads parse nothing). */
  leases: string | null;
  expiresAtMs: number;
  status: SessionStatus;
  endReason: string | null;
  endedAtMs: number | null;
}

/** A record from a row's common columns and the refresh family, which each store keeps its way. */
export function recordFromRow(row: SessionRowBase, refresh: RefreshState | null): SessionRecord {
  return {
    id: row.id,
    subject: row.subject,
    secretHash: row.secretHash,
    dataJson: row.dataJson,
    createdAtMs: row.createdAtMs,
    lastActiveAtMs: row.lastActiveAtMs,
    idleTimeoutSeconds: row.idleTimeoutSeconds,
    absoluteExpiresAtMs: row.absoluteExpiresAtMs,
    leases: row.leases === null ? {} : (JSON.parse(row.leases) as Record<string, number>),
    expiresAtMs: row.expiresAtMs,
    status: row.status,
    endReason: row.endReason,
    endedAtMs: row.endedAtMs,
    refresh,
  };
}
