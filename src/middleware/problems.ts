import { SessionkeeperError } from '../core/errors.js';

export { CredentialsMissingError, CsrfRejectedError } from '../core/errors.js';

/** Every error the middleware answers with a problem+json body. */
export type MiddlewareError = SessionkeeperError;

export function isMiddlewareError(error: unknown): error is MiddlewareError {
  return error instanceof SessionkeeperError;
}
