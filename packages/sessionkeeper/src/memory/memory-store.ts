import { randomUUID } from 'node:crypto';
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
import type { EventType } from '../core/types.js';

interface OutboxEntry {
  event: StoredEvent;
  /** Position in the outbox: groups' cursors count in it. */
  seq: number;
}

/** One consumer group: how far it has claimed, what it holds, and when it last claimed. */
interface GroupState {
  cursor: number;
  /** Event id -> until when (epoch ms) the group holds it, and how often it claimed it. */
  claims: Map<string, { untilMs: number; attempts: number }>;
  seenAtMs: number;
}

/**
 * Sessions in a Map: gone when the process ends. For tests and throwaway scripts only; the engine
 * logs a warning when it runs on this store. Every method is synchronous inside, so each is atomic.
 */
export class MemoryStore implements SessionStore {
  readonly location = 'memory:';
  readonly durable = false;
  readonly #sessions = new Map<string, SessionRecord>();
  readonly #outbox = new Map<string, OutboxEntry>();
  readonly #groups = new Map<string, GroupState>();
  #seq = 0;
  #keyring: KeyringDocument | null = null;
  #closed = false;
  /** The store's own clock, on which the refresh grace window runs (see RefreshState). */
  readonly #storeClock: Clock;

  constructor(options: { clock?: Clock } = {}) {
    this.#storeClock = options.clock ?? systemClock;
  }

  async ping(): Promise<void> {
    this.#check();
  }

  async create(record: SessionRecord, limits: CreateLimits, nowMs: number): Promise<CreateOutcome> {
    this.#check();
    const evictedIds: string[] = [];
    const scopes = [
      { scope: 'subject' as const, limit: limits.perSubject, subject: record.subject },
      { scope: 'global' as const, limit: limits.global, subject: undefined },
    ];
    // Check both scopes before evicting anything, so a refusal leaves no trace.
    for (const { scope, limit, subject } of scopes) {
      if (limit?.policy === 'refuse' && this.#active(nowMs, subject).length >= limit.max) {
        return { ok: false, scope, max: limit.max };
      }
    }
    for (const { limit, subject } of scopes) {
      if (!limit) continue;
      const active = this.#active(nowMs, subject).sort(
        (a, b) => a.lastActiveAtMs - b.lastActiveAtMs,
      );
      for (const victim of active.slice(0, Math.max(0, active.length - limit.max + 1))) {
        this.#end(victim, 'revoked', 'evicted', nowMs, 'evicted');
        evictedIds.push(victim.id);
      }
    }
    const stored = copy(record);
    this.#sessions.set(record.id, stored);
    this.#append('created', nowMs, null, stored);
    return { ok: true, evictedIds };
  }

  async get(id: string): Promise<SessionRecord | null> {
    this.#check();
    const record = this.#sessions.get(id);
    return record ? copy(record) : null;
  }

  async touch(id: string, nowMs: number): Promise<boolean> {
    this.#check();
    const record = this.#sessions.get(id);
    if (!record || !isActiveAt(record, nowMs)) return false;
    record.lastActiveAtMs = nowMs;
    record.expiresAtMs = computeExpiresAtMs(record);
    return true;
  }

  async setData(id: string, dataJson: string, nowMs: number): Promise<SessionRecord | null> {
    this.#check();
    const record = this.#sessions.get(id);
    if (!record || !isActiveAt(record, nowMs)) return null;
    record.dataJson = dataJson;
    return copy(record);
  }

  async patchData(
    id: string,
    patch: DataPatch,
    nowMs: number,
    maxDataBytes: number,
  ): Promise<PatchOutcome> {
    this.#check();
    const record = this.#sessions.get(id);
    const active = record && isActiveAt(record, nowMs) ? record : null;
    return patchRecord(active, patch, maxDataBytes, (dataJson) => {
      (record as SessionRecord).dataJson = dataJson;
      return copy(record as SessionRecord);
    });
  }

  async setLease(
    id: string,
    leaseId: string,
    untilMs: number | null,
    nowMs: number,
  ): Promise<SessionRecord | null> {
    this.#check();
    const record = this.#sessions.get(id);
    if (!record || !isActiveAt(record, nowMs)) return null;
    const leases = liveLeases(record.leases, nowMs);
    if (untilMs === null) delete leases[leaseId];
    else leases[leaseId] = untilMs;
    record.leases = leases;
    record.lastActiveAtMs = nowMs;
    record.expiresAtMs = computeExpiresAtMs(record);
    return copy(record);
  }

  async revoke(id: string, reason: string, nowMs: number): Promise<SessionRecord | null> {
    this.#check();
    const record = this.#sessions.get(id);
    if (!record || !isActiveAt(record, nowMs)) return null;
    this.#end(record, 'revoked', reason, nowMs, 'revoked');
    return copy(record);
  }

  async revokeSubject(subject: string, reason: string, nowMs: number): Promise<SessionRecord[]> {
    this.#check();
    return this.#active(nowMs, subject).map((record) => {
      this.#end(record, 'revoked', reason, nowMs, 'revoked');
      return copy(record);
    });
  }

  async list(
    subject: string,
    page: { limit: number; cursor: string | null },
    nowMs: number,
  ): Promise<ListPage> {
    this.#check();
    const after = page.cursor ? decodeCursor(page.cursor) : null;
    const sorted = this.#active(nowMs, subject)
      .sort((a, b) => b.createdAtMs - a.createdAtMs || (b.id < a.id ? -1 : 1))
      .filter(
        (r) =>
          !after ||
          r.createdAtMs < after.createdAtMs ||
          (r.createdAtMs === after.createdAtMs && r.id < after.id),
      );
    const records = sorted.slice(0, page.limit).map(copy);
    const last = records.at(-1);
    return {
      records,
      nextCursor: sorted.length > page.limit && last ? encodeCursor(last) : null,
    };
  }

  async countActive(nowMs: number): Promise<number> {
    this.#check();
    return this.#active(nowMs).length;
  }

  async sweep(nowMs: number, limit: number, purgeBeforeMs: number): Promise<SweepResult> {
    this.#check();
    let expired = 0;
    let purged = 0;
    let more = false;
    for (const record of this.#sessions.values()) {
      if (record.status !== 'active' || record.expiresAtMs > nowMs) continue;
      if (expired === limit) {
        more = true;
        break;
      }
      this.#end(record, 'expired', expiryReason(record), record.expiresAtMs, 'expired');
      expired++;
    }
    for (const record of this.#sessions.values()) {
      if (record.status === 'active' || (record.endedAtMs ?? 0) > purgeBeforeMs) continue;
      if (purged === limit) {
        more = true;
        break;
      }
      this.#sessions.delete(record.id);
      purged++;
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
    this.#check();
    const record = this.#sessions.get(id);
    if (!record) return { kind: 'rejected', record: null };
    const storeNowMs = this.#storeClock.now();
    switch (refreshDecision(record, presentedHash, nowMs, storeNowMs, graceMs)) {
      case 'rotate':
        applyRotation(record, presentedHash, next, nowMs, storeNowMs);
        this.#append('refresh.rotated', nowMs, null, record);
        return { kind: 'rotated', record: copy(record) };
      case 'replay':
        return { kind: 'replayed', record: copy(record) };
      case 'reuse':
        this.#append('refresh.reused', nowMs, REFRESH_REUSED_REASON, record);
        this.#end(record, 'revoked', REFRESH_REUSED_REASON, nowMs, 'revoked');
        return { kind: 'reused', record: copy(record) };
      case 'reject':
        return { kind: 'rejected', record: copy(record) };
    }
  }

  async loadKeyring(): Promise<KeyringDocument | null> {
    this.#check();
    return this.#keyring && { ...this.#keyring };
  }

  async saveKeyring(expectedVersion: number, json: string): Promise<boolean> {
    this.#check();
    if ((this.#keyring?.version ?? 0) !== expectedVersion) return false;
    this.#keyring = { version: expectedVersion + 1, json };
    return true;
  }

  async claimEvents(
    nowMs: number,
    limit: number,
    leaseMs: number,
    group = DEFAULT_EVENT_GROUP,
  ): Promise<StoredEvent[]> {
    this.#check();
    let state = this.#groups.get(group);
    if (!state) {
      state = { cursor: 0, claims: new Map(), seenAtMs: nowMs };
      this.#groups.set(group, state);
    }
    state.seenAtMs = nowMs;
    const claimed: StoredEvent[] = [];
    const due = [...state.claims].filter(([, claim]) => claim.untilMs <= nowMs);
    due.sort(([a], [b]) => (this.#outbox.get(a)?.seq ?? 0) - (this.#outbox.get(b)?.seq ?? 0));
    for (const [id, claim] of due) {
      if (claimed.length === limit) break;
      const entry = this.#outbox.get(id);
      if (!entry) {
        state.claims.delete(id);
        continue;
      }
      claim.attempts += 1;
      claim.untilMs = nowMs + leaseMs;
      claimed.push({ ...structuredClone(entry.event), attempts: claim.attempts });
    }
    for (const entry of this.#outbox.values()) {
      if (claimed.length === limit) break;
      if (entry.seq <= state.cursor) continue;
      state.cursor = entry.seq;
      state.claims.set(entry.event.id, { untilMs: nowMs + leaseMs, attempts: 0 });
      claimed.push(structuredClone(entry.event));
    }
    return claimed;
  }

  async ackEvents(ids: readonly string[], group = DEFAULT_EVENT_GROUP): Promise<void> {
    this.#check();
    const state = this.#groups.get(group);
    if (!state) return;
    for (const id of ids) state.claims.delete(id);
    this.#deleteDelivered();
  }

  async retryEvents(
    ids: readonly string[],
    retryAtMs: number,
    group = DEFAULT_EVENT_GROUP,
  ): Promise<void> {
    this.#check();
    const claims = this.#groups.get(group)?.claims;
    for (const id of ids) {
      const claim = claims?.get(id);
      if (claim) claim.untilMs = retryAtMs;
    }
  }

  async forgetEventGroups(seenBeforeMs: number): Promise<string[]> {
    this.#check();
    const forgotten: string[] = [];
    for (const [name, state] of this.#groups) {
      if (state.seenAtMs < seenBeforeMs) {
        this.#groups.delete(name);
        forgotten.push(name);
      }
    }
    if (this.#groups.size === 0) {
      for (const [id, entry] of this.#outbox) {
        if (entry.event.atMs < seenBeforeMs) this.#outbox.delete(id);
      }
    } else this.#deleteDelivered();
    return forgotten;
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #active(nowMs: number, subject?: string): SessionRecord[] {
    const out: SessionRecord[] = [];
    for (const record of this.#sessions.values()) {
      if (isActiveAt(record, nowMs) && (subject === undefined || record.subject === subject)) {
        out.push(record);
      }
    }
    return out;
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
    this.#append(event, endedAtMs, reason, record);
  }

  #append(type: EventType, atMs: number, reason: string | null, record: SessionRecord): void {
    const { secretHash: _secretHash, refresh: _refresh, ...session } = copy(record);
    const id = randomUUID();
    this.#outbox.set(id, {
      event: { id, type, atMs, reason, session, attempts: 0 },
      seq: ++this.#seq,
    });
  }

  /** Deletes events every registered group acknowledged (none while no group is registered). */
  #deleteDelivered(): void {
    if (this.#groups.size === 0) return;
    for (const [id, entry] of this.#outbox) {
      for (const state of this.#groups.values()) {
        if (entry.seq > state.cursor || state.claims.has(id)) return; // in order: stop at the first held
      }
      this.#outbox.delete(id);
    }
  }

  #check(): void {
    if (this.#closed) throw new StoreUnavailableError('The memory store is closed');
  }
}

function copy(record: SessionRecord): SessionRecord {
  return {
    ...record,
    leases: { ...record.leases },
    refresh: record.refresh && {
      ...record.refresh,
      ancestorKeys: [...record.refresh.ancestorKeys],
    },
  };
}
