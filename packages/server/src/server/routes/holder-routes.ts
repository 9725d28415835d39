import {
  answerHolderCall,
  HOLDER_ROUTES,
  type HolderObserver,
} from '@sessionkeeper/middleware/internal/holder-routes';
import type { FastifyInstance } from 'fastify';
import type { SessionEngine } from 'sessionkeeper/internal/engine';
import { clearedSessionCookies, sessionTokenGuard, sessionTokenOf } from '../auth.js';
import type { ServerMetrics } from '../metrics.js';

/**
 * The session-holder's calls (`/v1/session…`), authenticated by the session token; the refresh
 * call by the refresh token in its body instead. The answers come from the implementation the
 * middleware's holder routes share (src/middleware/holder-routes.ts).
 */
export function registerHolderRoutes(
  app: FastifyInstance,
  engine: SessionEngine,
  metrics: ServerMetrics,
  trustedOrigins: readonly string[],
): void {
  const onRequest = sessionTokenGuard(trustedOrigins);
  const observer: HolderObserver = {
    validated: (result) =>
      metrics.validations.inc({ result: result.ok ? 'ok' : result.error.reason }),
    refreshed: (result) =>
      metrics.refreshes.inc({ result: result.ok ? 'ok' : result.error.reason }),
  };

  for (const route of HOLDER_ROUTES) {
    app.route({
      method: route.method,
      url: route.path,
      ...(route.sessionToken ? { onRequest } : {}),
      handler: async (request, reply) => {
        const answer = await answerHolderCall(
          engine,
          {
            route,
            token: route.sessionToken ? sessionTokenOf(request) : null,
            params: request.params as Record<string, string>,
            body: request.body,
          },
          observer,
        );
        if (answer.clearCookie) {
          const cleared = clearedSessionCookies(request);
          if (cleared.length > 0) reply.header('set-cookie', cleared);
        }
        // Already set for every response; restated because OAuth requires it wherever tokens are issued.
        if (route.name === 'refresh') reply.header('cache-control', 'no-store');
        reply.code(answer.status);
        return answer.status === 204 ? reply.send() : answer.body;
      },
    });
  }
}
