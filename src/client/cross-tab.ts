import { sleep } from './backoff.js';
import type { KeyValueStorage, StoredTokens } from './token-store.js';

/** What one tab tells the others. */
export type TabMessage =
  | { type: 'tokens'; tokens: StoredTokens }
  | { type: 'logout'; reason: string };

export interface CrossTab {
  /** Runs `run` while holding the lock every tab of this origin shares (one refresh at a time). */
  lock<T>(run: () => Promise<T>): Promise<T>;
  post(message: TabMessage): void;
  close(): void;
}

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

interface BrowserGlobals {
  navigator?: { locks?: LockManagerLike };
  BroadcastChannel?: typeof BroadcastChannel;
  addEventListener?: (type: string, listener: (event: StorageEventLike) => void) => void;
  removeEventListener?: (type: string, listener: (event: StorageEventLike) => void) => void;
}

/** One tab only (Node, or cross-tab coordination turned off): the lock is in-process. */
export const singleTab: CrossTab = {
  lock: (run) => run(),
  post: () => undefined,
  close: () => undefined,
};

/**
 * Coordination between the tabs of one origin: the Web Locks API where present (released by the
 * browser when a tab dies), else a lease in `storage` that expires (so an orphan is recovered);
 * messages by BroadcastChannel, else `storage` events. A lock is given up after `timeoutMs`
 * waiting, and held at most `timeoutMs`: a hung refresh never blocks the other tabs for good.
 */
export function createCrossTab(
  name: string,
  storage: KeyValueStorage,
  onMessage: (message: TabMessage) => void,
  timeoutMs: number,
): CrossTab {
  const g = globalThis as BrowserGlobals;
  const locks = g.navigator?.locks;
  const lock = locks
    ? webLock(locks, name, timeoutMs)
    : leaseLock(storage, `${name}:lock`, timeoutMs);

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

function webLock(locks: LockManagerLike, name: string, timeoutMs: number): CrossTab['lock'] {
  return async <T>(run: () => Promise<T>): Promise<T> => {
    let running: Promise<T> | undefined;
    try {
      await locks.request(name, { signal: AbortSignal.timeout(timeoutMs) }, () => {
        running = run();
        return Promise.race([running.then(noop, noop), sleep(timeoutMs)]);
      });
    } catch {
      // Waiting timed out: go ahead unlocked (the server's grace window covers a race).
    }
    return running ?? run();
  };
}

function leaseLock(storage: KeyValueStorage, key: string, timeoutMs: number): CrossTab['lock'] {
  const id = Math.random().toString(36).slice(2);
  const read = (): { id: string; until: number } | null => {
    try {
      return JSON.parse(storage.getItem(key) ?? 'null') as { id: string; until: number } | null;
    } catch {
      return null;
    }
  };
  return async <T>(run: () => Promise<T>): Promise<T> => {
    const giveUpAt = Date.now() + timeoutMs;
    let held = false;
    while (!held && Date.now() < giveUpAt) {
      const current = read();
      if (!current || current.until < Date.now()) {
        storage.setItem(key, JSON.stringify({ id, until: Date.now() + timeoutMs }));
        await sleep(25); // another tab writing at the same moment wins or loses here
        held = read()?.id === id;
      } else await sleep(50);
    }
    try {
      return await run();
    } finally {
      if (held && read()?.id === id) storage.removeItem(key);
    }
  };
}

function noop(): void {}
