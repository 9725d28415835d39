import type { PoolContext } from './pool-context.js';
import type { SessionLifecycle } from './session-lifecycle.js';
import { createGroup, createSlot, type Group, type Slot } from './session-state.js';
import type { SlotPersistence } from './slot-persistence.js';
import type { PoolStateStore } from './state-store.js';

/**
 * Every key's group of slots, within `sessionsPerKey` slots per key and `maxSessions` in the
 * whole pool.
 */
export class Slots<S, State> {
  readonly groups = new Map<string, Group<S>>();
  readonly #ctx: PoolContext<S, State>;
  readonly #store: PoolStateStore<State> | undefined;
  readonly #sessions: SessionLifecycle<S, State>;
  readonly #persistence: SlotPersistence<S, State>;
  #count = 0;

  constructor(
    ctx: PoolContext<S, State>,
    store: PoolStateStore<State> | undefined,
    sessions: SessionLifecycle<S, State>,
    persistence: SlotPersistence<S, State>,
  ) {
    this.#ctx = ctx;
    this.#store = store;
    this.#sessions = sessions;
    this.#persistence = persistence;
  }

  /** Slots of every key. */
  get count(): number {
    return this.#count;
  }

  /** The group of `key`, made on first use. */
  group(key: string): Group<S> {
    let group = this.groups.get(key);
    if (!group) {
      group = createGroup(key);
      this.groups.set(key, group);
    }
    return group;
  }

  add(group: Group<S>, id: string): Slot<S> {
    const slot = createSlot(group, id);
    group.slots.push(slot);
    this.#count++;
    return slot;
  }

  /**
   * Loads the persisted slots of a key on its first use; they are resumed (and probed) on demand.
   * `loaded` runs once they are in (at once without a store).
   */
  load(group: Group<S>, loaded: () => void): void {
    if (group.loading) return;
    group.loading = true;
    const finish = () => {
      group.loaded = true;
      group.loading = false;
      loaded();
    };
    const store = this.#store;
    if (!store) {
      finish();
      return;
    }
    const { sessionsPerKey, maxSessions } = this.#ctx.options;
    this.#ctx.tasks.track(
      (async () => {
        try {
          const persisted = await store.load(group.key);
          for (const { slotId, state } of persisted) {
            if (typeof slotId !== 'string' || group.slots.some((slot) => slot.id === slotId))
              continue;
            if (group.slots.length >= sessionsPerKey) break;
            if (this.#count >= maxSessions) break;
            this.add(group, slotId).resumeState = { state };
          }
        } catch (error) {
          this.#persistence.reportError(group.key, undefined, 'load', error);
        }
        finish();
      })(),
    );
  }

  /** Makes room under `maxSessions` by dropping an idle slot of another key; false if none. */
  evictFor(group: Group<S>): boolean {
    let victim: Slot<S> | undefined;
    for (const other of this.groups.values()) {
      if (other === group || other.waiters.length > 0) continue;
      for (const slot of other.slots) {
        if (slot.filling) continue;
        const entry = slot.entry;
        if (!entry) {
          victim = slot;
          break;
        }
        if (entry.inUse > 0 || entry.busy) continue;
        if (!victim?.entry || entry.lastUsedAtMs < victim.entry.lastUsedAtMs) victim = slot;
      }
      if (victim && !victim.entry) break;
    }
    if (!victim) return false;
    victim.removed = true;
    const slots = victim.group.slots;
    slots.splice(slots.indexOf(victim), 1);
    this.#count--;
    if (victim.entry) this.#sessions.retire(victim.entry, 'evicted');
    this.#persistence.forget(victim);
    return true;
  }
}
