import { computeExpiresAtMs } from 'sessionkeeper/internal/expiry';
import type { SessionRecord, SessionSnapshot, StoredEvent } from 'sessionkeeper/internal/store';
import type { EventType, SessionStatus } from 'sessionkeeper/internal/types';

/**
 * A session is one Redis hash with one-letter fields (lib.lua lists them and says why): short
 * names and small numbers keep a session within Redis's compact hash encoding and its smaller
 * allocation classes, and nothing is stored that can be recomputed. Absent fields mean the common
 * case: no leases (L), still active (s, r, n), expiresAtMs as computeExpiresAtMs gives it (e).
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

type Fields = Readonly<Record<string, string | undefined>>;

function fieldsOf(flat: readonly unknown[]): Fields {
  const fields: Record<string, string> = {};
  for (let k = 0; k + 1 < flat.length; k += 2) {
    const name = flat[k];
    const value = flat[k + 1];
    if (typeof name === 'string' && typeof value === 'string') fields[name] = value;
  }
  return fields;
}

function required(fields: Fields, name: string, id: string): string {
  const value = fields[name];
  if (value === undefined) throw new Error(`Redis session ${id} lacks field ${name}`);
  return value;
}

/** One literal for the whole record: validation decodes one per call, so this path stays lean. */
function decodeRecord(id: string, fields: Fields, secretHash: string): SessionRecord {
  const createdAtMs = Number(required(fields, 'c', id));
  const lastActiveAtMs = Number(required(fields, 'l', id));
  const idleTimeoutSeconds = Number(required(fields, 'i', id));
  // Older records (and values a difference would not give back exactly) store `a` absolute.
  const { a, e, n } = fields;
  const absoluteExpiresAtMs =
    a === undefined ? createdAtMs + Number(required(fields, 'A', id)) : Number(a);
  const leases = decodeLeases(fields.L);
  const refreshHash = fields.f;
  return {
    id,
    subject: required(fields, 'u', id),
    secretHash,
    dataJson: required(fields, 'd', id),
    createdAtMs,
    lastActiveAtMs,
    idleTimeoutSeconds,
    absoluteExpiresAtMs,
    leases,
    // Not stored unless the caller's value differed from the formula (lib.lua's load does alike).
    expiresAtMs:
      e === undefined
        ? computeExpiresAtMs({ lastActiveAtMs, idleTimeoutSeconds, absoluteExpiresAtMs, leases })
        : Number(e),
    status: (fields.s ?? 'active') as SessionStatus,
    endReason: fields.r ?? null,
    endedAtMs: n === undefined ? null : Number(n),
    refresh:
      refreshHash === undefined
        ? null
        : {
            hash: refreshHash,
            previousHash: fields.p ?? null,
            nonce: fields.o ?? '',
            ...decodeRefreshTimes(fields, createdAtMs, id),
            previousNonce: fields.P ?? '',
            ancestorKeys: fields.g === undefined ? [] : fields.g.split(' '),
          },
  };
}

/** rotatedAtMs (T or t) and committedAtMs (K or k; absent before the first rotation: rotatedAtMs). */
function decodeRefreshTimes(
  fields: Fields,
  createdAtMs: number,
  id: string,
): { rotatedAtMs: number; committedAtMs: number } {
  const rotatedAtMs =
    fields.t === undefined ? createdAtMs + Number(required(fields, 'T', id)) : Number(fields.t);
  const committedAtMs =
    fields.k !== undefined
      ? Number(fields.k)
      : fields.K !== undefined
        ? createdAtMs + Number(fields.K)
        : rotatedAtMs;
  return { rotatedAtMs, committedAtMs };
}

function decodeSnapshot(id: string, fields: Fields): SessionSnapshot {
  const { secretHash: _secretHash, refresh: _refresh, ...snapshot } = decodeRecord(id, fields, '');
  return snapshot;
}

function decodeFields(id: string, fields: Fields): SessionRecord | null {
  // HGETALL of a missing key is empty.
  if (fields.h === undefined && Object.keys(fields).length === 0) return null;
  return decodeRecord(id, fields, required(fields, 'h', id));
}

/** A record from ioredis' HGETALL object; null when the hash does not exist. */
export function decodeHash(id: string, hash: Record<string, string>): SessionRecord | null {
  return decodeFields(id, hash);
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
