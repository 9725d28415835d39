import {
  type CreatedSessionJson,
  sessionInfoJson,
  sessionJson,
  tokenPairJson,
} from '@sessionkeeper/middleware/internal/wire';
import type { FastifyInstance } from 'fastify';
import type { SessionEngine } from 'sessionkeeper/internal/engine';
import type { Session } from 'sessionkeeper/internal/types';
import { apiKeyGuard } from '../auth.js';
import {
  createSessionBody,
  listQuery,
  parseInput,
  renameFields,
  revokeQuery,
  sessionIdParams,
  subjectParams,
  updateSessionBody,
} from '../request-schemas.js';
import { notFoundError } from '../server-errors.js';

const WIRE_NAMES = {
  idleTimeoutSeconds: 'idleTimeout',
  absoluteTimeoutSeconds: 'absoluteTimeout',
} as const;

/** The backend's calls (`/v1/sessions…`, `/v1/subjects…`, `/v1/stats`), authenticated by the API key. */
export function registerBackendRoutes(
  app: FastifyInstance,
  engine: SessionEngine,
  apiKeyHash: string,
): void {
  const onRequest = apiKeyGuard(apiKeyHash);

  app.post('/v1/sessions', { onRequest }, async (request, reply): Promise<CreatedSessionJson> => {
    const body = parseInput(createSessionBody, request.body, 'body');
    const created = await renameFields(
      () =>
        engine.create({
          subject: body.subject,
          data: body.data,
          idleTimeoutSeconds: body.idleTimeout,
          absoluteTimeoutSeconds: body.absoluteTimeout,
          tokens: true,
        }),
      WIRE_NAMES,
    );
    if (!created.tokens)
      throw new Error(`session ${created.session.id} was created without tokens`);
    reply
      .code(201)
      .header('location', `/v1/sessions/${created.session.id}`)
      // Already set for every response; restated because OAuth requires it wherever tokens are issued.
      .header('cache-control', 'no-store');
    return {
      session: sessionJson(created.session),
      token: created.token,
      ...tokenPairJson(created.tokens),
    };
  });

  app.get('/v1/sessions', { onRequest }, async (request) => {
    const query = parseInput(listQuery, request.query, 'query');
    const page = await engine.list(query.subject, {
      limit: query.limit,
      cursor: query.cursor ?? null,
    });
    return { sessions: page.sessions.map(sessionJson), nextCursor: page.nextCursor };
  });

  app.get('/v1/sessions/:id', { onRequest }, async (request) => {
    const { id } = parseInput(sessionIdParams, request.params, 'path');
    const info = await engine.get(id);
    if (!info) throw unknownSession(id);
    return sessionInfoJson(info.session, info.timing);
  });

  app.patch('/v1/sessions/:id', { onRequest }, async (request) => {
    const { id } = parseInput(sessionIdParams, request.params, 'path');
    const { data } = parseInput(updateSessionBody, request.body, 'body');
    const session = await engine.update(id, data);
    if (session) return { session: sessionJson(session) };
    const info = await engine.get(id);
    throw info
      ? notFoundError(`${endedText(info.session)}; only an active session's data can be changed`)
      : unknownSession(id);
  });

  app.delete('/v1/sessions/:id', { onRequest }, async (request, reply) => {
    const { id } = parseInput(sessionIdParams, request.params, 'path');
    const { reason } = parseInput(revokeQuery, request.query, 'query');
    const revoked = await engine.revoke(id, reason);
    // Revoking an ended session is a no-op, not an error: DELETE is idempotent.
    if (!revoked && !(await engine.get(id))) throw unknownSession(id);
    return reply.code(204).send();
  });

  app.delete('/v1/subjects/:subject/sessions', { onRequest }, async (request) => {
    const { subject } = parseInput(subjectParams, request.params, 'path');
    const { reason } = parseInput(revokeQuery, request.query, 'query');
    const revoked = await engine.revokeSubject(subject, reason);
    if (revoked > 0)
      request.log.info({ revoked, reason: reason ?? 'logout' }, "subject's sessions revoked");
    return { revoked };
  });

  app.get('/v1/stats', { onRequest }, async () => {
    const stats = await engine.stats();
    return { active: stats.active };
  });
}

function unknownSession(id: string) {
  return notFoundError(
    `No session with id ${id} exists; it never existed or was purged after it ended`,
  );
}

function endedText(session: Session): string {
  if (session.status === 'revoked')
    return `Session ${session.id} was revoked (reason: ${session.endReason})`;
  return `Session ${session.id} has expired`;
}
