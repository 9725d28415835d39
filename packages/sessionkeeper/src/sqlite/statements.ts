import type Database from 'better-sqlite3';
import type { EventType, SessionStatus } from '../core/types.js';
import { type EventRow, SESSION_COLUMNS, type SessionRow } from './session-rows.js';

// `status = 'active'` is written literally (never bound) so the planner can use the partial indexes.
const ACTIVE = `status = 'active' AND expires_at > ?`;

type Query<P extends unknown[], R = unknown> = Database.Statement<P, R>;

/** Every statement the store runs (parameters in order), prepared once when the store opens. */
export interface Statements {
  ping: Query<[], number>;
  getById: Query<[id: string], SessionRow>;
  insert: Query<
    [
      id: string,
      subject: string,
      secretHash: string,
      dataJson: string,
      createdAtMs: number,
      lastActiveAtMs: number,
      idleTimeoutSeconds: number,
      absoluteExpiresAtMs: number,
      leases: string | null,
      expiresAtMs: number,
      status: SessionStatus,
      endReason: string | null,
      endedAtMs: number | null,
      refreshHash: string | null,
      refreshPreviousHash: string | null,
      refreshNonce: string | null,
      refreshRotatedAtMs: number | null,
    ]
  >;
  countActive: Query<[nowMs: number], number>;
  countSubject: Query<[subject: string, nowMs: number], number>;
  leastRecentInSubject: Query<[subject: string, nowMs: number, limit: number], SessionRow>;
  leastRecent: Query<[nowMs: number, limit: number], SessionRow>;
  activeOfSubject: Query<[subject: string, nowMs: number], SessionRow>;
  listFirst: Query<[subject: string, nowMs: number, limit: number], SessionRow>;
  listAfter: Query<
    [subject: string, nowMs: number, createdAtMs: number, id: string, limit: number],
    SessionRow
  >;
  end: Query<[status: SessionStatus, endReason: string, endedAtMs: number, id: string]>;
  touch: Query<[lastActiveAtMs: number, expiresAtMs: number, id: string]>;
  setLeases: Query<
    [lastActiveAtMs: number, leases: string | null, expiresAtMs: number, id: string]
  >;
  rotateRefresh: Query<
    [
      lastActiveAtMs: number,
      expiresAtMs: number,
      hash: string,
      previousHash: string,
      nonce: string,
      rotatedAtMs: number,
      history: string,
      id: string,
    ]
  >;
  setData: Query<[dataJson: string, id: string, nowMs: number], SessionRow>;
  revoke: Query<[reason: string, endedAtMs: number, id: string, nowMs: number], SessionRow>;
  dueForExpiry: Query<[nowMs: number, limit: number], SessionRow & { seq: number }>;
  anyDueForExpiry: Query<[nowMs: number], number>;
  purge: Query<[beforeMs: number, limit: number]>;
  anyPurgeable: Query<[beforeMs: number], number>;
  appendEvent: Query<
    [id: string, type: EventType, atMs: number, reason: string | null, session: string]
  >;
  touchGroup: Query<[group: string, nowMs: number]>;
  groupCursor: Query<[group: string], number>;
  dueClaims: Query<[group: string, nowMs: number, limit: number], EventRow>;
  renewClaim: Query<[untilMs: number, attempts: number, group: string, seq: number]>;
  unclaimed: Query<[cursor: number, limit: number], EventRow>;
  insertClaim: Query<[group: string, seq: number, untilMs: number]>;
  setCursor: Query<[cursor: number, group: string]>;
  ackClaims: Query<[group: string, idsJson: string]>;
  retryClaims: Query<[untilMs: number, group: string, idsJson: string]>;
  deleteDelivered: Query<[]>;
  staleGroups: Query<[seenBeforeMs: number], string>;
  deleteGroupClaims: Query<[group: string]>;
  deleteGroup: Query<[group: string]>;
  deleteUnread: Query<[beforeMs: number]>;
  loadKeyring: Query<[], { version: number; json: string }>;
  keyringVersion: Query<[], number>;
  saveKeyring: Query<[version: number, json: string]>;
}

export function prepareStatements(db: Database.Database): Statements {
  return {
    ping: db.prepare<[], number>('SELECT count(*) FROM (SELECT 1 FROM sessions LIMIT 1)').pluck(),
    getById: db.prepare(`SELECT ${SESSION_COLUMNS} FROM sessions WHERE id = ?`),
    insert: db.prepare(
      `INSERT INTO sessions (id, subject, secret_hash, data, created_at, last_active_at,
         idle_timeout_seconds, absolute_expires_at, leases, expires_at, status, end_reason, ended_at,
         refresh_hash, refresh_previous_hash, refresh_nonce, refresh_rotated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    countActive: db
      .prepare<[nowMs: number], number>(`SELECT count(*) FROM sessions WHERE ${ACTIVE}`)
      .pluck(),
    countSubject: db
      .prepare<[subject: string, nowMs: number], number>(
        `SELECT count(*) FROM sessions WHERE subject = ? AND ${ACTIVE}`,
      )
      .pluck(),
    leastRecentInSubject: db.prepare(
      `SELECT ${SESSION_COLUMNS} FROM sessions WHERE subject = ? AND ${ACTIVE}
       ORDER BY last_active_at, seq LIMIT ?`,
    ),
    // No index on last_active_at: it would cost every touch; this scan runs only at a global cap.
    leastRecent: db.prepare(
      `SELECT ${SESSION_COLUMNS} FROM sessions WHERE ${ACTIVE} ORDER BY last_active_at, seq LIMIT ?`,
    ),
    activeOfSubject: db.prepare(
      `SELECT ${SESSION_COLUMNS} FROM sessions WHERE subject = ? AND ${ACTIVE} ORDER BY seq`,
    ),
    listFirst: db.prepare(
      `SELECT ${SESSION_COLUMNS} FROM sessions WHERE subject = ? AND ${ACTIVE}
       ORDER BY created_at DESC, id DESC LIMIT ?`,
    ),
    listAfter: db.prepare(
      `SELECT ${SESSION_COLUMNS} FROM sessions WHERE subject = ? AND ${ACTIVE}
         AND (created_at, id) < (?, ?)
       ORDER BY created_at DESC, id DESC LIMIT ?`,
    ),
    end: db.prepare('UPDATE sessions SET status = ?, end_reason = ?, ended_at = ? WHERE id = ?'),
    touch: db.prepare('UPDATE sessions SET last_active_at = ?, expires_at = ? WHERE id = ?'),
    setLeases: db.prepare(
      'UPDATE sessions SET last_active_at = ?, leases = ?, expires_at = ? WHERE id = ?',
    ),
    rotateRefresh: db.prepare(
      `UPDATE sessions SET last_active_at = ?, expires_at = ?, refresh_hash = ?,
         refresh_previous_hash = ?, refresh_nonce = ?, refresh_rotated_at = ?, refresh_history = ?
       WHERE id = ?`,
    ),
    setData: db.prepare(
      `UPDATE sessions SET data = ? WHERE id = ? AND ${ACTIVE} RETURNING ${SESSION_COLUMNS}`,
    ),
    revoke: db.prepare(
      `UPDATE sessions SET status = 'revoked', end_reason = ?, ended_at = ?
       WHERE id = ? AND ${ACTIVE} RETURNING ${SESSION_COLUMNS}`,
    ),
    dueForExpiry: db.prepare(
      `SELECT seq, ${SESSION_COLUMNS} FROM sessions WHERE status = 'active' AND expires_at <= ?
       ORDER BY expires_at LIMIT ?`,
    ),
    anyDueForExpiry: db
      .prepare<[nowMs: number], number>(
        `SELECT 1 FROM sessions WHERE status = 'active' AND expires_at <= ? LIMIT 1`,
      )
      .pluck(),
    purge: db.prepare(
      `DELETE FROM sessions WHERE seq IN (SELECT seq FROM sessions
         WHERE status <> 'active' AND ended_at <= ? ORDER BY ended_at LIMIT ?)`,
    ),
    anyPurgeable: db
      .prepare<[beforeMs: number], number>(
        `SELECT 1 FROM sessions WHERE status <> 'active' AND ended_at <= ? LIMIT 1`,
      )
      .pluck(),
    appendEvent: db.prepare(
      'INSERT INTO events (id, type, at, reason, session) VALUES (?, ?, ?, ?, ?)',
    ),
    // Consumer groups (migration 3): see SqliteStore.claimEvents.
    touchGroup: db.prepare(
      `INSERT INTO event_groups (name, cursor, seen_at) VALUES (?, 0, ?)
       ON CONFLICT (name) DO UPDATE SET seen_at = excluded.seen_at`,
    ),
    groupCursor: db
      .prepare<[group: string], number>('SELECT cursor FROM event_groups WHERE name = ?')
      .pluck(),
    dueClaims: db.prepare(
      `SELECT e.seq, e.id, e.type, e.at AS atMs, e.reason, e.session, c.attempts
       FROM event_claims c JOIN events e ON e.seq = c.seq
       WHERE c.group_name = ? AND c.until <= ? ORDER BY c.seq LIMIT ?`,
    ),
    renewClaim: db.prepare(
      'UPDATE event_claims SET until = ?, attempts = ? WHERE group_name = ? AND seq = ?',
    ),
    unclaimed: db.prepare(
      `SELECT seq, id, type, at AS atMs, reason, session, 0 AS attempts FROM events
       WHERE seq > ? ORDER BY seq LIMIT ?`,
    ),
    insertClaim: db.prepare(
      'INSERT INTO event_claims (group_name, seq, until, attempts) VALUES (?, ?, ?, 0)',
    ),
    setCursor: db.prepare('UPDATE event_groups SET cursor = ? WHERE name = ?'),
    ackClaims: db.prepare(
      `DELETE FROM event_claims WHERE group_name = ? AND seq IN
         (SELECT seq FROM events WHERE id IN (SELECT value FROM json_each(?)))`,
    ),
    retryClaims: db.prepare(
      `UPDATE event_claims SET until = ? WHERE group_name = ? AND seq IN
         (SELECT seq FROM events WHERE id IN (SELECT value FROM json_each(?)))`,
    ),
    // Every group is done with an event once its cursor passed it and it holds no claim on it.
    // No group registered: the minimum is NULL and nothing is deleted. (seq is AUTOINCREMENT since
    // migration 3, so deleting the newest rows never hands their positions out again.)
    deleteDelivered: db.prepare(
      `DELETE FROM events WHERE seq <= (SELECT min(coalesce(
         (SELECT min(c.seq) - 1 FROM event_claims c WHERE c.group_name = g.name), g.cursor))
       FROM event_groups g)`,
    ),
    staleGroups: db
      .prepare<[seenBeforeMs: number], string>('SELECT name FROM event_groups WHERE seen_at < ?')
      .pluck(),
    deleteGroupClaims: db.prepare('DELETE FROM event_claims WHERE group_name = ?'),
    deleteGroup: db.prepare('DELETE FROM event_groups WHERE name = ?'),
    deleteUnread: db.prepare(
      'DELETE FROM events WHERE at < ? AND NOT EXISTS (SELECT 1 FROM event_groups)',
    ),
    loadKeyring: db.prepare('SELECT version, json FROM keyring WHERE id = 1'),
    keyringVersion: db.prepare<[], number>('SELECT version FROM keyring WHERE id = 1').pluck(),
    saveKeyring: db.prepare(
      `INSERT INTO keyring (id, version, json) VALUES (1, ?, ?)
       ON CONFLICT (id) DO UPDATE SET version = excluded.version, json = excluded.json`,
    ),
  };
}
