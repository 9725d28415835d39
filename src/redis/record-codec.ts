import type { SessionRecord, SessionSnapshot, StoredEvent } from '../core/store.js';
import type { EventType, SessionStatus } from '../core/types.js';

/**
 * A session is one Redis hash with one-letter fields (lib.lua lists them): short names keep a
 * session within Redis's compact hash encoding, and nothing is stored twice. Absent fields mean
 * the common case: no leases (L), still active (s, r, n).
 */

/** Leases travel as JSON with the instants as strings, so Lua never reformats a number. */
export function encodeLeases(leases: Record<string, number>): string {
  const entries = Object.entries(leases);
  return entries.length === 0
    ? ''
    : JSON.stringify(Object.fromEntries(entries.map(([id, untilMs]) => [id, String(untilMs)])));
}

function decodeLeases(json: string | undefined): Record<string, number> {
  if (json === undefined) return {};
  const parsed: unknown = JSON.parse(json);
  const leases: Record<string, number> = {};
  if (parsed && typeof parsed === 'object') {
    for (const [id, untilMs] of Object.entries(parsed)) leases[id] = Number(untilMs);
  }
  return leases;
}

function fieldsOf(flat: readonly unknown[]): Map<string, string> {
  const fields = new Map<string, string>();
  for (let k = 0; k + 1 < flat.length; k += 2) {
    const name = flat[k];
    const value = flat[k + 1];
    if (typeof name === 'string' && typeof value === 'string') fields.set(name, value);
  }
  return fields;
}

function required(fields: Map<string, string>, name: string, id: string): string {
  const value = fields.get(name);
  if (value === undefined) throw new Error(`Redis session ${id} lacks field ${name}`);
  return value;
}

function decodeSnapshot(id: string, fields: Map<string, string>): SessionSnapshot {
  const endedAt = fields.get('n');
  return {
    id,
    subject: required(fields, 'u', id),
    dataJson: required(fields, 'd', id),
    createdAtMs: Number(required(fields, 'c', id)),
    lastActiveAtMs: Number(required(fields, 'l', id)),
    idleTimeoutSeconds: Number(required(fields, 'i', id)),
    absoluteExpiresAtMs: Number(required(fields, 'a', id)),
    leases: decodeLeases(fields.get('L')),
    expiresAtMs: Number(required(fields, 'e', id)),
    status: (fields.get('s') ?? 'active') as SessionStatus,
    endReason: fields.get('r') ?? null,
    endedAtMs: endedAt === undefined ? null : Number(endedAt),
  };
}

function decodeFields(id: string, fields: Map<string, string>): SessionRecord | null {
  if (fields.size === 0) return null;
  return { ...decodeSnapshot(id, fields), secretHash: required(fields, 'h', id) };
}

/** A record from ioredis' HGETALL object; null when the hash does not exist. */
export function decodeHash(id: string, hash: Record<string, string>): SessionRecord | null {
  return decodeFields(id, new Map(Object.entries(hash)));
}

/** A record as scripts return it: `{id, field, value, ...}`. */
export function decodeRecordReply(reply: unknown): SessionRecord {
  if (!Array.isArray(reply) || typeof reply[0] !== 'string') {
    throw new Error('Unexpected session reply from Redis');
  }
  const record = decodeFields(reply[0], fieldsOf(reply.slice(1)));
  if (!record) throw new Error(`Redis returned session ${reply[0]} without fields`);
  return record;
}

/** An outbox entry as claim-events.lua returns it: id, earlier claims, JSON payload. */
export function decodeEvent(id: unknown, attempts: unknown, payload: unknown): StoredEvent {
  if (typeof id !== 'string' || typeof payload !== 'string') {
    throw new Error('Unexpected outbox reply from Redis');
  }
  const parsed = JSON.parse(payload) as {
    k: EventType;
    at: string;
    r: string | null;
    id: string;
    s: unknown[];
  };
  return {
    id,
    type: parsed.k,
    atMs: Number(parsed.at),
    reason: parsed.r,
    session: decodeSnapshot(parsed.id, fieldsOf(parsed.s)),
    attempts: Number(attempts),
  };
}
