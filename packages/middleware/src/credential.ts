import { SESSION_TOKEN_PREFIX } from 'sessionkeeper/internal/token';

/** Where a request's credential came from. */
export type Transport = 'cookie' | 'bearer' | 'access-token';

export type Credential =
  | { kind: 'session-token'; token: string; via: 'cookie' | 'bearer' }
  | { kind: 'access-token'; token: string };

/**
 * The credential of a request: `Authorization: Bearer <token>` first (a session token `sks_…`, or
 * an access token when it has the three dot-separated parts of a JWT), then the session cookie.
 * Another Authorization scheme (Basic, …) is left to the app. Never throws; a malformed token is
 * returned as is and refused by validation with a specific problem.
 */
export function readCredential(
  authorization: string | undefined,
  cookieToken: () => string | undefined,
  transports: { bearer: boolean; cookie: boolean },
): Credential | null {
  if (transports.bearer && authorization !== undefined) {
    const bearer = bearerToken(authorization);
    if (bearer !== undefined) {
      return looksLikeJwt(bearer)
        ? { kind: 'access-token', token: bearer }
        : { kind: 'session-token', token: bearer, via: 'bearer' };
    }
  }
  if (transports.cookie) {
    const token = cookieToken();
    if (token !== undefined && token !== '') return { kind: 'session-token', token, via: 'cookie' };
  }
  return null;
}

/** The credentials of a Bearer Authorization header ('' when empty); undefined for other schemes. */
export function bearerToken(header: string): string | undefined {
  const trimmed = header.trim();
  if (trimmed.length < 6 || trimmed.slice(0, 6).toLowerCase() !== 'bearer') return undefined;
  if (trimmed.length > 6 && trimmed[6] !== ' ') return undefined;
  return trimmed.slice(6).trim();
}

function looksLikeJwt(token: string): boolean {
  if (token.startsWith(SESSION_TOKEN_PREFIX)) return false;
  const first = token.indexOf('.');
  if (first <= 0) return false;
  const second = token.indexOf('.', first + 1);
  return second > first + 1 && token.indexOf('.', second + 1) === -1;
}
