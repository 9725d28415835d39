import { PROBLEM_CONTENT_TYPE, problemHeaders, toProblem } from 'sessionkeeper/internal/problem';
import type { MiddlewareError } from './problems.js';

/** A complete answer the adapter sends as is: status, headers, body. */
export interface HttpReply {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** `Set-Cookie` headers to send with it (several, so not in `headers`). */
  setCookies?: string[];
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
  const problem = toProblem(error, {
    instance: context.instance,
    now: new Date(context.nowMs),
    ...(context.requestId === undefined ? {} : { requestId: context.requestId }),
    ...(context.typeBase === undefined ? {} : { typeBase: context.typeBase }),
  });
  return {
    status: problem.status,
    headers: {
      'content-type': PROBLEM_CONTENT_TYPE,
      'cache-control': 'no-store',
      ...problemHeaders(error),
    },
    body: JSON.stringify(problem),
  };
}

/** A 303 to the login page, saying where to come back to and why the session was refused. */
export function redirectReply(location: string): HttpReply {
  return { status: 303, headers: { location, 'cache-control': 'no-store' }, body: '' };
}

/** A JSON answer (`body` undefined: an empty one, for 204), never cached. */
export function jsonReply(status: number, body: unknown, setCookies: string[] = []): HttpReply {
  return {
    status,
    headers:
      body === undefined
        ? { 'cache-control': 'no-store' }
        : { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
    body: body === undefined ? '' : JSON.stringify(body),
    ...(setCookies.length > 0 ? { setCookies } : {}),
  };
}

/** An HTML page (the problem pages), cacheable for an hour like the service's. */
export function htmlReply(html: string): HttpReply {
  return {
    status: 200,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'public, max-age=3600',
    },
    body: html,
  };
}
