import type { SessionRecord } from 'sessionkeeper/internal/store';
import {
  leasesJson,
  recordFromRow,
  type SessionRowBase,
  type StoredEventRow,
} from 'sessionkeeper/internal/store-rows';

/**
 * The `sessions` columns aliased to `SessionRecord` names (quoted: PostgreSQL folds unquoted
 * names to lower case). Every statement that hands a record back selects exactly these.
 */
export const SESSION_COLUMNS = `id, subject, secret_hash AS "secretHash", data AS "dataJson",
  created_at AS "createdAtMs", last_active_at AS "lastActiveAtMs",
  idle_timeout_seconds AS "idleTimeoutSeconds", absolute_expires_at AS "absoluteExpiresAtMs",
  leases, expires_at AS "expiresAtMs", status, end_reason AS "endReason", ended_at AS "endedAtMs",
  refresh_hash AS "refreshHash", refresh_previous_hash AS "refreshPreviousHash",
  refresh_nonce AS "refreshNonce", refresh_rotated_at AS "refreshRotatedAtMs",
  refresh_previous_nonce AS "refreshPreviousNonce", refresh_ancestors AS "refreshAncestors",
  refresh_committed_at AS "refreshCommittedAtMs"`;

export interface SessionRow extends SessionRowBase {
  refreshHash: string | null;
  refreshPreviousHash: string | null;
  refreshNonce: string | null;
  refreshRotatedAtMs: number | null;
  refreshPreviousNonce: string | null;
  refreshAncestors: string[] | null;
  refreshCommittedAtMs: number | null;
}

export function toRecord(row: SessionRow): SessionRecord {
  return recordFromRow(
    row,
    row.refreshHash === null
      ? null
      : {
          hash: row.refreshHash,
          previousHash: row.refreshPreviousHash,
          nonce: row.refreshNonce ?? '',
          rotatedAtMs: row.refreshRotatedAtMs ?? 0,
          previousNonce: row.refreshPreviousNonce ?? '',
          ancestorKeys: row.refreshAncestors ?? [],
          committedAtMs: row.refreshCommittedAtMs ?? row.refreshRotatedAtMs ?? 0,
        },
  );
}

/** The column values of a new row, in `INSERT_COLUMNS` order. */
export function insertValues(r: SessionRecord): unknown[] {
  const f = r.refresh;
  return [
    r.id,
    r.subject,
    r.secretHash,
    r.dataJson,
    r.createdAtMs,
    r.lastActiveAtMs,
    r.idleTimeoutSeconds,
    r.absoluteExpiresAtMs,
    leasesJson(r.leases),
    r.expiresAtMs,
    r.status,
    r.endReason,
    r.endedAtMs,
    f?.hash ?? null,
    f?.previousHash ?? null,
    f?.nonce ?? null,
    f?.rotatedAtMs ?? null,
    f?.previousNonce ?? null,
    f?.ancestorKeys ?? null,
    f?.committedAtMs ?? null,
  ];
}

export const INSERT_COLUMNS = `id, subject, secret_hash, data, created_at, last_active_at,
  idle_timeout_seconds, absolute_expires_at, leases, expires_at, status, end_reason, ended_at,
  refresh_hash, refresh_previous_hash, refresh_nonce, refresh_rotated_at, refresh_previous_nonce,
  refresh_ancestors, refresh_committed_at`;

export interface EventRow extends StoredEventRow {
  pos: string;
}
