import { createHash, randomBytes } from 'node:crypto';
import { ValidationError } from 'sessionkeeper/internal/errors';

/**
 * Key layout. Why shards: on Redis Cluster a script may only touch keys of one slot, and the
 * per-subject cap must be exact under concurrency. So all sessions of one subject live in one
 * shard — a hash tag `{sss}` shared by the shard's session hashes, its indexes and its outbox —
 * and the script that counts, evicts and inserts sees everything it needs atomically. The shard
 * is a hash of the subject, and the session id starts with it, so `get(id)` finds the session in
 * one round trip without a lookup key. 1024 shards spread the slots evenly over any realistic
 * number of masters and keep each shard's indexes small (Redis stores sorted sets of up to 128
 * entries compactly, which holds up to about 100k sessions); the price is that the few
 * operations spanning all sessions (sweep, outbox, countActive, the global cap) fan out to 1024
 * shards, pipelined per master.
 *
 *   <prefix>{sss}:s:<id>   hash  one session (fields in record-codec.ts)
 *   <prefix>{sss}:exp      zset  active sessions by expiresAtMs (sweeper)
 *   <prefix>{sss}:lru      zset  active sessions by lastActiveAtMs (global eviction; kept only
 *                               under a global cap with policy evict: see lib.lua)
 *   <prefix>{sss}:sub      zset  active sessions by subject (lexicographic, <subjectTag><id>)
 *   <prefix>{sss}:ended    zset  ended sessions by endedAtMs (purge)
 *   <prefix>{sss}:ev/:evl/…      outbox: payloads, the log, and each consumer group's cursor and
 *                               claims (lib.lua lists them; :evq/:evc are the layout before groups)
 *   <prefix>{outbox}:shards      hash  shards whose outbox may hold events (see outbox.ts)
 *   <prefix>{outbox}:groups      hash  consumer groups -> last claim (see outbox.ts)
 *   <prefix>{keyring}            hash  the signing keyring: v version, j JSON (save-keyring.lua)
 */
export const SHARD_COUNT = 1024;

const SHARD_DIGITS = 3;
const SHARD_PATTERN = /^[0-3][0-9a-f]{2}/;
/** Key prefixes may not contain braces (they would move the hash tag) nor glob characters. */
const PREFIX_PATTERN = /^[A-Za-z0-9:_.-]{0,64}$/;

export const ALL_SHARDS: readonly number[] = Array.from({ length: SHARD_COUNT }, (_, k) => k);

export function validateKeyPrefix(prefix: string): string {
  if (!PREFIX_PATTERN.test(prefix)) {
    throw new ValidationError(
      'keyPrefix',
      'must be at most 64 characters from A-Z a-z 0-9 : _ . - (no braces or glob characters)',
    );
  }
  return prefix;
}

export function shardHex(shard: number): string {
  return shard.toString(16).padStart(SHARD_DIGITS, '0');
}

function subjectDigest(subject: string): string {
  return createHash('sha1').update(subject).digest('hex');
}

export function shardOfSubject(subject: string): number {
  return Number.parseInt(subjectDigest(subject).slice(0, SHARD_DIGITS), 16) % SHARD_COUNT;
}

/** 12 hex digits of SHA-1(subject); lib.lua's subject_tag computes the same with redis.sha1hex. */
export function subjectTag(subject: string): string {
  return subjectDigest(subject).slice(4, 16);
}

/** The shard a session id names, or null when the id was not made by `newSessionId`. */
export function shardOfId(id: string): number | null {
  return SHARD_PATTERN.test(id) ? Number.parseInt(id.slice(0, SHARD_DIGITS), 16) : null;
}

/**
 * `<shard><22 random base64url chars>`: 16 random bytes as `generateSessionId` gives, behind the
 * subject's shard in 3 hex digits; 25 characters, so it passes `isValidSessionId`.
 */
export function newSessionId(subject: string): string {
  return shardHex(shardOfSubject(subject)) + randomBytes(16).toString('base64url');
}

/** Event ids are `<shard>-<nonce>-<n>`; the shard tells `ackEvents` where the event lives. */
export function newEventIdPrefix(shard: number): string {
  return `${shardHex(shard)}-${randomBytes(9).toString('base64url')}-`;
}

export function shardOfEventId(eventId: string): number | null {
  return eventId.charAt(SHARD_DIGITS) === '-' ? shardOfId(eventId) : null;
}

export interface ShardKeys {
  /** `<prefix>{sss}`: every key of the shard starts with it. */
  tag: string;
  /** KEYS[1..7] of every script, in lib.lua's order. */
  indexes: [string, string, string, string, string, string, string];
  expiry: string;
  ended: string;
  outbox: string;
  outboxWaiting: string;
  outboxClaimed: string;
}

export function shardKeys(prefix: string, shard: number): ShardKeys {
  const tag = `${prefix}{${shardHex(shard)}}`;
  const keys = {
    expiry: `${tag}:exp`,
    lru: `${tag}:lru`,
    subjects: `${tag}:sub`,
    ended: `${tag}:ended`,
    outbox: `${tag}:ev`,
    outboxWaiting: `${tag}:evq`,
    outboxClaimed: `${tag}:evc`,
  };
  return {
    tag,
    indexes: [
      keys.expiry,
      keys.lru,
      keys.subjects,
      keys.ended,
      keys.outbox,
      keys.outboxWaiting,
      keys.outboxClaimed,
    ],
    ...keys,
  };
}

export function outboxHintKey(prefix: string): string {
  return `${prefix}{outbox}:shards`;
}

/** The consumer groups reading the outbox: group -> its last claim (epoch ms). See outbox.ts. */
export function outboxGroupsKey(prefix: string): string {
  return `${prefix}{outbox}:groups`;
}

export function keyringKey(prefix: string): string {
  return `${prefix}{keyring}`;
}

export function sessionKey(prefix: string, shard: number, id: string): string {
  return `${prefix}{${shardHex(shard)}}:s:${id}`;
}
