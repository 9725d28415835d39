import type { FastifyInstance } from 'fastify';
import type { SessionEngine } from 'sessionkeeper/internal/engine';
import { SessionkeeperError, StoreUnavailableError } from 'sessionkeeper/internal/errors';
import { codeForSlug, errorCodes } from 'sessionkeeper/internal/problems';
import { renderProblemIndex, renderProblemPage } from '../problem-page.js';
import { parseInput, slugParams } from '../request-schemas.js';
import { notFoundError } from '../server-errors.js';

/** Liveness, readiness and the human pages behind problem `type` URIs; no credentials needed. */
export function registerOpsRoutes(app: FastifyInstance, engine: SessionEngine): void {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async () => {
    try {
      await engine.store.ping();
    } catch (error) {
      if (error instanceof SessionkeeperError) throw error;
      throw new StoreUnavailableError(`The session store ${engine.store.location} did not answer`, {
        cause: error,
      });
    }
    return { status: 'ready' };
  });

  // The public keys that verify access tokens, current and recently retired. Cacheable for five
  // minutes: a verifier that meets an unknown `kid` (a key made since) fetches the document again,
  // as jose's remote key set does; a shared cache in front may delay that by up to max-age.
  app.get('/.well-known/jwks.json', async (_request, reply) => {
    const jwks = await engine.jwks();
    return reply
      .header('cache-control', 'public, max-age=300')
      .type('application/json; charset=utf-8')
      .send(jwks);
  });

  app.get('/problems', async (_request, reply) => {
    return reply
      .header('cache-control', 'public, max-age=3600')
      .type('text/html; charset=utf-8')
      .send(renderProblemIndex(errorCodes));
  });

  app.get('/problems/:slug', async (request, reply) => {
    const { slug } = parseInput(slugParams, request.params, 'path');
    const code = codeForSlug(slug);
    if (!code)
      throw notFoundError(
        `There is no problem type "${slug.slice(0, 64)}"; see /problems for the list`,
      );
    return reply
      .header('cache-control', 'public, max-age=3600')
      .type('text/html; charset=utf-8')
      .send(renderProblemPage(code));
  });
}
