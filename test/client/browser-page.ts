// The page the browser tests load: the client (on localStorage, with a clock the test can move),
// the React provider and expiry warning, and `window.sk` for the test to drive.
import { createElement } from 'react';
import { createRoot } from 'react-dom/client';
import {
  createSessionClient,
  type KeyValueStorage,
  type ServerTokenSet,
} from '../../src/client/index.js';
import { SessionExpiryWarning, SessionProvider } from '../../src/react/index.js';

interface PageGlobals {
  localStorage: KeyValueStorage;
  location: { origin: string };
  document: { getElementById(id: string): Element | null };
  sk: unknown;
}
const page = globalThis as unknown as PageGlobals;

let offsetMs = 0;
const client = createSessionClient({
  baseUrl: page.location.origin,
  storage: page.localStorage,
  now: () => Date.now() + offsetMs,
  warnBeforeSeconds: 60,
  keepAlive: false,
});
const log: { event: string; payload: unknown }[] = [];
for (const event of ['refreshed', 'reauthenticated', 'loggedOut', 'error'] as const)
  client.on(event, (payload) => log.push({ event, payload }));

page.sk = {
  client,
  log,
  /** Moves this tab's clock forward and lets the client compare its deadlines. */
  advance(ms: number) {
    offsetMs += ms;
    client.check();
  },
  async login(apiKey: string) {
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
};

const root = page.document.getElementById('root');
if (root)
  createRoot(root).render(
    createElement(SessionProvider, { client }, createElement(SessionExpiryWarning)),
  );
