import { SessionkeeperError } from 'sessionkeeper/internal/errors';

export { CredentialsMissingError, CsrfRejectedError } from 'sessionkeeper/internal/errors';

/** Every error the middleware answers with a problem+json body. */
export type MiddlewareError = SessionkeeperError;

export function isMiddlewareError(error: unknown): error is MiddlewareError {
  return error instanceof SessionkeeperError;
}
