import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type Database from 'better-sqlite3';
import { type Clock, systemClock } from '../core/clock.js';
import { decodeCursor, encodeCursor } from '../core/cursor.js';
import { patchRecord } from '../core/data-patch.js';
import { StoreUnavailableError } from '../core/errors.js';
import { computeExpiresAtMs, expiryReason, isActiveAt, liveLeases } from '../core/expiry.js';
import { applyRotation, REFRESH_REUSED_REASON, refreshDecision } from '../core/refresh-rotation.js';
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
} from '../core/store.js';
import { DEFAULT_EVENT_GROUP } from '../core/store.js';
import { leasesJson, snapshotJson, timeOrderedUuid, toStoredEvent } from '../core/store-rows.js';
import type { EventType } from '../core/types.js';
import { openDatabase } from './open-database.js';
import { checkOptions, type SqliteStoreOptions } from './options.js';
import { refreshColumns, refreshHistoryJson, type SessionRow, toRecord } from './session-rows.js';
import { toStoreError } from './sqlite-errors.js';
import { prepareStatements, type Statements } from './statements.js';

/**
 * Most sessions one write transaction of `sweep` touches, whatever `limit` is: a transaction
 * blocks this process's event loop (better-sqlite3 is synchronous) and other processes' writes,
 * so it must stay a few milliseconds long (100 took ~3 ms in the 100k-session benchmark).
 * `sweep` yields to the event loop between such transactions.
 */
const SWEEP_TRANSACTION_ROWS = 100;

/** The revoke reason (and `refresh.reused` event reason) when a rotated-out token comes back. */

/**
 * Sessions in an SQLite file (better-sqlite3, WAL). Every method runs synchronously inside, so it
 * is atomic within the process; methods that read and then write do so in an IMMEDIATE
 * transaction, so they are atomic across processes sharing the file too.
 */
export class SqliteStore implements SessionStore {
  readonly location: string;
  readonly durable = true;
  readonly #path: string;
  readonly #db: Database.Database;
  readonly #s: Statements;
  /** One reusable transaction wrapper; `#write` runs each operation's function inside it. */
  readonly #transaction: Database.Transaction<(fn: () => unknown) => unknown>;
  #closed = false;

  /** The store's own clock, read inside write transactions (the refresh grace window). */
  readonly #storeClock: Clock;

  constructor(options: SqliteStoreOptions) {
    const checked = checkOptions(options);
    this.#path = checked.path;
    this.#storeClock = options.clock ?? systemClock;
    this.location = `sqlite:${checked.path}`;
    this.#db = openDatabase(checked);
    try {
      this.#s = prepareStatements(this.#db);
      this.#transaction = this.#db.transaction((fn: () => unknown) => fn());
    } catch (error) {
      this.#db.close();
      throw toStoreError(error, this.#path);
    }
  }

  async ping(): Promise<void> {
    this.#run(() => this.#s.ping.get());
  }

  async create(record: SessionRecord, limits: CreateLimits, nowMs: number): Promise<CreateOutcome> {
    return this.#write(() => this.#create(record, limits, nowMs));
  }

  async get(id: string): Promise<SessionRecord | null> {
    // The validation hot path: one prepared point query, no closure, no transaction.
    if (this.#closed) throw this.#closedError();
    try {
      const row = this.#s.getById.get(id);
      return row === undefined ? null : toRecord(row);
    } catch (error) {
      throw toStoreError(error, this.#path);
    }
  }

  async touch(id: string, nowMs: number): Promise<boolean> {
    return this.#write(() => {
      const record = this.#active(id, nowMs);
      if (!record) return false;
      record.lastActiveAtMs = nowMs;
      this.#s.touch.run(nowMs, computeExpiresAtMs(record), id);
      return true;
    });
  }

  async setData(id: string, dataJson: string, nowMs: number): Promise<SessionRecord | null> {
    return this.#run(() => {
      const row = this.#s.setData.get(dataJson, id, nowMs);
      return row === undefined ? null : toRecord(row);
    });
  }

  async patchData(
    id: string,
    patch: DataPatch,
    nowMs: number,
    maxDataBytes: number,
  ): Promise<PatchOutcome> {
    // Read, merge and write under the IMMEDIATE write lock: no other process's write to the file
    // can fall between the read and the write, so concurrent patches of other keys survive.
    return this.#write(() =>
      patchRecord(this.#active(id, nowMs), patch, maxDataBytes, (dataJson) =>
        toRecord(this.#s.setData.get(dataJson, id, nowMs) as SessionRow),
      ),
    );
  }

  async setLease(
    id: string,
    leaseId: string,
    untilMs: number | null,
    nowMs: number,
  ): Promise<SessionRecord | null> {
    return this.#write(() => {
      const record = this.#active(id, nowMs);
      if (!record) return null;
      const leases = liveLeases(record.leases, nowMs);
      if (untilMs === null) delete leases[leaseId];
      else leases[leaseId] = untilMs;
      record.leases = leases;
      record.lastActiveAtMs = nowMs;
      record.expiresAtMs = computeExpiresAtMs(record);
      this.#s.setLeases.run(nowMs, leasesJson(leases), record.expiresAtMs, id);
      return record;
    });
  }

  async revoke(id: string, reason: string, nowMs: number): Promise<SessionRecord | null> {
    return this.#write(() => {
      // The guarded UPDATE decides: of concurrent revokers only one matches an active row.
      const row = this.#s.revoke.get(reason, nowMs, id, nowMs);
      if (row === undefined) return null;
      const record = toRecord(row);
      this.#append('revoked', nowMs, reason, record);
      return record;
    });
  }

  async revokeSubject(subject: string, reason: string, nowMs: number): Promise<SessionRecord[]> {
    return this.#write(() =>
      this.#s.activeOfSubject.all(subject, nowMs).map((row) => {
        const record = toRecord(row);
        this.#end(record, 'revoked', reason, nowMs, 'revoked');
        return record;
      }),
    );
  }

  async list(
    subject: string,
    page: { limit: number; cursor: string | null },
    nowMs: number,
  ): Promise<ListPage> {
    const after = page.cursor === null ? null : decodeCursor(page.cursor);
    return this.#run(() => {
      const rows = after
        ? this.#s.listAfter.all(subject, nowMs, after.createdAtMs, after.id, page.limit + 1)
        : this.#s.listFirst.all(subject, nowMs, page.limit + 1);
      const records = rows.slice(0, page.limit).map(toRecord);
      const last = records.at(-1);
      return { records, nextCursor: rows.length > page.limit && last ? encodeCursor(last) : null };
    });
  }

  async countActive(nowMs: number): Promise<number> {
    return this.#run(() => this.#s.countActive.get(nowMs) ?? 0);
  }

  async sweep(nowMs: number, limit: number, purgeBeforeMs: number): Promise<SweepResult> {
    let expired = 0;
    let purged = 0;
    let more = false;
    while (expired < limit) {
      const batch = Math.min(limit - expired, SWEEP_TRANSACTION_ROWS);
      const done = this.#write(() => this.#expireBatch(nowMs, batch));
      expired += done;
      if (done < batch) break;
      if (expired === limit) more = this.#run(() => this.#s.anyDueForExpiry.get(nowMs)) === 1;
      else await yieldToEventLoop(); // let validations in this process run between batches
    }
    while (purged < limit) {
      if (expired + purged > 0) await yieldToEventLoop();
      const batch = Math.min(limit - purged, SWEEP_TRANSACTION_ROWS);
      const done = this.#write(() => this.#s.purge.run(purgeBeforeMs, batch).changes);
      purged += done;
      if (done < batch) break;
      if (purged === limit) {
        more ||= this.#run(() => this.#s.anyPurgeable.get(purgeBeforeMs)) === 1;
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
    // IMMEDIATE: of concurrent rotations with one token (any process), the first sees it current
    // and rotates; the rest, serialized behind it, see it as the previous one.
    return this.#write((): RefreshOutcome => {
      const row = this.#s.getById.get(id);
      if (row === undefined) return { kind: 'rejected', record: null };
      const record = toRecord(row);
      // Read under the write lock: however long another process held it, the grace window runs
      // from when this rotation commits.
      const storeNowMs = this.#storeClock.now();
      switch (refreshDecision(record, presentedHash, nowMs, storeNowMs, graceMs)) {
        case 'rotate': {
          const refresh = applyRotation(record, presentedHash, next, nowMs, storeNowMs);
          this.#s.rotateRefresh.run(
            nowMs,
            record.expiresAtMs,
            next.hash,
            presentedHash,
            next.nonce,
            nowMs,
            refreshHistoryJson(refresh),
            id,
          );
          this.#append('refresh.rotated', nowMs, null, record);
          return { kind: 'rotated', record };
        }
        case 'replay':
          return { kind: 'replayed', record };
        case 'reuse':
          this.#append('refresh.reused', nowMs, REFRESH_REUSED_REASON, record);
          this.#end(record, 'revoked', REFRESH_REUSED_REASON, nowMs, 'revoked');
          return { kind: 'reused', record };
        case 'reject':
          return { kind: 'rejected', record };
      }
    });
  }

  async loadKeyring(): Promise<KeyringDocument | null> {
    return this.#run(() => this.#s.loadKeyring.get() ?? null);
  }

  async saveKeyring(expectedVersion: number, json: string): Promise<boolean> {
    // Compare-and-set under the write lock, so of writers expecting one version exactly one wins.
    return this.#write(() => {
      if ((this.#s.keyringVersion.get() ?? 0) !== expectedVersion) return false;
      this.#s.saveKeyring.run(expectedVersion + 1, json);
      return true;
    });
  }

  async claimEvents(
    nowMs: number,
    limit: number,
    leaseMs: number,
    group = DEFAULT_EVENT_GROUP,
  ): Promise<StoredEvent[]> {
    // One IMMEDIATE transaction: of concurrent claimers of a group (any process) one at a time
    // reads and moves the group's cursor and claims, so each event goes to exactly one of them.
    return this.#write(() => {
      const s = this.#s;
      s.touchGroup.run(group, nowMs);
      const rows = s.dueClaims.all(group, nowMs, limit).map((row) => {
        const attempts = row.attempts + 1;
        s.renewClaim.run(nowMs + leaseMs, attempts, group, row.seq);
        return { ...row, attempts };
      });
      if (rows.length < limit) {
        const fresh = s.unclaimed.all(s.groupCursor.get(group) ?? 0, limit - rows.length);
        for (const row of fresh) s.insertClaim.run(group, row.seq, nowMs + leaseMs);
        const last = fresh.at(-1);
        if (last) s.setCursor.run(last.seq, group);
        rows.push(...fresh);
      }
      return rows.map(toStoredEvent);
    });
  }

  async ackEvents(ids: readonly string[], group = DEFAULT_EVENT_GROUP): Promise<void> {
    if (ids.length === 0) return;
    this.#write(() => {
      this.#s.ackClaims.run(group, JSON.stringify(ids));
      this.#s.deleteDelivered.run();
    });
  }

  async retryEvents(
    ids: readonly string[],
    retryAtMs: number,
    group = DEFAULT_EVENT_GROUP,
  ): Promise<void> {
    if (ids.length === 0) return;
    this.#run(() => this.#s.retryClaims.run(retryAtMs, group, JSON.stringify(ids)));
  }

  async forgetEventGroups(seenBeforeMs: number): Promise<string[]> {
    return this.#write(() => {
      const s = this.#s;
      const stale = s.staleGroups.all(seenBeforeMs);
      for (const group of stale) {
        s.deleteGroupClaims.run(group);
        s.deleteGroup.run(group);
      }
      s.deleteDelivered.run();
      s.deleteUnread.run(seenBeforeMs);
      return stale;
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#db.close();
    } catch (error) {
      throw toStoreError(error, this.#path);
    }
  }

  #create(record: SessionRecord, limits: CreateLimits, nowMs: number): CreateOutcome {
    const count = (scope: 'subject' | 'global') =>
      scope === 'subject'
        ? (this.#s.countSubject.get(record.subject, nowMs) ?? 0)
        : (this.#s.countActive.get(nowMs) ?? 0);
    const scopes = [
      { scope: 'subject' as const, limit: limits.perSubject },
      { scope: 'global' as const, limit: limits.global },
    ];
    // Check both scopes before evicting anything, so a refusal leaves no trace.
    for (const { scope, limit } of scopes) {
      if (limit?.policy === 'refuse' && count(scope) >= limit.max) {
        return { ok: false, scope, max: limit.max };
      }
    }
    const evictedIds: string[] = [];
    for (const { scope, limit } of scopes) {
      if (!limit) continue;
      const excess = count(scope) - limit.max + 1;
      if (excess <= 0) continue;
      const victims =
        scope === 'subject'
          ? this.#s.leastRecentInSubject.all(record.subject, nowMs, excess)
          : this.#s.leastRecent.all(nowMs, excess);
      for (const row of victims) {
        this.#end(toRecord(row), 'revoked', 'evicted', nowMs, 'evicted');
        evictedIds.push(row.id);
      }
    }
    const r = record;
    this.#s.insert.run(
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
      ...refreshColumns(r.refresh),
    );
    this.#append('created', nowMs, null, r);
    return { ok: true, evictedIds };
  }

  /** Expires up to `limit` due sessions in the caller's transaction; returns how many. */
  #expireBatch(nowMs: number, limit: number): number {
    // Picked by deadline (index order), then handled in creation order like the reference store.
    const due = this.#s.dueForExpiry.all(nowMs, limit).sort((a, b) => a.seq - b.seq);
    for (const row of due) {
      const record = toRecord(row);
      this.#end(record, 'expired', expiryReason(record), record.expiresAtMs, 'expired');
    }
    return due.length;
  }

  /** The record if it is active at `nowMs`, read inside the caller's transaction. */
  #active(id: string, nowMs: number): SessionRecord | null {
    const row = this.#s.getById.get(id);
    if (row === undefined) return null;
    const record = toRecord(row);
    return isActiveAt(record, nowMs) ? record : null;
  }

  #end(
    record: SessionRecord,
    status: 'expired' | 'revoked',
    reason: string,
    endedAtMs: number,
    event: EventType,
  ): void {
    record.status = status;
    record.endReason = reason;
    record.endedAtMs = endedAtMs;
    this.#s.end.run(status, reason, endedAtMs, record.id);
    this.#append(event, endedAtMs, reason, record);
  }

  /** Appends to the outbox; always called inside the transaction that made the change. */
  #append(type: EventType, atMs: number, reason: string | null, record: SessionRecord): void {
    this.#s.appendEvent.run(timeOrderedUuid(), type, atMs, reason, snapshotJson(record));
  }

  /** Runs `fn` in an IMMEDIATE transaction: the write lock is taken before the first read. */
  #write<T>(fn: () => T): T {
    return this.#run(() => this.#transaction.immediate(fn) as T);
  }

  #run<T>(fn: () => T): T {
    if (this.#closed) throw this.#closedError();
    try {
      return fn();
    } catch (error) {
      throw toStoreError(error, this.#path);
    }
  }

  #closedError(): StoreUnavailableError {
    return new StoreUnavailableError(`SQLite store ${this.#path} is closed`);
  }
}
