import { createHash, createHmac, randomBytes } from 'node:crypto';
import { isValidSessionId } from './token.js';

/**
 * Refresh tokens look like `skr_<session id>.<secret>`, the secret 32 bytes of base64url. The
 * first secret comes from the CSPRNG; each successor is `HMAC-SHA256(key = presented secret,
 * message = nonce)` with a fresh random nonce the store keeps. So concurrent refreshes with one
 * token can all be answered with the same successor (whoever lost the race recomputes it from the
 * stored nonce), yet only someone holding the previous token can compute it: the store keeps
 * hashes and nonces, never a usable token.
 */
export const REFRESH_TOKEN_PREFIX = 'skr_';

const SECRET_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export function formatRefreshToken(sessionId: string, secret: string): string {
  return `${REFRESH_TOKEN_PREFIX}${sessionId}.${secret}`;
}

export type ParsedRefreshToken =
  | { ok: true; id: string; secret: string }
  | { ok: false; problem: string; id?: string };

/** Splits a refresh token without throwing; `problem` never echoes the token. */
export function parseRefreshToken(token: unknown): ParsedRefreshToken {
  if (typeof token !== 'string' || token.length === 0) {
    return { ok: false, problem: 'No refresh token was given' };
  }
  if (!token.startsWith(REFRESH_TOKEN_PREFIX)) {
    return {
      ok: false,
      problem: `The token is not a sessionkeeper refresh token (expected the form ${REFRESH_TOKEN_PREFIX}<id>.<secret>)`,
    };
  }
  const dot = token.lastIndexOf('.');
  const id = token.slice(REFRESH_TOKEN_PREFIX.length, dot === -1 ? undefined : dot);
  if (!isValidSessionId(id))
    return { ok: false, problem: 'The refresh token has no valid session id' };
  const secret = dot === -1 ? '' : token.slice(dot + 1);
  if (!SECRET_PATTERN.test(secret)) {
    return { ok: false, problem: 'The refresh token secret is missing or truncated', id };
  }
  return { ok: true, id, secret };
}

export function generateNonce(): string {
  return randomBytes(16).toString('base64url');
}

/** The secret that replaces `presentedSecret` in a rotation that used `nonce`. */
export function successorSecret(presentedSecret: string, nonce: string): string {
  return createHmac('sha256', presentedSecret).update(nonce).digest('base64url');
}

/**
 * The `jti` of the access token issued beside the refresh token with this hash: deterministic, so
 * every answer for one rotation is byte-identical, and one-way, so it reveals nothing stored.
 */
export function accessTokenId(refreshHash: string): string {
  return createHash('sha256').update(`jti:${refreshHash}`).digest('base64url').slice(0, 22);
}
