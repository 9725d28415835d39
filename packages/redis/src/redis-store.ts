import { randomInt } from 'node:crypto';
import { decodeCursor, encodeCursor } from 'sessionkeeper/internal/cursor';
import { StoreUnavailableError, ValidationError } from 'sessionkeeper/internal/errors';
import {
  ANCESTOR_KEY_CHARS,
  REFRESH_ANCESTOR_LIMIT,
} from 'sessionkeeper/internal/refresh-rotation';
import type {
  CreateLimits,
  CreateOutcome,
  DataPatch,
  KeyringDocument,
  ListPage,
  PatchOutcome,
  RefreshOutcome,
  RefreshRotation,
  SessionRecord,
  SessionStore,
  StoredEvent,
  SweepResult,
} from 'sessionkeeper/internal/store';
import { checkEventGroup, DEFAULT_EVENT_GROUP } from 'sessionkeeper/internal/store';
import { pingAll } from './connection.js';
import { allocate } from './fan-out.js';
import { type GlobalLimitPlan, planGlobalLimit } from './global-limit.js';
import {
  keyringKey,
  newSessionId,
  SHARD_COUNT,
  shardOfId,
  shardOfSubject,
  subjectTag,
} from './keys.js';
import { Outbox } from './outbox.js';
import { decodeHash, decodeRecordReply, encodeLeases } from './record-codec.js';
import type { ShardClient } from './shard-client.js';
import { scriptFailure } from './store-errors.js';

function asArray(reply: unknown): unknown[] {
  return Array.isArray(reply) ? reply : [];
}

function idsOf(reply: unknown): string[] {
  return asArray(reply).filter((id): id is string => typeof id === 'string');
}

/**
 * Sessions on Redis (standalone, Sentinel or Cluster). Each method is one Lua script on the shard
 * that holds the session or subject (see keys.ts), except the operations over all sessions, which
 * fan out to every shard. Create it with `createRedisStore`, which connects first.
 */
export class RedisStore implements SessionStore {
  readonly location: string;
  readonly durable = true;
  readonly #shards: ShardClient;
  /** The sweep's: the same connection with the longer deadline of background work. */
  readonly #background: ShardClient;
  readonly #outbox: Outbox;
  readonly #ownsClient: boolean;
  #closed = false;

  constructor(shards: ShardClient, ownsClient: boolean, background: ShardClient = shards) {
    this.#shards = shards;
    this.#background = background;
    this.#outbox = new Outbox(background, shards);
    this.#ownsClient = ownsClient;
    this.location = shards.location;
  }

  /**
   * A fresh session id for `subject`. Sessions created in this store must use it: the id names the
   * shard that holds the subject's sessions.
   */
  newSessionId(subject: string): string {
    return newSessionId(subject);
  }

  async ping(): Promise<void> {
    this.#check();
    await this.#shards.call(() => pingAll(this.#shards.client));
  }

  async create(record: SessionRecord, limits: CreateLimits, nowMs: number): Promise<CreateOutcome> {
    this.#check();
    const shard = shardOfSubject(record.subject);
    if (shardOfId(record.id) !== shard) {
      throw new ValidationError(
        'id',
        `${record.id} was not made for this subject by the Redis store; create ids with store.newSessionId(subject)`,
      );
    }
    const tag = subjectTag(record.subject);
    const plan = limits.global
      ? await planGlobalLimit(this.#shards, shard, record.subject, tag, limits, nowMs)
      : null;
    const reply = await this.#shards.script('create', shard, nowMs, record.id, [
      record.id,
      record.subject,
      tag,
      record.secretHash,
      record.dataJson,
      String(record.createdAtMs),
      String(record.lastActiveAtMs),
      String(record.idleTimeoutSeconds),
      String(record.absoluteExpiresAtMs),
      encodeLeases(record.leases),
      String(record.expiresAtMs),
      String(limits.perSubject?.max ?? -1),
      limits.perSubject?.policy ?? '',
      String(limits.global?.max ?? -1),
      limits.global?.policy ?? '',
      String(plan?.othersActive ?? 0),
      record.refresh?.hash ?? '',
      record.refresh?.previousHash ?? '',
      record.refresh?.nonce ?? '',
      String(record.refresh?.rotatedAtMs ?? 0),
      ...(plan?.localVictims ?? []),
    ]);
    if (typeof reply === 'number') throw scriptFailure(reply, record.id);
    const [created, first, second] = asArray(reply);
    await this.#outbox.appended([...(created === 1 ? [shard] : []), ...(plan?.remoteShards ?? [])]);
    if (created === 0) {
      return { ok: false, scope: first === 'global' ? 'global' : 'subject', max: Number(second) };
    }
    return { ok: true, evictedIds: [...idsOf(first), ...globalEvictionOrder(plan, idsOf(second))] };
  }

  async get(id: string): Promise<SessionRecord | null> {
    this.#check();
    const shard = shardOfId(id);
    if (shard === null) return null;
    const key = this.#shards.sessionKey(shard, id);
    const hash = await this.#shards.call(() => this.#shards.client.hgetall(key));
    return decodeHash(id, hash);
  }

  async touch(id: string, nowMs: number): Promise<boolean> {
    this.#check();
    const shard = shardOfId(id);
    if (shard === null) return false;
    return (await this.#shards.script('touch', shard, nowMs, id, [id])) === 1;
  }

  async setData(id: string, dataJson: string, nowMs: number): Promise<SessionRecord | null> {
    this.#check();
    const shard = shardOfId(id);
    if (shard === null) return null;
    const reply = await this.#shards.script('set-data', shard, nowMs, id, [id, dataJson]);
    return reply ? decodeRecordReply(reply) : null;
  }

  async patchData(
    id: string,
    patch: DataPatch,
    nowMs: number,
    maxDataBytes: number,
  ): Promise<PatchOutcome> {
    this.#check();
    const shard = shardOfId(id);
    if (shard === null) return { kind: 'inactive' };
    // Keys travel as JSON text: the script finds them in the stored text without decoding it.
    const args = [id, String(maxDataBytes), String(patch.set.length)];
    for (const [key, valueJson] of patch.set) args.push(JSON.stringify(key), valueJson);
    for (const key of patch.remove) args.push(JSON.stringify(key));
    const reply = await this.#shards.script('patch-data', shard, nowMs, id, args);
    if (typeof reply === 'number') return { kind: 'too-large', sizeBytes: reply };
    return reply ? { kind: 'patched', record: decodeRecordReply(reply) } : { kind: 'inactive' };
  }

  async setLease(
    id: string,
    leaseId: string,
    untilMs: number | null,
    nowMs: number,
  ): Promise<SessionRecord | null> {
    this.#check();
    const shard = shardOfId(id);
    if (shard === null) return null;
    const until = untilMs === null ? '' : String(untilMs);
    const reply = await this.#shards.script('set-lease', shard, nowMs, id, [id, leaseId, until]);
    return reply ? decodeRecordReply(reply) : null;
  }

  async revoke(id: string, reason: string, nowMs: number): Promise<SessionRecord | null> {
    this.#check();
    const shard = shardOfId(id);
    if (shard === null) return null;
    const reply = await this.#shards.script('revoke', shard, nowMs, null, [reason, 'revoked', id]);
    const [record] = asArray(reply);
    if (!record) return null;
    await this.#outbox.appended([shard]);
    return decodeRecordReply(record);
  }

  async revokeSubject(subject: string, reason: string, nowMs: number): Promise<SessionRecord[]> {
    this.#check();
    const reply = await this.#shards.script(
      'revoke-subject',
      shardOfSubject(subject),
      nowMs,
      null,
      [subject, subjectTag(subject), reason],
    );
    return asArray(reply).map(decodeRecordReply);
  }

  async list(
    subject: string,
    page: { limit: number; cursor: string | null },
    nowMs: number,
  ): Promise<ListPage> {
    this.#check();
    const after = page.cursor ? decodeCursor(page.cursor) : null;
    const reply = await this.#shards.script('list', shardOfSubject(subject), nowMs, null, [
      subject,
      subjectTag(subject),
      String(page.limit),
      after ? String(after.createdAtMs) : '',
      after?.id ?? '',
    ]);
    const [more, ...rows] = asArray(reply);
    const records = rows.map(decodeRecordReply);
    const last = records.at(-1);
    return { records, nextCursor: more === 1 && last ? encodeCursor(last) : null };
  }

  /** Sums every shard's count of active sessions; each count is exact when read. */
  async countActive(nowMs: number): Promise<number> {
    this.#check();
    const { client } = this.#shards;
    const counts = await this.#shards.each((shard) =>
      this.#shards.call(() => client.zcount(this.#shards.keys(shard).expiry, `(${nowMs}`, '+inf')),
    );
    return counts.reduce((sum, count) => sum + count, 0);
  }

  /**
   * Counts what each shard has due (one pipelined read), shares `limit` among the shards that have
   * work, then runs sweep.lua on those. The claim is inside sweep.lua, so concurrent sweepers in
   * any number of processes expire each session exactly once.
   */
  async sweep(nowMs: number, limit: number, purgeBeforeMs: number): Promise<SweepResult> {
    this.#check();
    const shards = this.#background;
    const { client } = shards;
    const due = await shards.each((shard) => {
      const keys = shards.keys(shard);
      return shards.call(() =>
        Promise.all([
          client.zcount(keys.expiry, '-inf', String(nowMs)),
          client.zcount(keys.ended, '-inf', String(purgeBeforeMs)),
          // Sessions expired by this call are purgeable at once when they ended before purgeBeforeMs.
          client.zcount(keys.expiry, '-inf', String(Math.min(nowMs, purgeBeforeMs))),
        ]),
      );
    });
    const expireDue = due.map(([expiring]) => expiring);
    const purgeDue = due.map(([, ended, endingNow]) => ended + endingNow);
    const start = randomInt(SHARD_COUNT);
    const expireBudget = allocate(expireDue, limit, start);
    const purgeBudget = allocate(purgeDue, limit, start);
    let more = expireDue.some((n, s) => n > (expireBudget[s] ?? 0));
    more ||= purgeDue.some((n, s) => n > (purgeBudget[s] ?? 0));

    const result: SweepResult = { expired: 0, purged: 0, more };
    const replies = await Promise.all(
      expireBudget.map((expireLimit, shard) => {
        const purgeLimit = purgeBudget[shard] ?? 0;
        if (expireLimit === 0 && purgeLimit === 0) return null;
        return shards.script('sweep', shard, nowMs, null, [
          String(expireLimit),
          String(purgeBeforeMs),
          String(purgeLimit),
        ]);
      }),
    );
    const appended: number[] = [];
    replies.forEach((reply, shard) => {
      const [expired, purged, shardMore] = asArray(reply);
      result.expired += Number(expired ?? 0);
      result.purged += Number(purged ?? 0);
      if (shardMore === 1) result.more = true;
      if (Number(expired ?? 0) > 0) appended.push(shard);
    });
    await this.#outbox.appended(appended);
    return result;
  }

  async rotateRefresh(
    id: string,
    presentedHash: string,
    next: RefreshRotation,
    nowMs: number,
    graceMs: number,
  ): Promise<RefreshOutcome> {
    this.#check();
    const shard = shardOfId(id);
    if (shard === null) return { kind: 'rejected', record: null };
    const reply = await this.#shards.script('rotate-refresh', shard, nowMs, id, [
      id,
      presentedHash,
      next.hash,
      next.nonce,
      String(graceMs),
      String(REFRESH_ANCESTOR_LIMIT),
      String(ANCESTOR_KEY_CHARS),
    ]);
    const [outcome, record] = asArray(reply);
    if (outcome === 1 || outcome === 3) await this.#outbox.appended([shard]);
    if (record === undefined) return { kind: 'rejected', record: null };
    const kind = REFRESH_OUTCOMES[Number(outcome)] ?? 'rejected';
    return { kind, record: decodeRecordReply(record) };
  }

  async loadKeyring(): Promise<KeyringDocument | null> {
    this.#check();
    const key = keyringKey(this.#shards.prefix);
    const [version, json] = await this.#shards.call(() => this.#shards.client.hmget(key, 'v', 'j'));
    return version == null || json == null ? null : { version: Number(version), json };
  }

  async saveKeyring(expectedVersion: number, json: string): Promise<boolean> {
    this.#check();
    const reply = await this.#shards.scriptWithKeys(
      'save-keyring',
      [keyringKey(this.#shards.prefix)],
      [String(expectedVersion), json],
    );
    return reply === 1;
  }

  async claimEvents(
    nowMs: number,
    limit: number,
    leaseMs: number,
    group = DEFAULT_EVENT_GROUP,
  ): Promise<StoredEvent[]> {
    this.#check();
    return this.#outbox.claim(nowMs, limit, leaseMs, checkEventGroup(group));
  }

  async ackEvents(ids: readonly string[], group = DEFAULT_EVENT_GROUP): Promise<void> {
    this.#check();
    // The script's clock is unused by settling; the context still wants one.
    await this.#outbox.ack(ids, checkEventGroup(group), Date.now());
  }

  async retryEvents(
    ids: readonly string[],
    retryAtMs: number,
    group = DEFAULT_EVENT_GROUP,
  ): Promise<void> {
    this.#check();
    await this.#outbox.retry(ids, retryAtMs, checkEventGroup(group));
  }

  async forgetEventGroups(seenBeforeMs: number): Promise<string[]> {
    this.#check();
    return this.#outbox.forget(seenBeforeMs, Date.now());
  }

  /** Closes the connection this store opened; a client passed in stays open for its owner. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.#ownsClient) return;
    // QUIT waits for Redis; a hung Redis must not hold up the shutdown longer than a call would.
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.#shards.callTimeoutMs);
    });
    try {
      const quit = this.#shards.client.quit();
      quit.catch(() => undefined);
      if ((await Promise.race([quit, gaveUp])) === 'timeout') this.#shards.client.disconnect();
    } catch {
      this.#shards.client.disconnect();
    } finally {
      clearTimeout(timer);
    }
  }

  #check(): void {
    if (this.#closed)
      throw new StoreUnavailableError(`The session store at ${this.location} is closed`);
  }
}

/** rotate-refresh.lua's outcome codes. */
const REFRESH_OUTCOMES: Record<number, RefreshOutcome['kind']> = {
  0: 'rejected',
  1: 'rotated',
  2: 'replayed',
  3: 'reused',
};

/** Global evictions in least-recently-active order: the planned victims, then any extra ones. */
function globalEvictionOrder(plan: GlobalLimitPlan | null, local: string[]): string[] {
  if (!plan) return local;
  const evicted = new Set([...plan.remoteEvicted, ...local]);
  const planned = plan.order.filter((id) => evicted.has(id));
  return [...planned, ...local.filter((id) => !plan.order.includes(id))];
}
