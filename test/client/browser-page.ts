// The page the browser tests load: the client (on localStorage, with a clock the test can move),
// the React provider, a component on `useSession`/`useExpiryWarning`, the expiry warning, and
// `window.sk` for the test to drive. The query string configures the client:
// `?transport=cookie` (signs in through the app's cookie login; `reauthenticate` signs in again),
// `&keepAlive=<intervalSeconds>,<idleAfterSeconds>` (default off), `&lockTimeoutMs=<ms>`,
// `&maxRefreshesPerMinute=<n>`.
import { createElement, type ReactNode, useState } from 'react';
import { createRoot } from 'react-dom/client';
import {
  createSessionClient,
  type KeyValueStorage,
  type ServerTokenSet,
} from '../../packages/client/src/index.js';
import {
  SessionExpiryWarning,
  SessionProvider,
  useExpiryWarning,
  useSession,
} from '../../packages/react/src/index.js';

interface PageGlobals {
  localStorage: KeyValueStorage;
  location: { origin: string; search: string };
  document: { getElementById(id: string): Element | null };
  indexedDB: { open(name: string): IdbRequest<Idb> & { onupgradeneeded: (() => void) | null } };
  sk: unknown;
}
const page = globalThis as unknown as PageGlobals;
const query = new URLSearchParams(page.location.search);
const cookie = query.get('transport') === 'cookie';
const keepAlive = query.get('keepAlive')?.split(',').map(Number);

async function cookieLogin(): Promise<boolean> {
  const response = await fetch('/app/login', { method: 'POST' });
  return response.ok;
}

// The IndexedDB calls the page makes (the tests build without the DOM types).
interface IdbRequest<T> {
  result: T;
  error: unknown;
  onsuccess: (() => void) | null;
  onerror: (() => void) | null;
}
interface Idb {
  createObjectStore(name: string): unknown;
  transaction(
    store: string,
    mode: 'readwrite',
  ): {
    error: unknown;
    objectStore(name: string): {
      get(key: string): IdbRequest<unknown>;
      put(value: unknown, key: string): unknown;
    };
    oncomplete: ((event: unknown) => void) | null;
    onabort: (() => void) | null;
  };
  close(): void;
}

interface HandOffRecord {
  gen: number;
  until: number;
  id?: string;
}

let offsetMs = 0;
const client = createSessionClient({
  baseUrl: page.location.origin,
  storage: page.localStorage,
  now: () => Date.now() + offsetMs,
  warnBeforeSeconds: 60,
  keepAlive: keepAlive ? { intervalSeconds: keepAlive[0], idleAfterSeconds: keepAlive[1] } : false,
  ...(query.has('lockTimeoutMs') ? { lockTimeoutMs: Number(query.get('lockTimeoutMs')) } : {}),
  ...(query.has('maxRefreshesPerMinute')
    ? { maxRefreshesPerMinute: Number(query.get('maxRefreshesPerMinute')) }
    : {}),
  ...(cookie
    ? {
        transport: 'cookie' as const,
        // The cookie is the credential: a new one from the app's login is all it takes.
        reauthenticate: async () => ((await cookieLogin()) ? {} : null),
      }
    : {}),
});
const log: { event: string; payload: unknown }[] = [];
for (const event of ['refreshed', 'reauthenticated', 'loggedOut', 'error'] as const)
  client.on(event, (payload) => log.push({ event, payload }));

page.sk = {
  client,
  log,
  /** The localStorage key of the tokens (the cross-tab lease and messages use it as a prefix). */
  storageKey: `sessionkeeper:${page.location.origin}`,
  storage: page.localStorage,
  /**
   * The cross-tab hand-off record in IndexedDB (database `storageKey`, store `s`, key `h`): the
   * newest generation handed over and, without Web Locks, the lease. `change` rewrites it.
   */
  async handOff(change?: (record: HandOffRecord | null) => HandOffRecord) {
    const db = await new Promise<Idb>((resolve, reject) => {
      const open = page.indexedDB.open(`sessionkeeper:${page.location.origin}`);
      open.onupgradeneeded = () => open.result.createObjectStore('s');
      open.onsuccess = () => resolve(open.result);
      open.onerror = () => reject(open.error);
    });
    const tx = db.transaction('s', 'readwrite');
    const store = tx.objectStore('s');
    const read = store.get('h');
    let record: HandOffRecord | null = null;
    read.onsuccess = () => {
      record = (read.result as HandOffRecord | undefined) ?? null;
      if (!change) return;
      record = change(record);
      store.put(record, 'h');
    };
    await new Promise((resolve, reject) => {
      tx.oncomplete = resolve;
      tx.onabort = () => reject(tx.error);
    });
    db.close();
    return record;
  },
  /** Which cross-tab APIs this browser has (an init script may have removed them). */
  features: {
    locks: 'locks' in ((globalThis as { navigator?: object }).navigator ?? {}),
    indexedDB: 'indexedDB' in globalThis,
    broadcastChannel: 'BroadcastChannel' in globalThis,
  },
  /** Moves this tab's clock forward and lets the client compare its deadlines. */
  advance(ms: number) {
    offsetMs += ms;
    client.check();
  },
  async login(apiKey: string) {
    if (cookie) {
      await cookieLogin();
      await client.validate(); // the page cannot read the HttpOnly cookie: the server can
      return;
    }
    const response = await fetch('/v1/sessions', {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ subject: 'browser-user' }),
    });
    client.setTokens((await response.json()) as ServerTokenSet);
  },
  async whoami() {
    const response = await client.fetch('/api/whoami');
    return response.status;
  },
  async get(path: string) {
    const response = await client.fetch(path);
    return { status: response.status, body: (await response.json()) as unknown };
  },
};

/** What an app renders from the hooks: the status, the countdown, a request and "Sign out". */
function SessionStatus(): ReactNode {
  const session = useSession();
  const warning = useExpiryWarning();
  const [answer, setAnswer] = useState('');
  return createElement(
    'section',
    {
      id: 'status',
      'data-status': session.status,
      'data-expiring': String(warning.expiring),
      'data-seconds': warning.secondsLeft ?? '',
      'data-answer': answer,
    },
    createElement(
      'button',
      {
        type: 'button',
        onClick: async () => setAnswer(String((await session.fetch('/api/whoami')).status)),
      },
      'Who am I',
    ),
    createElement('button', { type: 'button', onClick: () => void session.logout() }, 'Sign out'),
  );
}

const root = page.document.getElementById('root');
if (root)
  createRoot(root).render(
    createElement(
      SessionProvider,
      { client },
      createElement(SessionStatus),
      createElement(SessionExpiryWarning),
    ),
  );
