import { createLocalJWKSet, createRemoteJWKSet, type JSONWebKeySet } from 'jose';
import { type AccessTokenResult, verifyAccessToken } from './access-token.js';
import { type Clock, systemClock } from './clock.js';
import { ValidationError } from './errors.js';

export interface AccessTokenVerifierOptions {
  /**
   * Where the public keys come from: the session service's JWKS URL
   * (`https://sessions.example.com/.well-known/jwks.json`, fetched and cached, re-fetched when a
   * token names an unknown key) or a JWKS document.
   */
  jwks: string | URL | JSONWebKeySet;
  /** Must match the service's `tokens.issuer` (default `sessionkeeper`). */
  issuer?: string;
  /** Must match the service's `tokens.audience` (default `sessionkeeper`). */
  audience?: string;
  /**
   * How long a fetched JWKS is used before it is fetched again, in seconds. Default 300, the
   * `max-age` the service sends (keys are published 10 minutes before they sign).
   */
  jwksCacheMaxAgeSeconds?: number;
  /**
   * A token naming a key the cached JWKS lacks makes one re-fetch, at most once per this many
   * seconds (so forged `kid`s cannot make the verifier hammer the service). Default 30.
   */
  jwksCooldownSeconds?: number;
  /** Leeway for clocks that disagree, in seconds. Default 30. */
  clockToleranceSeconds?: number;
  clock?: Clock;
}

export interface AccessTokenVerifier {
  /** Never throws for a bad token; `error` says which check failed (expired → `refresh`). */
  verify(token: string): Promise<AccessTokenResult>;
}

/**
 * Verifies sessionkeeper access tokens in another service, with no call to the session service
 * per request: only the JWKS is fetched (and cached). Revocation is therefore seen when the access
 * token expires; see `tokens.denylist` for the trade-off.
 */
export function createAccessTokenVerifier(
  options: AccessTokenVerifierOptions,
): AccessTokenVerifier {
  const { jwks } = options;
  const getKey =
    typeof jwks === 'string' || jwks instanceof URL
      ? createRemoteJWKSet(toUrl(jwks), {
          cacheMaxAge: seconds(options.jwksCacheMaxAgeSeconds, 300, 'jwksCacheMaxAgeSeconds'),
          cooldownDuration: seconds(options.jwksCooldownSeconds, 30, 'jwksCooldownSeconds'),
        })
      : createLocalJWKSet(jwks);
  const clock = options.clock ?? systemClock;
  const check = {
    issuer: options.issuer ?? 'sessionkeeper',
    audience: options.audience ?? 'sessionkeeper',
    clockToleranceSeconds: options.clockToleranceSeconds ?? 30,
  };
  return {
    verify: (token) => verifyAccessToken(token, getKey, { ...check, nowMs: clock.now() }),
  };
}

function toUrl(value: string | URL): URL {
  try {
    return new URL(value);
  } catch {
    throw new ValidationError(
      'jwks',
      'must be an absolute URL or a JWKS document ({ keys: [...] })',
    );
  }
}

function seconds(value: number | undefined, fallback: number, field: string): number {
  if (value === undefined) return fallback * 1000;
  if (!Number.isFinite(value) || value < 0)
    throw new ValidationError(field, 'must be a number of seconds, 0 or more');
  return value * 1000;
}
