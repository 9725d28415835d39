import type { RefreshResult, SessionEngine, ValidationResult } from 'sessionkeeper/internal/engine';
import {
  type SessionInvalidError,
  SessionkeeperError,
  ValidationError,
} from 'sessionkeeper/internal/errors';
import type { Session, SessionTiming } from 'sessionkeeper/internal/types';
import { leaseBody, leaseIdParams, parseInput, refreshBody, renameFields } from './input.js';
// The wire shapes are the service's own (a pure module: core types only), so both answer alike.
import { sessionInfoJson, sessionJson, tokenPairJson } from './wire.js';

/*
 * The session-holder calls (`/v1/session…`) the client SDK makes, framework-neutral: the service
 * (`sessionkeeper serve`) and the middleware's holder routes both answer through `answerHolderCall`,
 * so a client gets the same answers and the same problems from either.
 */

export type HolderRouteName =
  | 'validate'
  | 'info'
  | 'renew'
  | 'logout'
  | 'refresh'
  | 'acquire-lease'
  | 'release-lease';

export interface HolderRoute {
  readonly name: HolderRouteName;
  readonly method: 'GET' | 'POST' | 'DELETE';
  /** The path as routers write it (`:leaseId` is a parameter). */
  readonly path: string;
  /**
   * Authenticated by the session token (cookie or Bearer). The refresh call is not: its refresh
   * token in the body is the credential.
   */
  readonly sessionToken: boolean;
}

export const HOLDER_ROUTES: readonly HolderRoute[] = [
  { name: 'validate', method: 'POST', path: '/v1/session/validate', sessionToken: true },
  { name: 'info', method: 'GET', path: '/v1/session', sessionToken: true },
  { name: 'renew', method: 'POST', path: '/v1/session/renew', sessionToken: true },
  { name: 'logout', method: 'DELETE', path: '/v1/session', sessionToken: true },
  { name: 'refresh', method: 'POST', path: '/v1/session/refresh', sessionToken: false },
  { name: 'acquire-lease', method: 'POST', path: '/v1/session/leases', sessionToken: true },
  {
    name: 'release-lease',
    method: 'DELETE',
    path: '/v1/session/leases/:leaseId',
    sessionToken: true,
  },
];

export interface HolderMatch {
  route: HolderRoute;
  params: Record<string, string>;
}

/**
 * The holder route `method` and `path` (no query string) address, with its path parameters; null
 * for any other request. `prefix` is where the routes are mounted ('' for the origin's root).
 */
export function matchHolderRoute(method: string, path: string, prefix = ''): HolderMatch | null {
  if (!path.startsWith(`${prefix}/v1/session`)) return null;
  const rest = path.slice(prefix.length).split('/');
  const upper = method.toUpperCase() === 'HEAD' ? 'GET' : method.toUpperCase();
  for (const route of HOLDER_ROUTES) {
    if (route.method !== upper) continue;
    const parts = route.path.split('/');
    if (parts.length !== rest.length) continue;
    const params: Record<string, string> = {};
    let matched = true;
    for (const [i, part] of parts.entries()) {
      const segment = rest[i] ?? '';
      if (part.startsWith(':')) {
        if (segment === '') matched = false;
        else params[part.slice(1)] = safeDecode(segment);
      } else if (part !== segment) matched = false;
      if (!matched) break;
    }
    if (matched) return { route, params };
  }
  return null;
}

export interface HolderCall {
  route: HolderRoute;
  /** The session token the request carries (cookie or Bearer); null for the refresh call. */
  token: string | null;
  params: Record<string, string>;
  /** The parsed JSON body; undefined when the request has none. */
  body: unknown;
}

export interface HolderAnswer {
  status: 200 | 201 | 204;
  /** The JSON body; undefined for 204. */
  body: unknown;
  /** The session is over for this credential (logout): delete the session cookie it came in. */
  clearCookie: boolean;
  /** The session as the call left it, so a transport can re-send a cookie whose Max-Age follows it. */
  session?: { session: Session; timing: SessionTiming };
}

/** Told about each validation and refresh (the service counts them in its metrics). */
export interface HolderObserver {
  validated?(result: ValidationResult): void;
  refreshed?(result: RefreshResult): void;
}

/** Reasons that prove the token was genuine (its secret matched) although the session has ended. */
const ENDED_REASONS: ReadonlySet<SessionInvalidError['reason']> = new Set([
  'idle-expired',
  'lifetime-exceeded',
  'revoked',
]);

/**
 * Answers one holder call. Throws sessionkeeper's errors (the transport answers them as
 * problem+json): an invalid session token as its 401, a bad body as 400 `validation-failed`.
 * The transport has already refused requests without a credential and cross-site cookie calls.
 */
export async function answerHolderCall(
  engine: SessionEngine,
  call: HolderCall,
  observer: HolderObserver = {},
): Promise<HolderAnswer> {
  const token = (): string => {
    if (call.token === null) throw new Error(`${call.route.name} needs the session token`);
    return call.token;
  };
  /** Validation as the transport sees it: an invalid token becomes its 401 problem. */
  const validSession = async (renew = false) => {
    const result = renew ? await engine.renew(token()) : await engine.validate(token());
    observer.validated?.(result);
    if (!result.ok) throw result.error;
    return result;
  };
  /** Why a session that was valid a moment ago is not any more (it ended between two calls). */
  const endedMeanwhile = async (): Promise<SessionInvalidError> => {
    const result = await engine.validate(token());
    if (!result.ok) return result.error;
    throw new Error(`session ${result.session.id} is active but refused a lease change`);
  };
  const ok = (body: unknown, session?: HolderAnswer['session']): HolderAnswer => ({
    status: 200,
    body,
    clearCookie: false,
    ...(session ? { session } : {}),
  });

  switch (call.route.name) {
    case 'validate': {
      const { session, timing } = await validSession();
      return ok({ valid: true, ...sessionInfoJson(session, timing) }, { session, timing });
    }
    // Reading the session is a use of it, so it extends the idle deadline like a validation.
    case 'info': {
      const { session, timing } = await validSession();
      return ok(sessionInfoJson(session, timing), { session, timing });
    }
    case 'renew': {
      const { session, timing } = await validSession(true);
      return ok(sessionInfoJson(session, timing), { session, timing });
    }
    case 'logout': {
      const result = await engine.validate(token());
      if (result.ok) await engine.revoke(result.session.id, 'logout');
      else if (!ENDED_REASONS.has(result.error.reason)) throw result.error;
      // Logging out of a session that already ended succeeds: the holder's goal is reached.
      return { status: 204, body: undefined, clearCookie: true };
    }
    // The refresh token is the credential. `replayed` stays off the wire: concurrent refreshes with
    // one token get the same pair, and the client need not know which of them won the rotation.
    case 'refresh': {
      // A request without any body lacks the refresh token, and is told so by name.
      const { refreshToken } = parseInput(refreshBody, call.body ?? {}, 'body');
      const result = await engine.refresh(refreshToken);
      observer.refreshed?.(result);
      if (!result.ok) throw result.error;
      return ok({ session: sessionJson(result.session), ...tokenPairJson(result.tokens) });
    }
    case 'acquire-lease': {
      const { ttl } = parseInput(leaseBody, call.body, 'body');
      const { session } = await validSession();
      const leaseId = await renameFields(() => engine.acquireLease(session.id, ttl), {
        ttlSeconds: 'ttl',
      });
      if (leaseId === null) throw await endedMeanwhile();
      const nowMs = engine.clock.now();
      const expiresAtMs = Math.min(
        nowMs + Math.round(ttl * 1000),
        session.absoluteExpiresAt.getTime(),
      );
      return {
        status: 201,
        body: {
          leaseId,
          expiresAt: new Date(expiresAtMs).toISOString(),
          expiresIn: (expiresAtMs - nowMs) / 1000,
        },
        clearCookie: false,
      };
    }
    case 'release-lease': {
      const { leaseId } = parseInput(leaseIdParams, call.params, 'path');
      const { session } = await validSession();
      if (!(await engine.releaseLease(session.id, leaseId))) throw await endedMeanwhile();
      return { status: 204, body: undefined, clearCookie: false };
    }
  }
}

/** Largest holder-call body read, in bytes (they are a few hundred; the service's limit is the same). */
export const HOLDER_BODY_LIMIT_BYTES = 64 * 1024;

/**
 * A holder call's body as received (for transports that read it themselves): empty is no body,
 * whatever the Content-Type (what many HTTP clients send on bodyless calls); anything else must be
 * JSON. Throws 415 `unsupported-media-type` or 400 `validation-failed` as the service does.
 */
export function parseHolderBody(contentType: string | undefined, text: string): unknown {
  if (text === '') return undefined;
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json' && !(type?.endsWith('+json') ?? false)) {
    const shown = contentType === undefined ? 'none' : `"${contentType.slice(0, 100)}"`;
    throw new SessionkeeperError(
      'UNSUPPORTED_MEDIA_TYPE',
      `Content-Type ${shown} is not accepted; send the body as application/json`,
    );
  }
  try {
    return JSON.parse(text, (key, value: unknown) => {
      if (key === '__proto__') throw new SyntaxError('prototype key');
      return value;
    });
  } catch {
    throw new ValidationError(
      'body',
      'is not valid JSON, or contains a __proto__ or constructor.prototype key',
    );
  }
}

/** 413 for a holder-call body over `HOLDER_BODY_LIMIT_BYTES`, worded as the service words it. */
export function holderBodyTooLarge(): SessionkeeperError {
  return new SessionkeeperError(
    'PAYLOAD_TOO_LARGE',
    `The request body is larger than the limit of ${HOLDER_BODY_LIMIT_BYTES} bytes`,
  );
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment; // not a lease id either way; the parameter check names it
  }
}
