import type { SessionRecord } from './store.js';

/**
 * The one expiry formula: the idle deadline runs from the later of the last activity and the
 * longest live lease, and nothing outlives the absolute deadline. Stores call this (the Redis
 * store's Lua mirrors it) whenever activity or leases change.
 */
export function computeExpiresAtMs(
  record: Pick<
    SessionRecord,
    'lastActiveAtMs' | 'idleTimeoutSeconds' | 'absoluteExpiresAtMs' | 'leases'
  >,
): number {
  let heldFrom = record.lastActiveAtMs;
  for (const untilMs of Object.values(record.leases)) if (untilMs > heldFrom) heldFrom = untilMs;
  return Math.min(record.absoluteExpiresAtMs, heldFrom + record.idleTimeoutSeconds * 1000);
}

/** Drops leases that no longer hold anything at `nowMs`. */
export function liveLeases(leases: Record<string, number>, nowMs: number): Record<string, number> {
  const live: Record<string, number> = {};
  for (const [id, untilMs] of Object.entries(leases)) if (untilMs > nowMs) live[id] = untilMs;
  return live;
}

export function isActiveAt(record: SessionRecord, nowMs: number): boolean {
  return record.status === 'active' && record.expiresAtMs > nowMs;
}

/** Why a session whose deadline has passed ended: its deadline was the absolute one, or not. */
export function expiryReason(record: SessionRecord): 'idle' | 'absolute' {
  return record.expiresAtMs >= record.absoluteExpiresAtMs ? 'absolute' : 'idle';
}

/**
 * The record as it stands at `nowMs`: a session past its deadline is reported expired (with its
 * reason and end time) even before the sweeper has marked it in the store.
 */
export function asOf(record: SessionRecord, nowMs: number): SessionRecord {
  if (record.status !== 'active' || record.expiresAtMs > nowMs) return record;
  return {
    ...record,
    status: 'expired',
    endReason: expiryReason(record),
    endedAtMs: record.expiresAtMs,
  };
}

export interface NewRecordInput {
  id: string;
  subject: string;
  secretHash: string;
  dataJson: string;
  nowMs: number;
  idleTimeoutSeconds: number;
  absoluteTimeoutSeconds: number;
  /** Hash of the first refresh secret, for sessions created with tokens. */
  refreshHash?: string;
}

/** A new active record with its deadlines computed: what `create` hands to a store. */
export function newSessionRecord(input: NewRecordInput): SessionRecord {
  const record: SessionRecord = {
    id: input.id,
    subject: input.subject,
    secretHash: input.secretHash,
    dataJson: input.dataJson,
    createdAtMs: input.nowMs,
    lastActiveAtMs: input.nowMs,
    idleTimeoutSeconds: input.idleTimeoutSeconds,
    absoluteExpiresAtMs: input.nowMs + Math.round(input.absoluteTimeoutSeconds * 1000),
    leases: {},
    expiresAtMs: 0,
    status: 'active',
    endReason: null,
    endedAtMs: null,
    refresh: input.refreshHash
      ? {
          hash: input.refreshHash,
          previousHash: null,
          nonce: '',
          rotatedAtMs: input.nowMs,
          previousNonce: '',
          ancestorKeys: [],
          committedAtMs: input.nowMs,
        }
      : null,
  };
  record.expiresAtMs = computeExpiresAtMs(record);
  return record;
}
