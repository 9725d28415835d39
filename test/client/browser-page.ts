// The page the browser tests load: the client (on localStorage, with a clock the test can move),
// the React provider, a component on `useSession`/`useExpiryWarning`, the expiry warning, and
// `window.sk` for the test to drive. The query string configures the client:
// `?transport=cookie` (signs in through the app's cookie login; `reauthenticate` signs in again),
// `&keepAlive=<intervalSeconds>,<idleAfterSeconds>` (default off), `&lockTimeoutMs=<ms>`.
import { createElement, type ReactNode, useState } from 'react';
import { createRoot } from 'react-dom/client';
import {
  createSessionClient,
  type KeyValueStorage,
  type ServerTokenSet,
} from '../../src/client/index.js';
import {
  SessionExpiryWarning,
  SessionProvider,
  useExpiryWarning,
  useSession,
} from '../../src/react/index.js';

interface PageGlobals {
  localStorage: KeyValueStorage;
  location: { origin: string; search: string };
  document: { getElementById(id: string): Element | null };
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

let offsetMs = 0;
const client = createSessionClient({
  baseUrl: page.location.origin,
  storage: page.localStorage,
  now: () => Date.now() + offsetMs,
  warnBeforeSeconds: 60,
  keepAlive: keepAlive ? { intervalSeconds: keepAlive[0], idleAfterSeconds: keepAlive[1] } : false,
  ...(query.has('lockTimeoutMs') ? { lockTimeoutMs: Number(query.get('lockTimeoutMs')) } : {}),
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
  /** Which cross-tab APIs this browser has (an init script may have removed them). */
  features: {
    locks: 'locks' in ((globalThis as { navigator?: object }).navigator ?? {}),
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
