import { SessionkeeperError } from '../core/errors.js';
import type { ProblemAction, ProblemDefinition } from '../core/problems.js';

/**
 * A request without any credential the route accepts. Problem `unauthorized`, but its
 * WWW-Authenticate names no error, as RFC 6750 section 3.1 asks.
 * (The server has the same class in src/server/server-errors.ts; both should come from the core.)
 */
export class CredentialsMissingError extends SessionkeeperError {
  constructor(detail: string) {
    super('UNAUTHORIZED', detail);
  }
}

/**
 * The `csrf-rejected` problem. Kept here until the core registry (src/core/problems.ts) has a
 * `CSRF_REJECTED` entry; then `CsrfRejectedError` becomes a `SessionkeeperError` like the others.
 */
export const csrfRejectedDefinition = {
  slug: 'csrf-rejected',
  status: 403,
  title: 'Cross-site request refused',
  action: 'fix-request',
  meaning:
    'A state-changing request authenticated by the session cookie came from another site (or lacked the CSRF token), so it was refused.',
  remedy:
    'Send the request from the application’s own pages; with the double-submit option, copy the CSRF cookie into the X-CSRF-Token header.',
} as const satisfies ProblemDefinition;

/** A cookie-authenticated, state-changing request that failed the CSRF check (403). */
export class CsrfRejectedError extends Error {
  readonly code = 'CSRF_REJECTED' as const;
  readonly slug = csrfRejectedDefinition.slug;
  readonly status = csrfRejectedDefinition.status;
  readonly action: ProblemAction = csrfRejectedDefinition.action;
  get detail(): string {
    return this.message;
  }
  constructor(detail: string) {
    super(detail);
    this.name = 'CsrfRejectedError';
  }
}

/** Every error the middleware answers with a problem+json body. */
export type MiddlewareError = SessionkeeperError | CsrfRejectedError;

export function isMiddlewareError(error: unknown): error is MiddlewareError {
  return error instanceof SessionkeeperError || error instanceof CsrfRejectedError;
}
