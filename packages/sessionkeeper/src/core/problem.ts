import { CredentialsMissingError, type SessionkeeperError, ValidationError } from './errors.js';
import { type ProblemAction, problemRegistry } from './problems.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

/** An RFC 9457 problem details body, with sessionkeeper's extension members. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  code: string;
  action: ProblemAction;
  requestId?: string;
  timestamp: string;
  /** For `validation-failed`: the offending field. */
  field?: string;
}

export interface ProblemContext {
  /** The request path the problem is about. */
  instance?: string;
  requestId?: string;
  now?: Date;
  /** Prefix for `type` URIs; the server serves `/problems/{slug}`. */
  typeBase?: string;
}

/** The problem+json body for a sessionkeeper error. */
export function toProblem(error: SessionkeeperError, context: ProblemContext = {}): Problem {
  const definition = problemRegistry[error.code];
  const problem: Problem = {
    type: `${context.typeBase ?? ''}/problems/${definition.slug}`,
    title: definition.title,
    status: definition.status,
    detail: error.detail,
    code: error.code,
    action: definition.action,
    timestamp: (context.now ?? new Date()).toISOString(),
  };
  if (context.instance !== undefined) problem.instance = context.instance;
  if (context.requestId !== undefined) problem.requestId = context.requestId;
  if (error instanceof ValidationError) problem.field = error.field;
  return problem;
}

/**
 * The headers a problem's status calls for: WWW-Authenticate on 401 (RFC 6750: no error code when
 * credentials are missing, `invalid_token` when they do not work), and Retry-After when the error
 * says how long to wait (503 store-unavailable, 429 rate-limited).
 */
export function problemHeaders(error: SessionkeeperError): Record<string, string> {
  const headers: Record<string, string> = {};
  if (error.status === 401) headers['www-authenticate'] = wwwAuthenticate(error);
  // Duck-typed: every error that carries a wait gets the header.
  if ('retryAfterSeconds' in error && typeof error.retryAfterSeconds === 'number') {
    headers['retry-after'] = String(Math.max(1, Math.ceil(error.retryAfterSeconds)));
  }
  return headers;
}

export function wwwAuthenticate(error: SessionkeeperError): string {
  if (error instanceof CredentialsMissingError) return 'Bearer realm="sessionkeeper"';
  return `Bearer realm="sessionkeeper", error="invalid_token", error_description="${quotable(error.detail)}"`;
}

/** error_description allows printable ASCII except `"` and `\` (RFC 6750 section 3). */
function quotable(text: string): string {
  return text
    .slice(0, 300)
    .replace(/["\\]/g, "'")
    .replace(/[^\x20-\x7e]/g, '?');
}

const MAX_SHOWN_PATH = 1024;

/** A request URL's path without its query string, cut to a length safe to echo as `instance`. */
export function instancePath(url: string): string {
  const query = url.indexOf('?');
  const path = query === -1 ? url : url.slice(0, query);
  return path.length > MAX_SHOWN_PATH ? `${path.slice(0, MAX_SHOWN_PATH)}…` : path;
}
