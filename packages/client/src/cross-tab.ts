import { sleep } from './backoff.js';
import type { KeyValueStorage, StoredTokens } from './token-store.js';

/** What one tab tells the others. */
export type TabMessage =
  | { type: 'tokens'; tokens: StoredTokens }
  | { type: 'logout'; reason: string };

export interface CrossTab {
  /**
   * Runs `run` while holding the lock every tab of this origin shares (one refresh at a time).
   * `run` gets the generation of the newest token pair a holder handed over (0: none known); when
   * it ends, `generation()` (this tab's pair now) is handed over to the next holder.
   */
  lock<T>(run: (handed: number) => Promise<T>, generation: () => number): Promise<T>;
  post(message: TabMessage): void;
  close(): void;
}

/**
 * What one holder of the lock leaves for the next, in IndexedDB: the newest generation handed over,
 * and the lease itself where Web Locks are missing. The tokens reach other tabs through storage and
 * messages, whose delivery to another tab lags; this record is read and written in transactions
 * that every tab sees in one order, so the next holder learns how new a pair it must wait for.
 */
interface HandOff {
  gen: number;
  /** The lease: whose it is, and until when (ms; 0 when free). */
  until: number;
  id?: string;
}

/** One atomic read-and-change of the hand-off record; undefined where IndexedDB fails. */
type Update = (change: (record: HandOff) => HandOff | undefined) => Promise<HandOff | undefined>;

interface LockManagerLike {
  request(
    name: string,
    options: { signal?: AbortSignal },
    callback: () => Promise<unknown>,
  ): Promise<unknown>;
}

interface StorageEventLike {
  key: string | null;
  newValue: string | null;
}

/** The IndexedDB subset the hand-off record uses (the package does not build with the DOM types). */
interface IdbRequest<T> {
  readonly result: T;
  readonly error: unknown;
  onsuccess: (() => void) | null;
  onerror: (() => void) | null;
}

interface IdbTransaction {
  readonly error: unknown;
  objectStore(name: string): {
    get(key: string): IdbRequest<unknown>;
    put(value: unknown, key: string): unknown;
  };
  oncomplete: ((event: unknown) => void) | null;
  onabort: (() => void) | null;
}

interface IdbDatabase {
  transaction(store: string, mode: 'readwrite'): IdbTransaction;
  createObjectStore(name: string): unknown;
}

interface BrowserGlobals {
  navigator?: { locks?: LockManagerLike };
  indexedDB?: {
    open(name: string): IdbRequest<IdbDatabase> & { onupgradeneeded: (() => void) | null };
  };
  BroadcastChannel?: typeof BroadcastChannel;
  addEventListener?: (type: string, listener: (event: StorageEventLike) => void) => void;
  removeEventListener?: (type: string, listener: (event: StorageEventLike) => void) => void;
}

/** One tab only (Node, or cross-tab coordination turned off): the lock is in-process. */
export const singleTab: CrossTab = {
  lock: (run) => run(0),
  post: () => undefined,
  close: () => undefined,
};

/**
 * Coordination between the tabs of one origin: the Web Locks API where present (released by the
 * browser when a tab dies), else a lease in the IndexedDB hand-off record that expires (so an
 * orphan is recovered), else none; messages by BroadcastChannel, else `storage` events. A lock is
 * given up after `timeoutMs` waiting, and held at most `timeoutMs`: a hung refresh never blocks
 * the other tabs for good.
 */
export function createCrossTab(
  name: string,
  storage: KeyValueStorage,
  onMessage: (message: TabMessage) => void,
  timeoutMs: number,
): CrossTab {
  const g = globalThis as BrowserGlobals;
  const locks = g.navigator?.locks;
  const update = handOffRecord(name);
  const lock = locks ? webLock(locks, name, update, timeoutMs) : leaseLock(update, timeoutMs);

  if (g.BroadcastChannel) {
    const channel = new g.BroadcastChannel(name);
    channel.onmessage = (event: { data: TabMessage }) => onMessage(event.data);
    return { lock, post: (message) => channel.postMessage(message), close: () => channel.close() };
  }
  const messageKey = `${name}:message`;
  const onStorage = (event: StorageEventLike) => {
    if (event.key !== messageKey || !event.newValue) return;
    try {
      onMessage((JSON.parse(event.newValue) as { message: TabMessage }).message);
    } catch {}
  };
  g.addEventListener?.('storage', onStorage);
  return {
    lock,
    post: (message) =>
      storage.setItem(messageKey, JSON.stringify({ message, nonce: Math.random() })),
    close: () => g.removeEventListener?.('storage', onStorage),
  };
}

function webLock(
  locks: LockManagerLike,
  name: string,
  update: Update,
  timeoutMs: number,
): CrossTab['lock'] {
  return async (run, generation) => {
    const handOff = async () => {
      try {
        return await run((await update(noop))?.gen ?? 0);
      } finally {
        await handOver(update, generation()); // before the lock goes: the next holder reads it after
      }
    };
    let running: ReturnType<typeof handOff> | undefined;
    try {
      await locks.request(name, { signal: AbortSignal.timeout(timeoutMs) }, () => {
        running = handOff();
        return Promise.race([running.then(noop, noop), sleep(timeoutMs)]);
      });
    } catch {
      // Waiting timed out: go ahead unlocked (the server's grace window covers a race).
    }
    return running ?? handOff();
  };
}

function leaseLock(update: Update, timeoutMs: number): CrossTab['lock'] {
  const id = Math.random().toString(36).slice(2);
  return async (run, generation) => {
    const giveUpAt = Date.now() + timeoutMs;
    let record: HandOff | undefined;
    // Taking the lease is one transaction: it is free or expired, and now ours, or it is not.
    for (;;) {
      record = await update((r) =>
        r.until < Date.now() ? { gen: r.gen, id, until: Date.now() + timeoutMs } : undefined,
      );
      if (!record || record.id === id || Date.now() > giveUpAt) break;
      await sleep(20);
    }
    // Held, or waited out, or no IndexedDB: in the last two cases the run goes ahead unlocked.
    try {
      return await run(record?.gen ?? 0);
    } finally {
      await handOver(update, generation(), id);
    }
  };
}

/** Records `gen` for the next holder (never going back), and frees the lease if `id` holds it. */
function handOver(update: Update, gen: number, id?: string): Promise<unknown> {
  return update((r) => ({ ...(r.id === id ? { until: 0 } : r), gen: Math.max(r.gen, gen) }));
}

/** The hand-off record of lock `name`: one IndexedDB database of that name, opened on first use. */
function handOffRecord(name: string): Update {
  let db: Promise<IdbDatabase> | undefined;
  return async (change) => {
    try {
      db ??= new Promise((resolve, reject) => {
        const open = (globalThis as unknown as Required<BrowserGlobals>).indexedDB.open(name);
        open.onupgradeneeded = () => open.result.createObjectStore('s');
        open.onsuccess = () => resolve(open.result);
        open.onerror = () => reject(open.error);
      });
      // A readwrite transaction runs alone on its store, across tabs: read and write are atomic.
      const tx = (await db).transaction('s', 'readwrite');
      const store = tx.objectStore('s');
      const read = store.get('h');
      let result: HandOff | undefined;
      read.onsuccess = () => {
        const current = (read.result as HandOff | undefined) ?? { gen: 0, until: 0 };
        const next = change(current);
        if (next) store.put(next, 'h');
        result = next ?? current;
      };
      await new Promise((resolve, reject) => {
        tx.oncomplete = resolve;
        tx.onabort = () => reject(tx.error); // a failed request aborts the transaction
      });
      return result;
    } catch {
      db = undefined; // no IndexedDB, or its data was just cleared: try again next time
      return undefined;
    }
  };
}

function noop(): undefined {}
