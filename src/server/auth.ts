import type { FastifyRequest } from 'fastify';
import { CredentialsMissingError, SessionkeeperError } from '../core/errors.js';
import { apiKeyMatches } from './api-key.js';

/** The cookie that carries the session token for browser session-holders. */
export const SESSION_COOKIE = 'sk_session';

/** An onRequest hook: the request must carry the API key as a Bearer token. */
export function apiKeyGuard(apiKeyHash: string): (request: FastifyRequest) => Promise<void> {
  return async (request) => {
    const key = bearerToken(request.headers.authorization, 'api key');
    if (key === undefined) {
      throw new CredentialsMissingError(
        'This endpoint needs the API key as Authorization: Bearer <api key>',
      );
    }
    if (!apiKeyMatches(key, apiKeyHash))
      throw new SessionkeeperError('UNAUTHORIZED', 'The API key is not valid');
  };
}

/** An onRequest hook, so requests without any session token are refused before their body is read. */
export async function sessionTokenGuard(request: FastifyRequest): Promise<void> {
  sessionTokenOf(request);
}

/** The session token from `Authorization: Bearer` or, failing that, the `sk_session` cookie. */
export function sessionTokenOf(request: FastifyRequest): string {
  const token =
    bearerToken(request.headers.authorization, 'session token') ??
    cookieValue(request.headers.cookie, SESSION_COOKIE);
  if (token === undefined) {
    throw new CredentialsMissingError(
      `This endpoint needs the session token as Authorization: Bearer <token> or in the ${SESSION_COOKIE} cookie`,
    );
  }
  return token;
}

/** The credentials of a Bearer Authorization header; undefined when there is no header. */
function bearerToken(header: string | undefined, what: string): string | undefined {
  if (header === undefined) return undefined;
  const trimmed = header.trim();
  const space = trimmed.indexOf(' ');
  const scheme = space === -1 ? trimmed : trimmed.slice(0, space);
  if (scheme.toLowerCase() !== 'bearer') {
    throw new CredentialsMissingError(
      `The Authorization header does not use the Bearer scheme; send Authorization: Bearer <${what}>`,
    );
  }
  const credentials = space === -1 ? '' : trimmed.slice(space + 1).trim();
  if (credentials === '')
    throw new CredentialsMissingError(`The Authorization header has no ${what} after Bearer`);
  return credentials;
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq === -1 || pair.slice(0, eq).trim() !== name) continue;
    const raw = pair
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1');
    if (raw === '') return undefined;
    try {
      return decodeURIComponent(raw);
    } catch {
      return raw; // not percent-encoded after all; the engine rejects it if it is not a token
    }
  }
  return undefined;
}
