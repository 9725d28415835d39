import type { Session, SessionData, SessionStatus, SessionTiming } from '../core/types.js';

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
