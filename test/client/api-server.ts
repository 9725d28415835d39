import type { FastifyInstance } from 'fastify';
import type { ServerTokenSet } from '../../packages/client/src/index.js';
import { sessionPlugin } from '../../packages/fastify/src/index.js';
import type { SessionEngineOptions } from '../../packages/sessionkeeper/src/core/options.js';
import type { SessionStore } from '../../packages/sessionkeeper/src/core/store.js';
import { API_KEY, type Harness, startHarness } from '../server/harness.js';

/** Requests the server received, by path (`POST /v1/session/refresh` …), and answers by status. */
export type Counts = Record<string, number>;

export interface ApiServer extends Harness {
  url: string;
  port: number;
  counts: Counts;
  /** The Authorization header of every request to `/api/*` and `/app/*`, in order (undefined: none). */
  authorizations: { path: string; authorization: string | undefined }[];
  /**
   * The refresh token of every `POST /v1/session/refresh`, in order: a token found twice was spent
   * twice, whatever the server's grace for a rotated token answered.
   */
  refreshTokens: string[];
  /** Creates a session through the backend API, as an app's login would. */
  login(subject?: string): Promise<ServerTokenSet>;
}

/**
 * The in-process HTTP API (manual clock unless `engine.clock` says otherwise) listening on
 * 127.0.0.1, plus app routes on the same origin, as an app would serve them:
 * - `GET /api/whoami`, `POST /api/echo`, `GET /api/session`: verify the access token and answer the
 *   core's problems (as an app using the access tokens would);
 * - `POST /app/login`, `GET /app/me`: an app on the Fastify middleware with the cookie transport
 *   (`login()` sets the HttpOnly `sk_session` cookie, the guard reads it).
 */
export async function startApiServer(
  options: {
    store?: SessionStore;
    engine?: SessionEngineOptions;
    port?: number;
    /** Static pages served beside the API (path -> [content type, body]), for the browser tests. */
    pages?: Record<string, [string, string | (() => string)]>;
    /** More routes, registered before the server listens. */
    routes?: (app: FastifyInstance, harness: Harness) => Promise<void> | void;
  } = {},
): Promise<ApiServer> {
  const harness = await startHarness({ store: options.store, engine: options.engine });
  const counts: Counts = {};
  const authorizations: ApiServer['authorizations'] = [];
  const refreshTokens: string[] = [];
  harness.app.addHook('onRequest', async (request) => {
    const path = request.url.split('?')[0] ?? '';
    const key = `${request.method} ${path}`;
    counts[key] = (counts[key] ?? 0) + 1;
    if (path.startsWith('/api/') || path.startsWith('/app/'))
      authorizations.push({ path, authorization: request.headers.authorization });
  });
  harness.app.addHook('preHandler', async (request) => {
    const body = request.body as { refreshToken?: unknown } | undefined;
    if (
      request.url.split('?')[0] === '/v1/session/refresh' &&
      typeof body?.refreshToken === 'string'
    )
      refreshTokens.push(body.refreshToken);
  });
  harness.app.addHook('onResponse', async (_request, reply) => {
    const key = String(reply.statusCode);
    counts[key] = (counts[key] ?? 0) + 1;
  });
  const verified = async (authorization: string | undefined) => {
    const result = await harness.engine.verifyAccessToken(
      (authorization ?? '').replace(/^Bearer /, ''),
    );
    if (!result.ok) throw result.error;
    return result.claims;
  };
  harness.app.get('/api/whoami', async (request) => {
    const claims = await verified(request.headers.authorization);
    return { sub: claims.sub, sid: claims.sid };
  });
  harness.app.post('/api/echo', async (request) => {
    await verified(request.headers.authorization);
    return { contentType: request.headers['content-type'], body: request.body };
  });
  // A store-backed app route: answers 503 store-unavailable while the store is down.
  harness.app.get('/api/session', async (request) => {
    const claims = await verified(request.headers.authorization);
    const info = await harness.engine.get(claims.sid);
    return { status: info?.session.status ?? 'unknown' };
  });
  await harness.app.register(
    async (app) => {
      await app.register(sessionPlugin, { engine: harness.engine });
      app.post('/login', async (request) => {
        const created = await request.sessionkeeper.login({ subject: 'cookie-user' });
        return { sessionId: created.session.id };
      });
      app.get('/me', { preHandler: app.sessionkeeper.guard() }, async (request) => ({
        subject: request.sessionkeeper.subject,
        via: request.sessionkeeper.via,
      }));
    },
    { prefix: '/app' },
  );
  await options.routes?.(harness.app, harness);
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
    authorizations,
    refreshTokens,
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
