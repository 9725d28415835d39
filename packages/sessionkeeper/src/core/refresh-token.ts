import { createHash, createHmac, randomBytes } from 'node:crypto';
import { type ParsedToken, parsePrefixedToken } from './token.js';

/**
 * Refresh tokens look like `skr_<session id>.<secret>`, the secret 32 bytes of base64url. The
 * first secret comes from the CSPRNG; each successor is `HMAC-SHA256(key = presented secret,
 * message = nonce)` with a fresh random nonce the store keeps. So concurrent refreshes with one
 * token can all be answered with the same successor (whoever lost the race recomputes it from the
 * stored nonce), yet only someone holding the previous token can compute it: the store keeps
 * hashes and nonces, never a usable token.
 */
export const REFRESH_TOKEN_PREFIX = 'skr_';

export function formatRefreshToken(sessionId: string, secret: string): string {
  return `${REFRESH_TOKEN_PREFIX}${sessionId}.${secret}`;
}

/** Splits a refresh token without throwing; `problem` never echoes the token. */
export function parseRefreshToken(token: unknown): ParsedToken {
  return parsePrefixedToken(token, REFRESH_TOKEN_PREFIX, 'refresh token');
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
