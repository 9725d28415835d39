// The page the middleware-only browser tests load from an Express, Fastify or Hono app: the client
// SDK with `baseUrl: location.origin` (the app serves /v1/session/* itself), and `window.skmw` for
// the test to drive. `?transport=cookie` signs in through the app's cookie login; otherwise the
// app's login hands over a token pair (bearer transport, access tokens, refresh).
import {
  createSessionClient,
  type KeyValueStorage,
  type ServerTokenSet,
} from '../../packages/client/src/index.js';

interface PageGlobals {
  localStorage: KeyValueStorage;
  location: { origin: string; search: string };
  skmw: unknown;
}
const page = globalThis as unknown as PageGlobals;
const cookie = new URLSearchParams(page.location.search).get('transport') === 'cookie';

async function appLogin(): Promise<Response> {
  return fetch('/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      subject: 'browser-user',
      ...(cookie ? {} : { tokens: true, cookie: false }),
    }),
  });
}

let offsetMs = 0;
const state = { allowReauthentication: true, reauthentications: 0 };
const client = createSessionClient({
  baseUrl: page.location.origin,
  storage: page.localStorage,
  now: () => Date.now() + offsetMs,
  keepAlive: false,
  ...(cookie
    ? {
        transport: 'cookie' as const,
        // The cookie is the credential: a new one from the app's login is all it takes.
        reauthenticate: async () => {
          if (!state.allowReauthentication) return null;
          state.reauthentications++;
          return (await appLogin()).ok ? {} : null;
        },
      }
    : {}),
});
const log: { event: string; payload: unknown }[] = [];
for (const event of ['refreshed', 'reauthenticated', 'loggedOut', 'error'] as const)
  client.on(event, (payload) => log.push({ event, payload }));

page.skmw = {
  client,
  log,
  state,
  advance(ms: number) {
    offsetMs += ms;
    client.check();
  },
  async login() {
    const response = await appLogin();
    if (cookie) return client.validate(); // the page cannot read the HttpOnly cookie: the app can
    client.setTokens((await response.json()) as ServerTokenSet);
    return true;
  },
  async get(path: string) {
    const response = await client.fetch(path);
    return { status: response.status, body: (await response.json()) as unknown };
  },
};
