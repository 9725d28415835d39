import type { FastifyInstance } from 'fastify';
import { apiKeyGuard } from '../auth.js';
import type { ServerMetrics } from '../metrics.js';
import { buildOpenApi, type RegisteredRoute, renderDocsPage } from '../openapi.js';

export interface MetaRouteOptions {
  metrics: ServerMetrics;
  /** When set, `/metrics` asks for the API key. */
  apiKeyHash: string | undefined;
  /** Every route registered on the app (filled by an onRoute hook). */
  routes: readonly RegisteredRoute[];
}

/** `/metrics` (Prometheus), `/openapi.json` and `/docs`, the service describing itself. */
export function registerMetaRoutes(app: FastifyInstance, options: MetaRouteOptions): void {
  const { metrics } = options;
  const onRequest = options.apiKeyHash === undefined ? [] : [apiKeyGuard(options.apiKeyHash)];

  app.get('/metrics', { onRequest }, async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });

  // Built on first request: every route (this one included) is registered by then.
  let document: unknown;
  let page: string | undefined;
  const openapi = () => {
    document ??= buildOpenApi(options.routes, '1');
    return document;
  };

  app.get('/openapi.json', async (_request, reply) => {
    return reply
      .header('cache-control', 'public, max-age=3600')
      .type('application/json; charset=utf-8')
      .send(openapi());
  });

  app.get('/docs', async (_request, reply) => {
    page ??= renderDocsPage(openapi());
    return reply
      .header('cache-control', 'public, max-age=3600')
      .type('text/html; charset=utf-8')
      .send(page);
  });
}
