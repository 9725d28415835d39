import type { PoolContext } from './pool-context.js';
import type { Entry, Slot } from './session-state.js';
import type { PoolStateStore } from './state-store.js';

/**
 * Saves and deletes the state of a pool's slots in its `PoolStateStore`, one write at a time per
 * slot. A failure is reported (event `state-error`, an error log), never thrown.
 */
export class SlotPersistence<S, State> {
  readonly #ctx: PoolContext<S, State>;
  readonly #store: PoolStateStore<State> | undefined;

  constructor(ctx: PoolContext<S, State>, store: PoolStateStore<State> | undefined) {
    this.#ctx = ctx;
    this.#store = store;
  }

  /** Saves the state the kind exports for `entry`, unless it is what was saved last. */
  persist(slot: Slot<S>, entry: Entry<S>): void {
    const store = this.#store;
    const kind = this.#ctx.kind;
    const exportState = kind.exportState;
    if (!store || !exportState) return;
    const key = slot.group.key;
    slot.persisting = slot.persisting.then(async () => {
      if (entry.destroyed || slot.removed) return;
      let state: State;
      try {
        state = await exportState.call(kind, entry.session);
      } catch (error) {
        this.reportError(key, slot.id, 'save', error);
        return;
      }
      const json = safeJson(state);
      if (json !== undefined && json === entry.savedState) return;
      try {
        await store.save(key, slot.id, state);
        entry.savedState = json;
      } catch (error) {
        this.reportError(key, slot.id, 'save', error);
      }
    });
    this.#ctx.tasks.track(slot.persisting);
  }

  /** Deletes the saved state of a slot that is gone. */
  forget(slot: Slot<S>): void {
    const store = this.#store;
    if (!store) return;
    const key = slot.group.key;
    slot.persisting = slot.persisting.then(async () => {
      try {
        await store.delete(key, slot.id);
      } catch (error) {
        this.reportError(key, slot.id, 'delete', error);
      }
    });
    this.#ctx.tasks.track(slot.persisting);
  }

  reportError(
    key: string,
    slotId: string | undefined,
    operation: 'load' | 'save' | 'delete',
    error: unknown,
  ): void {
    this.#ctx.logger.error(
      { key, slotId, operation, err: error },
      `session state ${operation} failed`,
    );
    this.#ctx.events.emit('state-error', {
      key,
      operation,
      error,
      ...(slotId === undefined ? {} : { slotId }),
    });
  }
}

/** `JSON.stringify`, or undefined for what cannot be serialised. */
export function safeJson(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    return undefined;
  }
}
