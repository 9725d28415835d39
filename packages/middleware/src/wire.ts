import type { TokenPair } from 'sessionkeeper/internal/token-service';
import type {
  Session,
  SessionData,
  SessionStatus,
  SessionTiming,
} from 'sessionkeeper/internal/types';

/*
 * The JSON shapes of HTTP API v1. One rule for every endpoint: instants are ISO 8601 strings
 * named `…At`; durations are numbers of seconds without a unit suffix (`idleTimeout`,
 * `idleRemaining`, `expiresIn`, `ttl`), as DESIGN.md's request fields are.
 */

export interface SessionJson {
  id: string;
  subject: string;
  data: SessionData;
  status: SessionStatus;
  createdAt: string;
  lastActiveAt: string;
  /** When the session ends if nothing else happens (idle deadline, leases, absolute deadline). */
  expiresAt: string;
  absoluteExpiresAt: string;
  idleTimeout: number;
  endReason: string | null;
  endedAt: string | null;
}

export interface TimingJson {
  age: number;
  idleRemaining: number;
  absoluteRemaining: number;
}

/** A session with how long it has left: the body of the read and keep-alive endpoints. */
export interface SessionInfoJson extends TimingJson {
  session: SessionJson;
}

/** An access token and its refresh token: the token fields of the create and refresh answers. */
export interface TokenPairJson {
  tokenType: 'Bearer';
  /** A signed JWT; verify it with the keys at `/.well-known/jwks.json`. */
  accessToken: string;
  accessTokenExpiresAt: string;
  /** Seconds until `accessTokenExpiresAt`, by the server's clock: schedule refreshes with this. */
  accessTokenExpiresIn: number;
  /** Single use: each refresh answers with a new one. */
  refreshToken: string;
  /** When the session ends without further activity (each refresh moves it); never past its absolute deadline. */
  refreshTokenExpiresAt: string;
  refreshTokenExpiresIn: number;
}

/** The body of `POST /v1/sessions`. */
export interface CreatedSessionJson extends TokenPairJson {
  session: SessionJson;
  /** The opaque session token (`sks_…`) for the session-holder calls. */
  token: string;
}

/** The body of `POST /v1/session/refresh`. */
export interface RefreshedSessionJson extends TokenPairJson {
  session: SessionJson;
}

export function tokenPairJson(tokens: TokenPair): TokenPairJson {
  return {
    tokenType: tokens.tokenType,
    accessToken: tokens.accessToken,
    accessTokenExpiresAt: tokens.accessTokenExpiresAt.toISOString(),
    accessTokenExpiresIn: tokens.accessTokenExpiresIn,
    refreshToken: tokens.refreshToken,
    refreshTokenExpiresAt: tokens.refreshTokenExpiresAt.toISOString(),
    refreshTokenExpiresIn: tokens.refreshTokenExpiresIn,
  };
}

export function sessionJson(session: Session): SessionJson {
  return {
    id: session.id,
    subject: session.subject,
    data: session.data,
    status: session.status,
    createdAt: session.createdAt.toISOString(),
    lastActiveAt: session.lastActiveAt.toISOString(),
    expiresAt: session.expiresAt.toISOString(),
    absoluteExpiresAt: session.absoluteExpiresAt.toISOString(),
    idleTimeout: session.idleTimeoutSeconds,
    endReason: session.endReason,
    endedAt: session.endedAt === null ? null : session.endedAt.toISOString(),
  };
}

export function sessionInfoJson(session: Session, timing: SessionTiming): SessionInfoJson {
  return {
    session: sessionJson(session),
    age: timing.ageSeconds,
    idleRemaining: timing.idleRemainingSeconds,
    absoluteRemaining: timing.absoluteRemainingSeconds,
  };
}
