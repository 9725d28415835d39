import type { SessionEngine } from 'sessionkeeper/internal/engine';
import { ValidationError } from 'sessionkeeper/internal/errors';
import { checkSeconds, checkSubject } from 'sessionkeeper/internal/input';

/** The persisted state of one slot: a key (account) has up to `sessionsPerKey` slots. */
export interface PersistedSlot<State = unknown> {
  slotId: string;
  state: State;
}

/**
 * Where a pool keeps its sessions' state (cookies, storage state) so that a restarted service
 * resumes logged in. The pool calls these one at a time per slot (never two saves of one slot at
 * once). Any of them may reject; the pool reports it (event `state-error`, an error log) and goes
 * on without persistence for that slot.
 */
export interface PoolStateStore<State = unknown> {
  /** Every persisted slot of `key`, at most one entry per slot id. */
  load(key: string): Promise<PersistedSlot<State>[]>;
  /** Replaces the state of one slot. */
  save(key: string, slotId: string, state: State): Promise<void>;
  /** Forgets one slot; a slot that was never saved is not an error. */
  delete(key: string, slotId: string): Promise<void>;
}

export interface EngineStateStoreOptions {
  /** Separates pools that share an engine; part of each record's subject. */
  namespace: string;
  /**
   * How long a saved state stays loadable without being saved again, in seconds. Default 604800
   * (7 days): cookies older than that are rarely still accepted upstream.
   */
  retentionSeconds?: number;
}

type StoredSlot = { slotId: string; state: unknown };

/**
 * Keeps each slot's state as one session of a sessionkeeper engine (SQLite, Redis): subject
 * `pool:<namespace>:<key>`, data `{ slotId, state }`, written through the engine's public API.
 * A state larger than the engine's `maxDataBytes` makes `save` reject with `PayloadTooLargeError`.
 * Give the pool an engine (or a namespace) that nothing else caps or evicts.
 */
export function engineStateStore<State = unknown>(
  engine: SessionEngine,
  options: EngineStateStoreOptions,
): PoolStateStore<State> {
  const namespace = checkSubject(options?.namespace, 'namespace');
  const retention = checkSeconds(options.retentionSeconds ?? 604_800, 'retentionSeconds');
  /** Engine session id of each slot, by `key\u0000slotId`; filled by `load` and `save`. */
  const ids = new Map<string, string>();
  const subjectOf = (key: string) => checkSubject(`pool:${namespace}:${key}`, 'key');
  const idKey = (key: string, slotId: string) => `${key}\u0000${slotId}`;

  return {
    async load(key) {
      const subject = subjectOf(key);
      const found = new Map<string, PersistedSlot<State>>();
      const duplicates: string[] = [];
      let cursor: string | null = null;
      do {
        const page = await engine.list(subject, { limit: 1000, cursor });
        // Newest first: the first record of a slot is its latest state.
        for (const session of page.sessions) {
          const data = session.data as Partial<StoredSlot>;
          if (typeof data.slotId !== 'string' || !('state' in data)) continue;
          if (found.has(data.slotId)) {
            duplicates.push(session.id);
            continue;
          }
          found.set(data.slotId, { slotId: data.slotId, state: data.state as State });
          ids.set(idKey(key, data.slotId), session.id);
        }
        cursor = page.nextCursor;
      } while (cursor !== null);
      // Two records of one slot come from two processes saving at once; keep the newest.
      await Promise.all(duplicates.map((id) => engine.revoke(id, 'pool-slot-superseded')));
      return [...found.values()];
    },

    async save(key, slotId, state) {
      if (typeof slotId !== 'string' || slotId.length === 0) {
        throw new ValidationError('slotId', 'must be a non-empty string');
      }
      const data = { slotId, state } as StoredSlot as Record<string, unknown>;
      const known = ids.get(idKey(key, slotId));
      if (known !== undefined && (await engine.update(known, data)) !== null) return;
      // Unknown, or its record reached the retention and ended: start a new record.
      const { session } = await engine.create({
        subject: subjectOf(key),
        data,
        idleTimeoutSeconds: retention,
        absoluteTimeoutSeconds: retention,
      });
      ids.set(idKey(key, slotId), session.id);
      if (known !== undefined) await engine.revoke(known, 'pool-slot-superseded');
    },

    async delete(key, slotId) {
      const known = ids.get(idKey(key, slotId));
      if (known === undefined) return;
      ids.delete(idKey(key, slotId));
      await engine.revoke(known, 'pool-slot-removed');
    },
  };
}
