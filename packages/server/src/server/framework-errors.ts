import type { FastifyRequest } from 'fastify';
import { SessionkeeperError, ValidationError } from 'sessionkeeper/internal/errors';
import { unsupportedMediaTypeError } from './server-errors.js';

/**
 * Fastify's own failures (body parsing, routing) as sessionkeeper errors, so they reach the
 * client as our problems. Null when the error is not one of them, i.e. when it is a bug.
 */
export function fromFrameworkError(
  error: unknown,
  request: FastifyRequest,
  bodyLimitBytes: number,
): SessionkeeperError | null {
  if (!(error instanceof Error)) return null;
  const code = 'code' in error && typeof error.code === 'string' ? error.code : undefined;
  switch (code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return bodyTooLarge(bodyLimitBytes);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return unsupportedMediaTypeError(request.headers['content-type']);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ValidationError(
        'body',
        'is empty although Content-Type says application/json; send a JSON object',
      );
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new ValidationError(
        'body',
        'is not valid JSON, or contains a __proto__ or constructor.prototype key',
      );
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new ValidationError('content-length', 'does not match the length of the body');
    case 'FST_ERR_BAD_URL':
      return new ValidationError('path', 'is not a valid URL path (bad percent-encoding)');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new ValidationError('path', 'has a segment longer than the server accepts');
  }
  // Anything else Fastify or Node marks as the client's fault (e.g. a body stream aborted midway).
  const status = 'statusCode' in error ? error.statusCode : undefined;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return status === 413
      ? bodyTooLarge(bodyLimitBytes)
      : new ValidationError('request', 'could not be read');
  }
  return null;
}

function bodyTooLarge(limitBytes: number): SessionkeeperError {
  return new SessionkeeperError(
    'PAYLOAD_TOO_LARGE',
    `The request body is larger than the limit of ${limitBytes} bytes`,
  );
}
