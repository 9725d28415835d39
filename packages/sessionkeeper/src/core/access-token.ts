import type { KeyObject } from 'node:crypto';
import { decodeJwt, errors, type JWTPayload, type JWTVerifyGetKey, jwtVerify, SignJWT } from 'jose';
import { AccessTokenExpiredError, InvalidTokenError, type SessionInvalidError } from './errors.js';
import { ACCESS_TOKEN_ALG } from './keyring.js';

/** The claims of a sessionkeeper access token. Instants are epoch seconds, as in JWT. */
export interface AccessTokenClaims {
  /** The session's subject. */
  sub: string;
  /** The session id. */
  sid: string;
  iat: number;
  exp: number;
  jti: string;
  iss: string;
  aud: string;
}

export type AccessTokenResult =
  | { ok: true; claims: AccessTokenClaims }
  | { ok: false; error: SessionInvalidError };

export interface AccessTokenCheck {
  issuer: string;
  audience: string;
  clockToleranceSeconds: number;
  /** The verifier's "now", epoch ms. */
  nowMs: number;
}

export function signAccessToken(
  claims: AccessTokenClaims,
  key: { kid: string; privateKey: KeyObject },
): Promise<string> {
  const { sub, sid, iat, exp, jti, iss, aud } = claims;
  return new SignJWT({ sid })
    .setProtectedHeader({ alg: ACCESS_TOKEN_ALG, typ: 'JWT', kid: key.kid })
    .setSubject(sub)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .setJti(jti)
    .setIssuer(iss)
    .setAudience(aud)
    .sign(key.privateKey);
}

/**
 * Verifies signature, algorithm (EdDSA only: `none` and HMAC-with-the-public-key are refused),
 * issuer, audience, expiry, not-before and issued-at (refused in the future) with the clock
 * tolerance, capped at a tenth of the token's lifetime. Never throws for a bad token:
 * the result says which check failed.
 */
export async function verifyAccessToken(
  token: unknown,
  getKey: JWTVerifyGetKey,
  check: AccessTokenCheck,
): Promise<AccessTokenResult> {
  if (typeof token !== 'string' || token.length === 0) {
    return { ok: false, error: new InvalidTokenError('No access token was given') };
  }
  try {
    const toleranceSeconds = effectiveToleranceSeconds(token, check.clockToleranceSeconds);
    const { payload } = await jwtVerify(token, getKey, {
      algorithms: [ACCESS_TOKEN_ALG],
      issuer: check.issuer,
      audience: check.audience,
      clockTolerance: toleranceSeconds,
      currentDate: new Date(check.nowMs),
      requiredClaims: ['sub', 'sid', 'iat', 'exp', 'jti'],
    });
    if (typeof payload.sid !== 'string') {
      return {
        ok: false,
        error: new InvalidTokenError('The access token has no session id (sid)'),
      };
    }
    // jose checks `nbf` but not an `iat` in the future; a token from the future means the
    // issuer's clock (or the token) is wrong by more than the tolerance.
    if (typeof payload.iat === 'number' && payload.iat > check.nowMs / 1000 + toleranceSeconds) {
      return {
        ok: false,
        error: new InvalidTokenError(
          `The access token is not valid yet (its "iat" lies ${Math.round(payload.iat - check.nowMs / 1000)} s in the future, beyond the clock tolerance of ${toleranceSeconds} s)`,
          payload.sid,
        ),
      };
    }
    return { ok: true, claims: payload as unknown as AccessTokenClaims };
  } catch (err) {
    return { ok: false, error: explain(err) };
  }
}

/**
 * The share of a token's lifetime (`exp - iat`) the clock tolerance may reach: a 30 s tolerance
 * on a 3 s token would accept it ten times as long as it was meant to live.
 */
export const CLOCK_TOLERANCE_LIFETIME_FRACTION = 0.1;

/**
 * The tolerance for this token: the configured one, capped at a tenth of the token's lifetime.
 * Reads the claims before the signature is checked only to size the leeway; a token that cannot
 * be decoded gets the configured tolerance and fails verification anyway.
 */
function effectiveToleranceSeconds(token: string, configuredSeconds: number): number {
  let claims: JWTPayload;
  try {
    claims = decodeJwt(token);
  } catch {
    return configuredSeconds;
  }
  const { iat, exp } = claims;
  if (typeof iat !== 'number' || typeof exp !== 'number' || exp <= iat) return configuredSeconds;
  return Math.min(configuredSeconds, (exp - iat) * CLOCK_TOLERANCE_LIFETIME_FRACTION);
}

/** A specific error for each way a token fails; jose's messages name the claim that failed. */
function explain(err: unknown): SessionInvalidError {
  if (err instanceof errors.JWTExpired) {
    const payload = err.payload as JWTPayload;
    return new AccessTokenExpiredError(sidOf(payload), new Date((payload.exp ?? 0) * 1000));
  }
  if (err instanceof errors.JWTClaimValidationFailed) {
    const payload = err.payload as JWTPayload;
    const claim = err.claim;
    const what =
      claim === 'nbf' || claim === 'iat'
        ? 'is not valid yet (its "nbf" or "iat" lies in the future beyond the clock tolerance)'
        : claim === 'aud' || claim === 'iss'
          ? `was issued for another ${claim === 'aud' ? 'audience' : 'issuer'} ("${claim}" does not match)`
          : `fails the "${claim}" check: ${err.reason === 'missing' ? 'the claim is missing' : err.message}`;
    return new InvalidTokenError(`The access token ${what}`, sidOf(payload));
  }
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) {
    return new InvalidTokenError(
      `The access token's algorithm is not accepted; sessionkeeper access tokens are signed with ${ACCESS_TOKEN_ALG}`,
    );
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) {
    return new InvalidTokenError('The access token signature does not verify');
  }
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof UnknownKeyError) {
    return new InvalidTokenError(
      'The access token was signed with a key this service does not know (unknown or long-retired "kid")',
    );
  }
  if (err instanceof errors.JOSEError) {
    return new InvalidTokenError(
      'The access token is malformed (not a compact JWS with a JSON payload)',
    );
  }
  throw err; // not a token problem (e.g. the store is down while looking up a key)
}

/** Thrown by key lookups when the token's `kid` is unknown. */
export class UnknownKeyError extends Error {}

function sidOf(payload: JWTPayload): string | undefined {
  return typeof payload.sid === 'string' ? payload.sid : undefined;
}
