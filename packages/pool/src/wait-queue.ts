import { PoolTimeoutError } from 'sessionkeeper/internal/errors';
import { capacityComing, type Entry, type Group, type Waiter } from './session-state.js';

/** The callers of `use` waiting for a session, in line per key. */
export class WaitQueue<S> {
  /** The groups with at least one caller waiting. */
  readonly #groups = new Set<Group<S>>();

  /**
   * Puts a caller of `group` in line until it is handed a session, `timeoutSeconds` pass
   * (`PoolTimeoutError`, caused by the key's last login failure) or `signal` aborts (its
   * reason). `queued` runs once the caller is in line, to start serving it.
   */
  wait(
    group: Group<S>,
    timeoutSeconds: number,
    signal: AbortSignal | undefined,
    freshAfter: number | undefined,
    queued: () => void,
  ): Promise<Entry<S>> {
    return new Promise<Entry<S>>((resolve, reject) => {
      const onAbort = () => {
        this.#drop(group, waiter);
        waiter.reject(signal?.reason);
      };
      const timer = setTimeout(() => {
        this.#drop(group, waiter);
        const cause = group.lastError;
        waiter.reject(
          new PoolTimeoutError(group.key, timeoutSeconds, cause === undefined ? {} : { cause }),
        );
      }, timeoutSeconds * 1000);
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const waiter: Waiter<S> = {
        freshAfter,
        resolve: (entry) => {
          done();
          resolve(entry);
        },
        reject: (error) => {
          done();
          reject(error);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      group.waiters.push(waiter);
      this.#groups.add(group);
      queued();
    });
  }

  /**
   * Hands sessions to the callers of `group` in order, as long as `pick` finds one for the first
   * in line (`checkout` takes it); true when callers are left waiting.
   */
  serve(
    group: Group<S>,
    pick: (freshAfter: number | undefined) => Entry<S> | undefined,
    checkout: (entry: Entry<S>) => void,
  ): boolean {
    while (group.waiters.length > 0) {
      const entry = pick(group.waiters[0]?.freshAfter);
      if (!entry) break;
      const waiter = group.waiters.shift() as Waiter<S>;
      checkout(entry);
      waiter.resolve(entry);
    }
    if (group.waiters.length === 0) {
      this.#groups.delete(group);
      return false;
    }
    return true;
  }

  /** Rejects every caller waiting for `group`. */
  reject(group: Group<S>, error: Error): void {
    const waiters = group.waiters.splice(0);
    this.#groups.delete(group);
    for (const waiter of waiters) waiter.reject(error);
  }

  /** Rejects the callers of every group that nothing can serve without a new login. */
  rejectStranded(error: (group: Group<S>) => Error): void {
    for (const group of [...this.#groups]) {
      if (!capacityComing(group)) this.reject(group, error(group));
    }
  }

  /** The groups with callers waiting, as a copy: serving them changes the set. */
  waiting(): Group<S>[] {
    return [...this.#groups];
  }

  #drop(group: Group<S>, waiter: Waiter<S>): void {
    const index = group.waiters.indexOf(waiter);
    if (index !== -1) group.waiters.splice(index, 1);
    if (group.waiters.length === 0) this.#groups.delete(group);
  }
}
