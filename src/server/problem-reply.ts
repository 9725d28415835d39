import type { FastifyReply, FastifyRequest } from 'fastify';
import { SessionkeeperError } from '../core/errors.js';
import { type Problem, toProblem } from '../core/problem.js';
import { requestPath } from './request-path.js';
import { CredentialsMissingError } from './server-errors.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

const problemCodes = new WeakMap<FastifyRequest, string>();

/** The `code` of the problem this request was answered with, for the request log line. */
export function problemCodeOf(request: FastifyRequest): string | undefined {
  return problemCodes.get(request);
}

/**
 * Answers with the problem+json for `error`, with the headers its status calls for:
 * WWW-Authenticate on 401, Retry-After when the error says how long to wait (503, later 429).
 */
export function sendProblem(
  request: FastifyRequest,
  reply: FastifyReply,
  error: SessionkeeperError,
  nowMs: number,
): FastifyReply {
  const problem = toProblem(error, {
    instance: requestPath(request),
    requestId: request.id,
    now: new Date(nowMs),
  });
  if (problem.status === 401) reply.header('www-authenticate', wwwAuthenticate(error));
  const retryAfter = retryAfterSeconds(error);
  if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter));
  return send(request, reply, problem);
}

/**
 * Answers a bug (an error that is not a sessionkeeper error) with a 500 that reveals nothing of
 * it; the caller has logged it with the request id, which the body repeats.
 */
export function sendInternalProblem(
  request: FastifyRequest,
  reply: FastifyReply,
  nowMs: number,
): FastifyReply {
  const detail = `An unexpected error occurred; it was logged with request id ${request.id}`;
  return sendProblem(request, reply, new SessionkeeperError('INTERNAL_ERROR', detail), nowMs);
}

function send(request: FastifyRequest, reply: FastifyReply, problem: Problem): FastifyReply {
  problemCodes.set(request, problem.code);
  return reply
    .code(problem.status)
    .header('x-request-id', request.id)
    .header('cache-control', 'no-store')
    .type(PROBLEM_CONTENT_TYPE)
    .send(JSON.stringify(problem));
}

/** RFC 6750: no error code when credentials are missing, `invalid_token` when they do not work. */
export function wwwAuthenticate(error: SessionkeeperError): string {
  if (error instanceof CredentialsMissingError) return 'Bearer realm="sessionkeeper"';
  return `Bearer realm="sessionkeeper", error="invalid_token", error_description="${quotable(error.detail)}"`;
}

function retryAfterSeconds(error: SessionkeeperError): number | undefined {
  // Duck-typed so every error that carries a wait (StoreUnavailableError now, rate limits later) gets the header.
  if (!('retryAfterSeconds' in error) || typeof error.retryAfterSeconds !== 'number')
    return undefined;
  return Math.max(1, Math.ceil(error.retryAfterSeconds));
}

/** error_description allows printable ASCII except `"` and `\` (RFC 6750 section 3). */
function quotable(text: string): string {
  return text
    .slice(0, 300)
    .replace(/["\\]/g, "'")
    .replace(/[^\x20-\x7e]/g, '?');
}
