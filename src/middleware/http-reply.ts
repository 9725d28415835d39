import { SessionkeeperError } from '../core/errors.js';
import { type Problem, toProblem } from '../core/problem.js';
import {
  CredentialsMissingError,
  type CsrfRejectedError,
  csrfRejectedDefinition,
  type MiddlewareError,
} from './problems.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

/** A complete answer the adapter sends as is: status, headers, body. */
export interface HttpReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface ReplyContext {
  /** The request path (no query string) the problem is about. */
  instance: string;
  /** When it happened (the engine's clock), epoch ms. */
  nowMs: number;
  requestId?: string;
  typeBase?: string;
}

/**
 * The problem+json answer for `error`, with the headers its status calls for: WWW-Authenticate on
 * 401 (RFC 6750), Retry-After when the error says how long to wait (503 store-unavailable).
 */
export function problemReply(error: MiddlewareError, context: ReplyContext): HttpReply {
  const problem =
    error instanceof SessionkeeperError
      ? toProblem(error, {
          instance: context.instance,
          now: new Date(context.nowMs),
          ...(context.requestId === undefined ? {} : { requestId: context.requestId }),
          ...(context.typeBase === undefined ? {} : { typeBase: context.typeBase }),
        })
      : csrfProblem(error, context);
  const headers: Record<string, string> = {
    'content-type': PROBLEM_CONTENT_TYPE,
    'cache-control': 'no-store',
  };
  if (problem.status === 401) headers['www-authenticate'] = wwwAuthenticate(error);
  const retryAfter = retryAfterSeconds(error);
  if (retryAfter !== undefined) headers['retry-after'] = String(retryAfter);
  return { status: problem.status, headers, body: JSON.stringify(problem) };
}

/** A 303 to the login page, saying where to come back to and why the session was refused. */
export function redirectReply(location: string): HttpReply {
  return { status: 303, headers: { location, 'cache-control': 'no-store' }, body: '' };
}

function csrfProblem(error: CsrfRejectedError, context: ReplyContext): Problem {
  const problem: Problem = {
    type: `${context.typeBase ?? ''}/problems/${csrfRejectedDefinition.slug}`,
    title: csrfRejectedDefinition.title,
    status: csrfRejectedDefinition.status,
    detail: error.detail,
    instance: context.instance,
    code: error.code,
    action: csrfRejectedDefinition.action,
    timestamp: new Date(context.nowMs).toISOString(),
  };
  if (context.requestId !== undefined) problem.requestId = context.requestId;
  return problem;
}

/** RFC 6750: no error code when credentials are missing, `invalid_token` when they do not work. */
export function wwwAuthenticate(error: MiddlewareError): string {
  if (error instanceof CredentialsMissingError) return 'Bearer realm="sessionkeeper"';
  return `Bearer realm="sessionkeeper", error="invalid_token", error_description="${quotable(error.detail)}"`;
}

function retryAfterSeconds(error: MiddlewareError): number | undefined {
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

const MAX_SHOWN_PATH = 1024;

/** The path of a request URL without its query string, cut to a length that is safe to echo. */
export function pathOf(url: string): string {
  const query = url.indexOf('?');
  const path = query === -1 ? url : url.slice(0, query);
  return path.length > MAX_SHOWN_PATH ? `${path.slice(0, MAX_SHOWN_PATH)}…` : path;
}
