import type { RefreshState, SessionRecord } from '../core/store.js';
import { recordFromRow, type SessionRowBase, type StoredEventRow } from '../core/store-rows.js';

/**
 * The `sessions` columns aliased to `SessionRecord` names, so a row needs only `leases` parsed and
 * the `refresh_*` columns folded into one object. Every statement that hands a record back selects
 * exactly these.
 */
export const SESSION_COLUMNS = `id, subject, secret_hash AS secretHash, data AS dataJson,
  created_at AS createdAtMs, last_active_at AS lastActiveAtMs,
  idle_timeout_seconds AS idleTimeoutSeconds, absolute_expires_at AS absoluteExpiresAtMs,
  leases, expires_at AS expiresAtMs, status, end_reason AS endReason, ended_at AS endedAtMs,
  refresh_hash AS refreshHash, refresh_previous_hash AS refreshPreviousHash,
  refresh_nonce AS refreshNonce, refresh_rotated_at AS refreshRotatedAtMs,
  refresh_history AS refreshHistory`;

export interface SessionRow extends SessionRowBase {
  /** NULL for sessions without a refresh family; then the other three are NULL too. */
  refreshHash: string | null;
  refreshPreviousHash: string | null;
  refreshNonce: string | null;
  refreshRotatedAtMs: number | null;
  /** `RefreshHistory` as JSON; NULL until the family's first rotation (after migration 4). */
  refreshHistory: string | null;
}

/** The part of `RefreshState` kept in the `refresh_history` column. */
interface RefreshHistory {
  /** previousNonce */
  n: string;
  /** ancestorKeys */
  a: string[];
  /** committedAtMs */
  k: number;
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
          ...refreshHistory(row.refreshHistory, row.refreshRotatedAtMs ?? 0),
        },
  );
}

function refreshHistory(
  json: string | null,
  rotatedAtMs: number,
): Pick<RefreshState, 'previousNonce' | 'ancestorKeys' | 'committedAtMs'> {
  if (json === null) return { previousNonce: '', ancestorKeys: [], committedAtMs: rotatedAtMs };
  const history = JSON.parse(json) as RefreshHistory;
  return { previousNonce: history.n, ancestorKeys: history.a, committedAtMs: history.k };
}

/** The `refresh_history` column value of a family. */
export function refreshHistoryJson(refresh: RefreshState): string {
  const history: RefreshHistory = {
    n: refresh.previousNonce,
    a: refresh.ancestorKeys,
    k: refresh.committedAtMs,
  };
  return JSON.stringify(history);
}

/** The `refresh_*` column values, in column order (hash, previous hash, nonce, rotated at). */
export function refreshColumns(
  refresh: RefreshState | null,
): [string | null, string | null, string | null, number | null] {
  return refresh === null
    ? [null, null, null, null]
    : [refresh.hash, refresh.previousHash, refresh.nonce, refresh.rotatedAtMs];
}

export interface EventRow extends StoredEventRow {
  seq: number;
}
