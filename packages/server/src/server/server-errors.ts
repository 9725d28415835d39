import { SessionkeeperError } from 'sessionkeeper/internal/errors';

export function notFoundError(detail: string): SessionkeeperError {
  return new SessionkeeperError('NOT_FOUND', detail);
}

/** A known path asked with a method it does not serve (405); the caller sets `Allow`. */
export function methodNotAllowedError(
  method: string,
  path: string,
  allowed: readonly string[],
): SessionkeeperError {
  return new SessionkeeperError(
    'METHOD_NOT_ALLOWED',
    `${path} does not accept ${method.slice(0, 20)}; it accepts ${allowed.join(', ')}`,
  );
}

/** A body in a media type the route does not read (415). */
export function unsupportedMediaTypeError(contentType: string | undefined): SessionkeeperError {
  const shown = contentType === undefined ? 'none' : `"${contentType.slice(0, 100)}"`;
  const detail = `Content-Type ${shown} is not accepted; send the body as application/json`;
  return new SessionkeeperError('UNSUPPORTED_MEDIA_TYPE', detail);
}

/** Too many failed attempts from one client address (429 with Retry-After). */
export class RateLimitedError extends SessionkeeperError {
  /** Seconds until the client's failures are forgotten. */
  readonly retryAfterSeconds: number;
  constructor(detail: string, retryAfterSeconds: number) {
    super('RATE_LIMITED', detail);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}
