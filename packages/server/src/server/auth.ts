import { checkCrossSite, firstHeader, type OriginPolicy } from '@sessionkeeper/middleware';
import type { FastifyRequest } from 'fastify';
import { CredentialsMissingError, SessionkeeperError } from 'sessionkeeper/internal/errors';
import { apiKeyMatches } from './api-key.js';

/** The cookie that carries the session token for browser session-holders. */
export const SESSION_COOKIE = 'sk_session';
/**
 * The same cookie as the middleware sets it over https: `__Host-` (pinned to the exact host, so it
 * wins when a request carries several), or `__Secure-` when the app gave it a domain.
 */
const SECURE_SESSION_COOKIE = `__Host-${SESSION_COOKIE}`;
const DOMAIN_SESSION_COOKIE = `__Secure-${SESSION_COOKIE}`;

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

/**
 * An onRequest hook, so requests without any session token are refused before their body is read.
 * A call authenticated by the cookie, a read included, must come from this host or a trusted origin
 * (the CORS origins): a browser sends the cookie along with other sites' requests, and a cross-site
 * read must neither count as the user's activity nor reveal the session.
 */
export function sessionTokenGuard(
  trustedOrigins: readonly string[],
): (request: FastifyRequest) => Promise<void> {
  const policy: OriginPolicy = {
    trustedOrigins: new Set(trustedOrigins.map((origin) => origin.toLowerCase())),
    allowSameSite: false,
  };
  return async (request) => {
    if (credentialOf(request).via !== 'cookie') return;
    const host = request.headers.host?.trim().toLowerCase();
    const refusal = checkCrossSite(
      { method: request.method, header: (name) => firstHeader(request.headers, name) },
      policy,
      host,
    );
    if (refusal) throw refusal;
  };
}

/** The session token from `Authorization: Bearer` or, failing that, the session cookie. */
export function sessionTokenOf(request: FastifyRequest): string {
  return credentialOf(request).token;
}

/**
 * Set-Cookie headers that delete the session cookie (both names), for a logout that came with it.
 * They reach the cookie when it was set for this host with `Path=/`, as the middleware sets it.
 */
export function clearedSessionCookies(request: FastifyRequest): string[] {
  if (credentialOf(request).via !== 'cookie') return [];
  const attributes = 'Path=/; Max-Age=0; HttpOnly; SameSite=Lax';
  return [`${SECURE_SESSION_COOKIE}=; ${attributes}; Secure`, `${SESSION_COOKIE}=; ${attributes}`];
}

function credentialOf(request: FastifyRequest): { token: string; via: 'bearer' | 'cookie' } {
  const bearer = bearerToken(request.headers.authorization, 'session token');
  if (bearer !== undefined) return { token: bearer, via: 'bearer' };
  const cookie =
    cookieValue(request.headers.cookie, SECURE_SESSION_COOKIE) ??
    cookieValue(request.headers.cookie, DOMAIN_SESSION_COOKIE) ??
    cookieValue(request.headers.cookie, SESSION_COOKIE);
  if (cookie !== undefined) return { token: cookie, via: 'cookie' };
  throw new CredentialsMissingError(
    `This endpoint needs the session token as Authorization: Bearer <token> or in the ${SESSION_COOKIE} (or ${SECURE_SESSION_COOKIE}) cookie`,
  );
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
