import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { SessionEngine, ValidationResult } from '../../core/engine.js';
import type { SessionInvalidError } from '../../core/errors.js';
import { clearedSessionCookies, sessionTokenGuard, sessionTokenOf } from '../auth.js';
import type { ServerMetrics } from '../metrics.js';
import {
  leaseBody,
  leaseIdParams,
  parseInput,
  refreshBody,
  renameFields,
} from '../request-schemas.js';
import { type RefreshedSessionJson, sessionInfoJson, sessionJson, tokenPairJson } from '../wire.js';

type ValidSession = Extract<ValidationResult, { ok: true }>;

/** Reasons that prove the token was genuine (its secret matched) although the session has ended. */
const ENDED_REASONS: ReadonlySet<SessionInvalidError['reason']> = new Set([
  'idle-expired',
  'lifetime-exceeded',
  'revoked',
]);

/**
 * The session-holder's calls (`/v1/session…`), authenticated by the session token; the refresh
 * call by the refresh token in its body instead.
 */
export function registerHolderRoutes(
  app: FastifyInstance,
  engine: SessionEngine,
  metrics: ServerMetrics,
  trustedOrigins: readonly string[],
): void {
  const onRequest = sessionTokenGuard(trustedOrigins);

  /** Validation as the transport sees it: an invalid token becomes its 401 problem. */
  async function validSession(request: FastifyRequest, renew = false): Promise<ValidSession> {
    const token = sessionTokenOf(request);
    const result = renew ? await engine.renew(token) : await engine.validate(token);
    metrics.validations.inc({ result: result.ok ? 'ok' : result.error.reason });
    if (!result.ok) throw result.error;
    return result;
  }

  /** Why a session that was valid a moment ago is not any more (it ended between two calls). */
  async function endedMeanwhile(request: FastifyRequest): Promise<SessionInvalidError> {
    const result = await engine.validate(sessionTokenOf(request));
    if (!result.ok) return result.error;
    throw new Error(`session ${result.session.id} is active but refused a lease change`);
  }

  app.post('/v1/session/validate', { onRequest }, async (request) => {
    const { session, timing } = await validSession(request);
    return { valid: true, ...sessionInfoJson(session, timing) };
  });

  // Reading the session is a use of it, so it extends the idle deadline like a validation.
  app.get('/v1/session', { onRequest }, async (request) => {
    const { session, timing } = await validSession(request);
    return sessionInfoJson(session, timing);
  });

  app.post('/v1/session/renew', { onRequest }, async (request) => {
    const { session, timing } = await validSession(request, true);
    return sessionInfoJson(session, timing);
  });

  app.delete('/v1/session', { onRequest }, async (request, reply) => {
    const result = await engine.validate(sessionTokenOf(request));
    if (result.ok) await engine.revoke(result.session.id, 'logout');
    else if (!ENDED_REASONS.has(result.error.reason)) {
      throw result.error;
    }
    // Logging out of a session that already ended succeeds: the holder's goal is reached.
    const cleared = clearedSessionCookies(request);
    if (cleared.length > 0) reply.header('set-cookie', cleared);
    return reply.code(204).send();
  });

  // The refresh token is the credential: no session token is needed (a client holding only the
  // token pair refreshes with it). `replayed` stays off the wire: concurrent refreshes with one
  // token get the same pair, and the client need not know which of them won the rotation.
  app.post('/v1/session/refresh', async (request, reply): Promise<RefreshedSessionJson> => {
    // A request without any body lacks the refresh token, and is told so by name.
    const { refreshToken } = parseInput(refreshBody, request.body ?? {}, 'body');
    const result = await engine.refresh(refreshToken);
    metrics.refreshes.inc({ result: result.ok ? 'ok' : result.error.reason });
    if (!result.ok) throw result.error;
    // Already set for every response; restated because OAuth requires it wherever tokens are issued.
    reply.header('cache-control', 'no-store');
    return { session: sessionJson(result.session), ...tokenPairJson(result.tokens) };
  });

  app.post('/v1/session/leases', { onRequest }, async (request, reply) => {
    const { ttl } = parseInput(leaseBody, request.body, 'body');
    const { session } = await validSession(request);
    const leaseId = await renameFields(() => engine.acquireLease(session.id, ttl), {
      ttlSeconds: 'ttl',
    });
    if (leaseId === null) throw await endedMeanwhile(request);
    const nowMs = engine.clock.now();
    const expiresAtMs = Math.min(
      nowMs + Math.round(ttl * 1000),
      session.absoluteExpiresAt.getTime(),
    );
    reply.code(201);
    return {
      leaseId,
      expiresAt: new Date(expiresAtMs).toISOString(),
      expiresIn: (expiresAtMs - nowMs) / 1000,
    };
  });

  app.delete('/v1/session/leases/:leaseId', { onRequest }, async (request, reply) => {
    const { leaseId } = parseInput(leaseIdParams, request.params, 'path');
    const { session } = await validSession(request);
    if (!(await engine.releaseLease(session.id, leaseId))) throw await endedMeanwhile(request);
    return reply.code(204).send();
  });
}
