import type { Pool, PoolClient } from 'pg';
import { decodeCursor, encodeCursor } from 'sessionkeeper/internal/cursor';
import { mergeDataJson } from 'sessionkeeper/internal/data-patch';
import { StoreUnavailableError, ValidationError } from 'sessionkeeper/internal/errors';
import {
  computeExpiresAtMs,
  expiryReason,
  isActiveAt,
  liveLeases,
} from 'sessionkeeper/internal/expiry';
import {
  applyRotation,
  REFRESH_REUSED_REASON,
  refreshDecision,
} from 'sessionkeeper/internal/refresh-rotation';
import {
  type CreateLimits,
  type CreateOutcome,
  type DataPatch,
  DEFAULT_EVENT_GROUP,
  type KeyringDocument,
  type ListPage,
  type PatchOutcome,
  type RefreshOutcome,
  type RefreshRotation,
  type SessionRecord,
  type SessionStore,
  type StoredEvent,
  type SweepResult,
} from 'sessionkeeper/internal/store';
import {
  leasesJson,
  snapshotJson,
  timeOrderedUuid,
  toStoredEvent,
} from 'sessionkeeper/internal/store-rows';
import type { EventType } from 'sessionkeeper/internal/types';
import type { EventWatcher } from './event-watcher.js';
import { EVENTS_CHANNEL } from './migrations.js';
import {
  type EventRow,
  INSERT_COLUMNS,
  insertValues,
  SESSION_COLUMNS,
  type SessionRow,
  toRecord,
} from './session-rows.js';
import { isUnavailable, toStoreError } from './store-errors.js';

/**
 * Events appended within this long are announced with one NOTIFY. Sent after the commit, outside
 * the transaction: a NOTIFY inside it would take PostgreSQL's notification-queue lock at every
 * commit, one committing transaction at a time (creates did not scale with concurrency).
 */
const NOTIFY_COALESCE_MS = 5;

/** Sessions one sweep transaction ends or purges at most: row locks are held only briefly. */
const SWEEP_TRANSACTION_ROWS = 100;

// `status = 'active'` is written literally (never bound) so the planner can use the partial indexes.
const ACTIVE = `status = 'active' AND expires_at > $`;

/** The database's clock as epoch milliseconds, read when the statement runs. */
const STORE_NOW = `floor(extract(epoch FROM clock_timestamp()) * 1000)::float8`;

interface PendingEvent {
  type: EventType;
  atMs: number;
  reason: string | null;
  record: SessionRecord;
}

export interface PostgresStoreSettings {
  pool: Pool;
  /** Whether `close()` ends the pool (true when the store made it). */
  ownsPool: boolean;
  schema: string;
  location: string;
  /** Each call's limit, pool wait included; past it the call rejects with StoreUnavailableError. */
  callTimeoutMs: number;
  /** LISTEN for appended events; null when turned off. */
  watcher: EventWatcher | null;
}

/** Marks connections left in an unknown state (a failed ROLLBACK): they are destroyed on release. */
const broken = new WeakSet<PoolClient>();
/** Connections whose current call appended events (announced once it has committed). */
const appended = new WeakSet<PoolClient>();
/** Connections that carry this store's own `error` listener. */
const guarded = new WeakSet<PoolClient>();

/**
 * Sessions in PostgreSQL through a node-postgres pool. Single statements are atomic on their own
 * (a guarded UPDATE decides among concurrent writers); read-then-write operations run in a
 * transaction holding the row (`SELECT … FOR UPDATE`) or, for caps, a per-subject advisory lock,
 * so they are atomic across any number of instances sharing the schema.
 */
export class PostgresStore implements SessionStore {
  readonly location: string;
  readonly durable = true;
  readonly schema: string;
  readonly #pool: Pool;
  readonly #ownsPool: boolean;
  readonly #callTimeoutMs: number;
  readonly #watcher: EventWatcher | null;
  readonly #q: ReturnType<typeof statements>;
  /** Namespace of this schema's advisory locks (first key of the two-key form). */
  readonly #lockSpace: string;
  #closed = false;
  /** Groups this instance has registered (see claimEvents). */
  readonly #registeredGroups = new Set<string>();
  /** The pending NOTIFY for events appended by this instance, if any. */
  #notifyTimer: NodeJS.Timeout | null = null;
  /** The tail of `#inOrder` calls. */
  #order: Promise<unknown> = Promise.resolve();

  constructor(settings: PostgresStoreSettings) {
    this.#pool = settings.pool;
    this.#ownsPool = settings.ownsPool;
    this.schema = settings.schema;
    this.location = settings.location;
    this.#callTimeoutMs = settings.callTimeoutMs;
    this.#watcher = settings.watcher;
    this.#q = statements(`"${settings.schema}"`);
    this.#lockSpace = `sessionkeeper:${settings.schema}`;
  }

  /**
   * Calls `onEvents` whenever a transaction that appended events commits, in any instance
   * (LISTEN/NOTIFY), and once after each reconnection of the listening connection (notifications
   * may have been missed meanwhile). Returns the function that stops it.
   */
  watchEvents(onEvents: () => void): () => void {
    return this.#watcher ? this.#watcher.subscribe(onEvents) : () => {};
  }

  async ping(): Promise<void> {
    await this.#withClient((c) => c.query(this.#q.ping));
  }

  async create(record: SessionRecord, limits: CreateLimits, nowMs: number): Promise<CreateOutcome> {
    if (!limits.perSubject && !limits.global) {
      // No cap to check: the row and its event in one statement, atomic on its own.
      await this.#withClient((c) =>
        this.#insert(c, record, [{ type: 'created', atMs: nowMs, reason: null, record }]),
      );
      return { ok: true, evictedIds: [] };
    }
    return this.#tx((c) => this.#createCapped(c, record, limits, nowMs));
  }

  async get(id: string): Promise<SessionRecord | null> {
    // The validation hot path: one named (prepared once per connection) point query.
    const result = await this.#withClient((c) =>
      c.query<SessionRow>({ name: `${this.#q.prefix}get`, text: this.#q.get, values: [id] }),
    );
    const row = result.rows[0];
    return row === undefined ? null : toRecord(row);
  }

  async touch(id: string, nowMs: number): Promise<boolean> {
    // One guarded statement: the expiry formula of computeExpiresAtMs, in the same float8
    // arithmetic as JavaScript's numbers, so the stored deadline is exactly the one it computes.
    const result = await this.#withClient((c) =>
      c.query({ name: `${this.#q.prefix}touch`, text: this.#q.touch, values: [id, nowMs] }),
    );
    return result.rowCount === 1;
  }

  async setData(id: string, dataJson: string, nowMs: number): Promise<SessionRecord | null> {
    const result = await this.#withClient((c) =>
      c.query<SessionRow>(this.#q.setData, [dataJson, id, nowMs]),
    );
    const row = result.rows[0];
    return row === undefined ? null : toRecord(row);
  }

  async patchData(
    id: string,
    patch: DataPatch,
    nowMs: number,
    maxDataBytes: number,
  ): Promise<PatchOutcome> {
    // Merged here, on the row locked FOR UPDATE, so no other instance's write falls between the
    // read and the write. Not in SQL: the column is text, jsonb would re-encode the whole data
    // (spacing, key order, numbers) so sizes would no longer be the engine's, and json_each
    // cannot read a key holding \u0000.
    return this.#tx(async (c): Promise<PatchOutcome> => {
      const record = await this.#lockActive(c, id, nowMs);
      if (!record) return { kind: 'inactive' };
      const merged = mergeDataJson(record.dataJson, patch);
      if (merged.sizeBytes > maxDataBytes)
        return { kind: 'too-large', sizeBytes: merged.sizeBytes };
      await c.query(this.#q.writeData, [merged.dataJson, id]);
      record.dataJson = merged.dataJson;
      return { kind: 'patched', record };
    });
  }

  async setLease(
    id: string,
    leaseId: string,
    untilMs: number | null,
    nowMs: number,
  ): Promise<SessionRecord | null> {
    return this.#tx(async (c) => {
      const record = await this.#lockActive(c, id, nowMs);
      if (!record) return null;
      const leases = liveLeases(record.leases, nowMs);
      if (untilMs === null) delete leases[leaseId];
      else leases[leaseId] = untilMs;
      record.leases = leases;
      record.lastActiveAtMs = nowMs;
      record.expiresAtMs = computeExpiresAtMs(record);
      await c.query(this.#q.setLeases, [nowMs, leasesJson(leases), record.expiresAtMs, id]);
      return record;
    });
  }

  async revoke(id: string, reason: string, nowMs: number): Promise<SessionRecord | null> {
    return this.#tx(async (c) => {
      // The guarded UPDATE decides: of concurrent revokers only one matches an active row.
      const row = (await c.query<SessionRow>(this.#q.revoke, [reason, nowMs, id])).rows[0];
      if (row === undefined) return null;
      const record = toRecord(row);
      await this.#append(c, [{ type: 'revoked', atMs: nowMs, reason, record }]);
      return record;
    });
  }

  async revokeSubject(subject: string, reason: string, nowMs: number): Promise<SessionRecord[]> {
    return this.#tx(async (c) => {
      const rows = (
        await c.query<SessionRow & { seq: string }>(this.#q.revokeSubject, [reason, nowMs, subject])
      ).rows;
      rows.sort((a, b) => Number(a.seq) - Number(b.seq));
      const records = rows.map(toRecord);
      await this.#append(
        c,
        records.map((record) => ({ type: 'revoked' as const, atMs: nowMs, reason, record })),
      );
      return records;
    });
  }

  async list(
    subject: string,
    page: { limit: number; cursor: string | null },
    nowMs: number,
  ): Promise<ListPage> {
    const after = page.cursor === null ? null : decodeCursor(page.cursor);
    const result = await this.#withClient((c) =>
      after
        ? c.query<SessionRow>(this.#q.listAfter, [
            subject,
            nowMs,
            after.createdAtMs,
            after.id,
            page.limit + 1,
          ])
        : c.query<SessionRow>(this.#q.listFirst, [subject, nowMs, page.limit + 1]),
    );
    const rows = result.rows;
    const records = rows.slice(0, page.limit).map(toRecord);
    const last = records.at(-1);
    return { records, nextCursor: rows.length > page.limit && last ? encodeCursor(last) : null };
  }

  async countActive(nowMs: number): Promise<number> {
    const result = await this.#withClient((c) =>
      c.query<{ n: number }>(this.#q.countActive, [nowMs]),
    );
    return result.rows[0]?.n ?? 0;
  }

  async sweep(nowMs: number, limit: number, purgeBeforeMs: number): Promise<SweepResult> {
    let expired = 0;
    let purged = 0;
    let more = false;
    while (expired < limit) {
      const batch = Math.min(limit - expired, SWEEP_TRANSACTION_ROWS);
      const done = await this.#tx((c) => this.#expireBatch(c, nowMs, batch));
      expired += done;
      if (done < batch) break;
      if (expired === limit) more = await this.#exists(this.#q.anyDueForExpiry, [nowMs]);
    }
    while (purged < limit) {
      const batch = Math.min(limit - purged, SWEEP_TRANSACTION_ROWS);
      const result = await this.#withClient((c) => c.query(this.#q.purge, [purgeBeforeMs, batch]));
      const done = result.rowCount ?? 0;
      purged += done;
      if (done < batch) break;
      if (purged === limit) {
        more ||= await this.#exists(this.#q.anyPurgeable, [purgeBeforeMs]);
      }
    }
    return { expired, purged, more };
  }

  async rotateRefresh(
    id: string,
    presentedHash: string,
    next: RefreshRotation,
    nowMs: number,
    graceMs: number,
  ): Promise<RefreshOutcome> {
    // The row lock serializes rotations of one session across instances: of concurrent
    // rotations with one token the first sees it current and rotates; the rest, waiting on the
    // lock, then see it as the previous one. If the answer to a committed rotation is lost
    // (connection reset, failover), the retry presents the same token, now the previous one,
    // and gets the same pair back: a lost answer never revokes.
    return this.#tx(async (c): Promise<RefreshOutcome> => {
      const row = (
        await c.query<SessionRow & { storeNowMs: number }>(this.#q.lockForRotation, [id])
      ).rows[0];
      if (row === undefined) return { kind: 'rejected', record: null };
      const record = toRecord(row);
      switch (refreshDecision(record, presentedHash, nowMs, row.storeNowMs, graceMs)) {
        case 'rotate': {
          const refresh = applyRotation(record, presentedHash, next, nowMs, row.storeNowMs);
          const updated = await c.query<{ committedAtMs: number }>(this.#q.rotate, [
            nowMs,
            record.expiresAtMs,
            refresh.hash,
            refresh.previousHash,
            refresh.nonce,
            refresh.rotatedAtMs,
            refresh.previousNonce,
            refresh.ancestorKeys,
            id,
          ]);
          // The commit time is read by the UPDATE itself, as late as this transaction can.
          refresh.committedAtMs = updated.rows[0]?.committedAtMs ?? row.storeNowMs;
          await this.#append(c, [{ type: 'refresh.rotated', atMs: nowMs, reason: null, record }]);
          return { kind: 'rotated', record };
        }
        case 'replay':
          return { kind: 'replayed', record };
        case 'reuse': {
          const reused = { ...record };
          record.status = 'revoked';
          record.endReason = REFRESH_REUSED_REASON;
          record.endedAtMs = nowMs;
          await c.query(this.#q.end, ['revoked', REFRESH_REUSED_REASON, nowMs, id]);
          await this.#append(c, [
            { type: 'refresh.reused', atMs: nowMs, reason: REFRESH_REUSED_REASON, record: reused },
            { type: 'revoked', atMs: nowMs, reason: REFRESH_REUSED_REASON, record },
          ]);
          return { kind: 'reused', record };
        }
        case 'reject':
          return { kind: 'rejected', record };
      }
    });
  }

  async loadKeyring(): Promise<KeyringDocument | null> {
    const result = await this.#withClient((c) => c.query<KeyringDocument>(this.#q.loadKeyring));
    return result.rows[0] ?? null;
  }

  async saveKeyring(expectedVersion: number, json: string): Promise<boolean> {
    // Compare-and-set in one statement: of writers expecting one version exactly one matches.
    const result = await this.#withClient((c) =>
      expectedVersion === 0
        ? c.query(this.#q.insertKeyring, [json])
        : c.query(this.#q.updateKeyring, [expectedVersion, json]),
    );
    return result.rowCount === 1;
  }

  async claimEvents(
    nowMs: number,
    limit: number,
    leaseMs: number,
    group = DEFAULT_EVENT_GROUP,
  ): Promise<StoredEvent[]> {
    if (!this.#registeredGroups.has(group)) {
      // Registered in its own committed statement, in call order with this instance's
      // acknowledgements (which delete what every registered group has had): groups whose
      // first claims are made together (the engine drains all its groups at once) all get the
      // events waiting then, as on a store where each call is one atomic step.
      await this.#inOrder(() =>
        this.#withClient((c) => c.query(this.#q.touchGroup, [group, nowMs])),
      );
      this.#registeredGroups.add(group);
    }
    return this.#tx(async (c) => {
      const q = this.#q;
      // Locks the group's row: claimers of one group (any instance) take turns at its cursor,
      // so each event goes to exactly one of them. (A group forgotten meanwhile registers again.)
      const cursor = (
        (await c.query<{ cursor: string }>(q.lockGroup, [group, nowMs])).rows[0] ??
        (await c.query<{ cursor: string }>(q.touchGroup, [group, nowMs])).rows[0]
      )?.cursor;
      // Claims whose hold ran out; SKIP LOCKED: a row an ack or retry is changing is not waited for.
      const due = (await c.query<EventRow>(q.dueClaims, [group, nowMs, limit, nowMs + leaseMs]))
        .rows;
      const rows = due.sort((a, b) => Number(a.pos) - Number(b.pos));
      if (rows.length < limit) {
        // Positions for events committed since the last claim (one positioner at a time).
        const pending = await c.query(q.lockPositions, [this.#lockSpace]);
        if (pending.rowCount) await c.query(q.assignPositions);
        const fresh = (await c.query<EventRow>(q.unclaimed, [cursor ?? '0', limit - rows.length]))
          .rows;
        const last = fresh.at(-1);
        if (last) {
          await c.query(q.insertClaims, [group, fresh.map((e) => e.pos), nowMs + leaseMs]);
          await c.query(q.setCursor, [last.pos, group]);
        }
        rows.push(...fresh);
      }
      return rows.map(toStoredEvent);
    });
  }

  async ackEvents(ids: readonly string[], group = DEFAULT_EVENT_GROUP): Promise<void> {
    if (ids.length === 0) return;
    await this.#inOrder(() =>
      this.#tx(async (c) => {
        await c.query(this.#q.ackClaims, [group, ids]);
        await c.query(this.#q.deleteDelivered);
      }),
    );
  }

  async retryEvents(
    ids: readonly string[],
    retryAtMs: number,
    group = DEFAULT_EVENT_GROUP,
  ): Promise<void> {
    if (ids.length === 0) return;
    await this.#withClient((c) => c.query(this.#q.retryClaims, [retryAtMs, group, ids]));
  }

  async forgetEventGroups(seenBeforeMs: number): Promise<string[]> {
    return this.#tx(async (c) => {
      const stale = (
        await c.query<{ name: string }>(this.#q.deleteStaleGroups, [seenBeforeMs])
      ).rows.map((row) => row.name);
      if (stale.length > 0) await c.query(this.#q.deleteGroupClaims, [stale]);
      await c.query(this.#q.deleteDelivered);
      await c.query(this.#q.deleteUnread, [seenBeforeMs]);
      return stale.sort();
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#notifyTimer) clearTimeout(this.#notifyTimer);
    await this.#watcher?.close();
    if (this.#ownsPool) await this.#pool.end();
  }

  async #createCapped(
    c: PoolClient,
    record: SessionRecord,
    limits: CreateLimits,
    nowMs: number,
  ): Promise<CreateOutcome> {
    const q = this.#q;
    // Advisory locks (global first, then the subject: one order everywhere, so no deadlock)
    // serialize creations in a capped scope across instances; under READ COMMITTED the count
    // below then sees every creation committed before the lock was granted.
    const keys = [
      ...(limits.global ? ['global'] : []),
      ...(limits.perSubject ? [`subject:${record.subject}`] : []),
    ];
    await c.query(q.lock, [this.#lockSpace, keys]);
    const counts = (
      await c.query<{ subject: number; global: number | null }>(q.countCapped, [
        record.subject,
        nowMs,
        limits.global !== undefined,
      ])
    ).rows[0];
    const count = { subject: counts?.subject ?? 0, global: counts?.global ?? 0 };
    const scopes = [
      { scope: 'subject' as const, limit: limits.perSubject },
      { scope: 'global' as const, limit: limits.global },
    ];
    // Check both scopes before evicting anything, so a refusal leaves no trace.
    for (const { scope, limit } of scopes) {
      if (limit?.policy === 'refuse' && count[scope] >= limit.max) {
        return { ok: false, scope, max: limit.max };
      }
    }
    const evictedIds: string[] = [];
    const events: PendingEvent[] = [];
    for (const { scope, limit } of scopes) {
      if (!limit) continue;
      const excess = count[scope] - limit.max + 1;
      if (excess <= 0) continue;
      const victims =
        scope === 'subject'
          ? await c.query<SessionRow & { seq: string }>(q.evictInSubject, [
              record.subject,
              nowMs,
              excess,
            ])
          : await c.query<SessionRow & { seq: string }>(q.evictLeastRecent, [nowMs, excess]);
      // Least recently active first, as they were chosen.
      const rows = victims.rows.sort(
        (a, b) => a.lastActiveAtMs - b.lastActiveAtMs || Number(a.seq) - Number(b.seq),
      );
      for (const row of rows) {
        const victim = toRecord(row);
        evictedIds.push(victim.id);
        events.push({ type: 'evicted', atMs: nowMs, reason: 'evicted', record: victim });
      }
      // Sessions evicted for the subject's cap count no more against the global one.
      if (scope === 'subject') count.global -= rows.length;
    }
    events.push({ type: 'created', atMs: nowMs, reason: null, record });
    await this.#insert(c, record, events);
    return { ok: true, evictedIds };
  }

  /** Inserts the session and appends `events` in one statement. */
  async #insert(c: PoolClient, record: SessionRecord, events: PendingEvent[]): Promise<void> {
    try {
      appended.add(c);
      await c.query({
        name: `${this.#q.prefix}create`,
        text: this.#q.insertWithEvents,
        values: [...insertValues(record), ...eventColumns(events)],
      });
    } catch (error) {
      if ((error as { code?: unknown }).code === '23505') {
        throw new ValidationError('id', `a session with id ${record.id} already exists`);
      }
      throw error;
    }
  }

  /** Expires up to `limit` due sessions in the caller's transaction; returns how many. */
  async #expireBatch(c: PoolClient, nowMs: number, limit: number): Promise<number> {
    // SKIP LOCKED: of concurrent sweepers (any instance) each claims different sessions.
    const due = (await c.query<SessionRow & { seq: string }>(this.#q.dueForExpiry, [nowMs, limit]))
      .rows;
    if (due.length === 0) return 0;
    // Picked by deadline (index order), then handled in creation order like the reference store.
    due.sort((a, b) => Number(a.seq) - Number(b.seq));
    const records = due.map(toRecord);
    const reasons = records.map((record) => expiryReason(record));
    await c.query(this.#q.expire, [records.map((r) => r.id), reasons]);
    const events = records.map((record, k): PendingEvent => {
      const reason = reasons[k] ?? 'idle';
      record.status = 'expired';
      record.endReason = reason;
      record.endedAtMs = record.expiresAtMs;
      return { type: 'expired', atMs: record.expiresAtMs, reason, record };
    });
    await this.#append(c, events);
    return records.length;
  }

  /** The record if it is active at `nowMs`, locked until the caller's transaction ends. */
  async #lockActive(c: PoolClient, id: string, nowMs: number): Promise<SessionRecord | null> {
    const row = (await c.query<SessionRow>(this.#q.lockById, [id])).rows[0];
    if (row === undefined) return null;
    const record = toRecord(row);
    return isActiveAt(record, nowMs) ? record : null;
  }

  /** Appends to the outbox in one statement, inside the transaction that made the change. */
  async #append(c: PoolClient, events: PendingEvent[]): Promise<void> {
    if (events.length === 0) return;
    appended.add(c);
    await c.query({
      name: `${this.#q.prefix}append`,
      text: this.#q.appendEvents,
      values: eventColumns(events),
    });
  }

  /** NOTIFYs every instance (this one too) that events were committed; coalesced, best effort. */
  #announceEvents(): void {
    if (this.#notifyTimer !== null || this.#closed) return;
    this.#notifyTimer = setTimeout(() => {
      this.#notifyTimer = null;
      if (this.#closed) return;
      // A lost NOTIFY only delays delivery until the next poll.
      this.#pool.query('SELECT pg_notify($1, $2)', [EVENTS_CHANNEL, this.schema]).catch(() => {});
    }, NOTIFY_COALESCE_MS);
    this.#notifyTimer.unref();
  }

  /** Runs `work` after every earlier `#inOrder` call of this instance has settled. */
  #inOrder<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#order.then(work);
    this.#order = run.catch(() => {});
    return run;
  }

  async #exists(text: string, values: unknown[]): Promise<boolean> {
    const result = await this.#withClient((c) => c.query(text, values));
    return (result.rowCount ?? 0) > 0;
  }

  /** Runs `work` in a transaction on one pooled connection (see `#withClient`). */
  #tx<T>(work: (c: PoolClient) => Promise<T>): Promise<T> {
    return this.#withClient(async (c) => {
      await c.query('BEGIN');
      let result: T;
      try {
        result = await work(c);
      } catch (error) {
        if (!isUnavailable(error)) {
          await c.query('ROLLBACK').catch(() => broken.add(c));
        }
        throw error;
      }
      await c.query('COMMIT');
      return result;
    });
  }

  /**
   * Runs `work` on a pooled connection within `callTimeoutMs` of the call, pool wait included:
   * past it the call rejects with StoreUnavailableError and the connection is destroyed (the
   * server rolls back whatever it was doing), so a hung database costs a caller at most that
   * long. Connection failures become StoreUnavailableError; a broken connection is never reused.
   */
  #withClient<T>(work: (c: PoolClient) => Promise<T>): Promise<T> {
    if (this.#closed) {
      return Promise.reject(
        new StoreUnavailableError(`The session store at ${this.location} is closed`),
      );
    }
    // Callbacks and one timer rather than a race of promises: this runs for every validation.
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      let client: PoolClient | undefined;
      let released = false;
      const release = (c: PoolClient, error?: Error) => {
        if (released) return;
        released = true;
        c.release(error);
        if (error) destroySocket(c);
      };
      const fail = (error: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(toStoreError(error, this.location));
      };
      const timer = setTimeout(() => {
        settled = true;
        if (client) release(client, new Error('call timed out'));
        reject(
          new StoreUnavailableError(
            `The session store at ${this.location} did not answer within ${this.#callTimeoutMs} ms`,
          ),
        );
      }, this.#callTimeoutMs);
      this.#pool.connect((error, c) => {
        if (error || !c) {
          fail(error ?? new Error('the pool gave no connection'));
          return;
        }
        if (!guarded.has(c)) {
          // The pool listens for errors only while a connection is idle; one that breaks while
          // checked out (or after it was dropped) would otherwise emit an uncaught 'error'. The
          // failure reaches the caller through its query.
          c.on('error', () => {});
          guarded.add(c);
        }
        if (settled) {
          released = true;
          c.release(); // connected too late for this call; the connection itself is fine
          return;
        }
        client = c;
        work(c).then(
          (result) => {
            if (appended.delete(c)) this.#announceEvents();
            if (settled) return; // timed out meanwhile: already released and rejected
            settled = true;
            clearTimeout(timer);
            release(c, broken.has(c) ? new Error('connection left mid-transaction') : undefined);
            resolve(result);
          },
          (workError: unknown) => {
            appended.delete(c);
            if (settled) return;
            const unusable = isUnavailable(workError) || broken.has(c);
            release(c, unusable ? asError(workError) : undefined);
            fail(workError);
          },
        );
      });
    });
  }
}

/** The outbox columns of `events` as five arrays (id, type, at, reason, session snapshot). */
function eventColumns(events: PendingEvent[]): unknown[] {
  const wall = Date.now();
  return [
    events.map(() => timeOrderedUuid(wall)),
    events.map((e) => e.type),
    events.map((e) => e.atMs),
    events.map((e) => e.reason),
    events.map((e) => snapshotJson(e.record)),
  ];
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** Closes the socket of a connection at once: `end()` would wait for a server that may be hung. */
function destroySocket(client: PoolClient): void {
  (
    client as unknown as { connection?: { stream?: { destroy(): void } } }
  ).connection?.stream?.destroy();
}

/** Every statement, with the schema name quoted in. */
function statements(S: string) {
  const active = (n: number) => `${ACTIVE}${n}`;
  // RETURNING after UPDATE … FROM needs the record's columns qualified.
  const prefixed = (alias: string) =>
    SESSION_COLUMNS.replace(/(^|,\s*)([a-z_]+)/g, `$1${alias}.$2`);
  return {
    /** Prefix of named (prepared) statements: unique per schema on a shared pool. */
    prefix: `sk_${S.replace(/"/g, '')}_`,
    ping: `SELECT 1 FROM ${S}.sessions LIMIT 1`,
    get: `SELECT ${SESSION_COLUMNS} FROM ${S}.sessions WHERE id = $1`,
    lockById: `SELECT ${SESSION_COLUMNS} FROM ${S}.sessions WHERE id = $1 FOR UPDATE`,
    lockForRotation: `SELECT ${SESSION_COLUMNS}, ${STORE_NOW} AS "storeNowMs"
      FROM ${S}.sessions WHERE id = $1 FOR UPDATE`,
    // The session and its events ($21… as arrays) in one statement: atomic without BEGIN/COMMIT.
    insertWithEvents: `WITH s AS (INSERT INTO ${S}.sessions (${INSERT_COLUMNS})
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20))
      INSERT INTO ${S}.events (id, type, at, reason, session)
      SELECT * FROM unnest($21::text[], $22::text[], $23::float8[], $24::text[], $25::text[])`,
    // Takes the advisory locks in the order given (the array's order).
    lock: `SELECT pg_advisory_xact_lock(hashtext($1), hashtext(k))
      FROM unnest($2::text[]) WITH ORDINALITY AS l(k, n) ORDER BY n`,
    countActive: `SELECT count(*)::int AS n FROM ${S}.sessions WHERE ${active(1)}`,
    // The subject's active sessions, and the whole store's when $3 (only then: it is a scan).
    countCapped: `SELECT
        (SELECT count(*)::int FROM ${S}.sessions WHERE subject = $1 AND ${active(2)}) AS subject,
        CASE WHEN $3 THEN (SELECT count(*)::int FROM ${S}.sessions WHERE ${active(2)}) END AS global`,
    // Victims are revoked by one guarded UPDATE (a session revoked meanwhile is not evicted twice).
    // The victims are chosen and locked once (MATERIALIZED: an IN (… LIMIT …) subquery may be
    // run again per row), then revoked by a guarded UPDATE (a session revoked meanwhile stays so).
    evictInSubject: `WITH v AS MATERIALIZED (SELECT id FROM ${S}.sessions WHERE subject = $1 AND ${active(2)}
        ORDER BY last_active_at, seq LIMIT $3 FOR UPDATE)
      UPDATE ${S}.sessions s SET status = 'revoked', end_reason = 'evicted', ended_at = $2
      FROM v WHERE s.id = v.id AND s.${active(2)} RETURNING s.seq, ${prefixed('s')}`,
    // No index on last_active_at: it would cost every touch; this scan runs only at a global cap.
    evictLeastRecent: `WITH v AS MATERIALIZED (SELECT id FROM ${S}.sessions WHERE ${active(1)}
        ORDER BY last_active_at, seq LIMIT $2 FOR UPDATE)
      UPDATE ${S}.sessions s SET status = 'revoked', end_reason = 'evicted', ended_at = $1
      FROM v WHERE s.id = v.id AND s.${active(1)} RETURNING s.seq, ${prefixed('s')}`,
    listFirst: `SELECT ${SESSION_COLUMNS} FROM ${S}.sessions WHERE subject = $1 AND ${active(2)}
      ORDER BY created_at DESC, id DESC LIMIT $3`,
    listAfter: `SELECT ${SESSION_COLUMNS} FROM ${S}.sessions WHERE subject = $1 AND ${active(2)}
        AND (created_at, id) < ($3, $4)
      ORDER BY created_at DESC, id DESC LIMIT $5`,
    end: `UPDATE ${S}.sessions SET status = $1, end_reason = $2, ended_at = $3 WHERE id = $4`,
    touch: `UPDATE ${S}.sessions SET last_active_at = $2,
        expires_at = LEAST(absolute_expires_at, GREATEST($2::float8, coalesce(
          (SELECT max(value::float8) FROM json_each_text(leases::json)), $2::float8))
          + idle_timeout_seconds * 1000)
      WHERE id = $1 AND ${active(2)}`,
    setLeases: `UPDATE ${S}.sessions SET last_active_at = $1, leases = $2, expires_at = $3 WHERE id = $4`,
    rotate: `UPDATE ${S}.sessions SET last_active_at = $1, expires_at = $2, refresh_hash = $3,
        refresh_previous_hash = $4, refresh_nonce = $5, refresh_rotated_at = $6,
        refresh_previous_nonce = $7, refresh_ancestors = $8, refresh_committed_at = ${STORE_NOW}
      WHERE id = $9 RETURNING refresh_committed_at AS "committedAtMs"`,
    writeData: `UPDATE ${S}.sessions SET data = $1 WHERE id = $2`,
    setData: `UPDATE ${S}.sessions SET data = $1 WHERE id = $2 AND ${active(3)}
      RETURNING ${SESSION_COLUMNS}`,
    revoke: `UPDATE ${S}.sessions SET status = 'revoked', end_reason = $1, ended_at = $2
      WHERE id = $3 AND ${active(2)} RETURNING ${SESSION_COLUMNS}`,
    // Rows locked in id order, as every multi-row lock here, so two such statements cannot deadlock.
    revokeSubject: `UPDATE ${S}.sessions SET status = 'revoked', end_reason = $1, ended_at = $2
      WHERE id IN (SELECT id FROM ${S}.sessions WHERE subject = $3 AND ${active(2)}
        ORDER BY id FOR UPDATE)
      AND ${active(2)} RETURNING seq, ${SESSION_COLUMNS}`,
    dueForExpiry: `SELECT seq, ${SESSION_COLUMNS} FROM ${S}.sessions
      WHERE status = 'active' AND expires_at <= $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED`,
    expire: `UPDATE ${S}.sessions s SET status = 'expired', end_reason = u.reason, ended_at = s.expires_at
      FROM unnest($1::text[], $2::text[]) AS u(id, reason) WHERE s.id = u.id`,
    anyDueForExpiry: `SELECT 1 FROM ${S}.sessions WHERE status = 'active' AND expires_at <= $1 LIMIT 1`,
    purge: `WITH p AS MATERIALIZED (SELECT id FROM ${S}.sessions
        WHERE status <> 'active' AND ended_at <= $1 ORDER BY ended_at LIMIT $2 FOR UPDATE SKIP LOCKED)
      DELETE FROM ${S}.sessions s USING p WHERE s.id = p.id`,
    anyPurgeable: `SELECT 1 FROM ${S}.sessions WHERE status <> 'active' AND ended_at <= $1 LIMIT 1`,
    appendEvents: `INSERT INTO ${S}.events (id, type, at, reason, session)
      SELECT * FROM unnest($1::text[], $2::text[], $3::float8[], $4::text[], $5::text[])`,
    touchGroup: `INSERT INTO ${S}.event_groups AS g (name, cursor, seen_at) VALUES ($1, 0, $2)
      ON CONFLICT (name) DO UPDATE SET seen_at = excluded.seen_at RETURNING g.cursor`,
    lockGroup: `UPDATE ${S}.event_groups SET seen_at = $2 WHERE name = $1 RETURNING cursor`,
    dueClaims: `WITH due AS (
        SELECT pos FROM ${S}.event_claims WHERE group_name = $1 AND until <= $2
        ORDER BY pos LIMIT $3 FOR UPDATE SKIP LOCKED)
      UPDATE ${S}.event_claims c SET until = $4, attempts = c.attempts + 1
      FROM due, ${S}.events e
      WHERE c.group_name = $1 AND c.pos = due.pos AND e.pos = c.pos
      RETURNING c.pos, e.id, e.type, e.at AS "atMs", e.reason, e.session, c.attempts`,
    // Returns a row (and takes the positioner lock) only when some event still lacks a position.
    lockPositions: `SELECT pg_advisory_xact_lock(hashtext($1), hashtext('positions'))
      FROM (SELECT 1 FROM ${S}.events WHERE pos IS NULL LIMIT 1) AS pending`,
    assignPositions: `UPDATE ${S}.events e SET pos = p.pos
      FROM (SELECT seq, nextval('${S}.events_pos') AS pos
        FROM (SELECT seq FROM ${S}.events WHERE pos IS NULL ORDER BY seq) AS ordered) AS p
      WHERE e.seq = p.seq AND e.pos IS NULL`,
    unclaimed: `SELECT pos, id, type, at AS "atMs", reason, session, 0 AS attempts
      FROM ${S}.events WHERE pos IS NOT NULL AND pos > $1 ORDER BY pos LIMIT $2`,
    insertClaims: `INSERT INTO ${S}.event_claims (group_name, pos, until, attempts)
      SELECT $1, unnest($2::bigint[]), $3, 0`,
    setCursor: `UPDATE ${S}.event_groups SET cursor = $1 WHERE name = $2`,
    ackClaims: `DELETE FROM ${S}.event_claims WHERE group_name = $1
      AND pos IN (SELECT pos FROM ${S}.events WHERE id = ANY($2::text[]))`,
    retryClaims: `UPDATE ${S}.event_claims SET until = $1 WHERE group_name = $2
      AND pos IN (SELECT pos FROM ${S}.events WHERE id = ANY($3::text[]))`,
    // Every group is done with an event once its cursor passed it and it holds no claim on it.
    // No group registered: the minimum is NULL and nothing is deleted.
    deleteDelivered: `DELETE FROM ${S}.events WHERE pos IS NOT NULL AND pos <= (SELECT min(coalesce(
        (SELECT min(c.pos) - 1 FROM ${S}.event_claims c WHERE c.group_name = g.name), g.cursor))
      FROM ${S}.event_groups g)`,
    deleteStaleGroups: `DELETE FROM ${S}.event_groups WHERE seen_at < $1 RETURNING name`,
    deleteGroupClaims: `DELETE FROM ${S}.event_claims WHERE group_name = ANY($1::text[])`,
    deleteUnread: `DELETE FROM ${S}.events WHERE at < $1
      AND NOT EXISTS (SELECT 1 FROM ${S}.event_groups)`,
    loadKeyring: `SELECT version, json FROM ${S}.keyring WHERE id = 1`,
    insertKeyring: `INSERT INTO ${S}.keyring (id, version, json) VALUES (1, 1, $1)
      ON CONFLICT (id) DO NOTHING`,
    updateKeyring: `UPDATE ${S}.keyring SET version = version + 1, json = $2
      WHERE id = 1 AND version = $1`,
  };
}
