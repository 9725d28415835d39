import type { FastifyReply, FastifyRequest } from 'fastify';
import { SessionkeeperError } from 'sessionkeeper/internal/errors';
import {
  instancePath,
  PROBLEM_CONTENT_TYPE,
  type Problem,
  problemHeaders,
  toProblem,
} from 'sessionkeeper/internal/problem';

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
    instance: instancePath(request.url),
    requestId: request.id,
    now: new Date(nowMs),
  });
  reply.headers(problemHeaders(error));
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
