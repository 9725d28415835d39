import type { ServerTokenSet } from '../../src/client/index.js';
import type { SessionEngineOptions } from '../../src/core/options.js';
import type { SessionStore } from '../../src/core/store.js';
import { API_KEY, type Harness, startHarness } from '../server/harness.js';

/** Requests the server received, by path (`POST /v1/session/refresh` …). */
export type Counts = Record<string, number>;

export interface ApiServer extends Harness {
  url: string;
  port: number;
  counts: Counts;
  /** Creates a session through the backend API, as an app's login would. */
  login(subject?: string): Promise<ServerTokenSet>;
}

/**
 * The in-process HTTP API (manual clock) listening on 127.0.0.1, plus `GET /api/whoami`: an app
 * route that verifies the access token and answers the core's problems (as an app using the
 * middleware would), so client and API share one origin.
 */
export async function startApiServer(
  options: {
    store?: SessionStore;
    engine?: SessionEngineOptions;
    port?: number;
    /** Static pages served beside the API (path -> [content type, body]), for the browser tests. */
    pages?: Record<string, [string, string | (() => string)]>;
  } = {},
): Promise<ApiServer> {
  const harness = await startHarness({ store: options.store, engine: options.engine });
  const counts: Counts = {};
  harness.app.addHook('onRequest', async (request) => {
    const key = `${request.method} ${request.url.split('?')[0]}`;
    counts[key] = (counts[key] ?? 0) + 1;
  });
  harness.app.addHook('onResponse', async (_request, reply) => {
    const key = String(reply.statusCode);
    counts[key] = (counts[key] ?? 0) + 1;
  });
  harness.app.get('/api/whoami', async (request) => {
    const token = (request.headers.authorization ?? '').replace(/^Bearer /, '');
    const result = await harness.engine.verifyAccessToken(token);
    if (!result.ok) throw result.error;
    return { sub: result.claims.sub, sid: result.claims.sid };
  });
  // A store-backed app route: answers 503 store-unavailable while the store is down.
  harness.app.get('/api/session', async (request) => {
    const token = (request.headers.authorization ?? '').replace(/^Bearer /, '');
    const result = await harness.engine.verifyAccessToken(token);
    if (!result.ok) throw result.error;
    const info = await harness.engine.get(result.claims.sid);
    return { status: info?.session.status ?? 'unknown' };
  });
  for (const [path, [type, body]] of Object.entries(options.pages ?? {})) {
    harness.app.get(path, async (_request, reply) =>
      reply.type(type).send(typeof body === 'function' ? body() : body),
    );
  }
  const address = await harness.app.listen({ host: '127.0.0.1', port: options.port ?? 0 });
  const url = new URL(address).origin;
  return {
    ...harness,
    url,
    port: Number(new URL(address).port),
    counts,
    async login(subject = 'user-1') {
      const response = await fetch(`${url}/v1/sessions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ subject }),
      });
      if (response.status !== 201) throw new Error(`login failed: ${await response.text()}`);
      return (await response.json()) as ServerTokenSet;
    },
  };
}
