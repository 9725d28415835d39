import { hash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Session tokens look like `sks_<id>.<secret>`: the `sks_` prefix lets secret scanners find leaked
 * tokens; `<id>` is the public session id; `<secret>` is 32 bytes (256 bits) from the OS CSPRNG,
 * base64url. Only SHA-256(secret) is stored.
 */
export const SESSION_TOKEN_PREFIX = 'sks_';

const SECRET_BYTES = 32;
const SECRET_LENGTH = 43; // base64url of 32 bytes, unpadded
const ID_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;
const SECRET_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** 16 random bytes as base64url: unguessable, but not a secret. */
export function generateSessionId(): string {
  return randomBytes(16).toString('base64url');
}

export function isValidSessionId(id: string): boolean {
  return ID_PATTERN.test(id);
}

export function generateSecret(): string {
  return randomBytes(SECRET_BYTES).toString('base64url');
}

export function hashSecret(secret: string): string {
  // One-shot hash: on every validation, about half the cost of a createHash object.
  return hash('sha256', secret, 'base64url');
}

export function formatSessionToken(id: string, secret: string): string {
  return `${SESSION_TOKEN_PREFIX}${id}.${secret}`;
}

export type ParsedToken =
  | { ok: true; id: string; secret: string }
  | { ok: false; problem: string; id?: string };

/** Splits a session token without throwing; `problem` says what is wrong without echoing it. */
export function parseSessionToken(token: unknown): ParsedToken {
  return parsePrefixedToken(token, SESSION_TOKEN_PREFIX, 'session token');
}

/** `<prefix><session id>.<43-character secret>`, as session and refresh tokens are. */
export function parsePrefixedToken(token: unknown, prefix: string, kind: string): ParsedToken {
  if (typeof token !== 'string' || token.length === 0) {
    return { ok: false, problem: `No ${kind} was given` };
  }
  if (!token.startsWith(prefix)) {
    return {
      ok: false,
      problem: `The token is not a sessionkeeper ${kind} (expected the form ${prefix}<id>.<secret>)`,
    };
  }
  const dot = token.lastIndexOf('.');
  const id = token.slice(prefix.length, dot === -1 ? undefined : dot);
  if (!ID_PATTERN.test(id)) {
    return { ok: false, problem: `The ${kind} has no valid session id` };
  }
  const secret = dot === -1 ? '' : token.slice(dot + 1);
  if (secret.length !== SECRET_LENGTH || !SECRET_PATTERN.test(secret)) {
    return { ok: false, problem: `The ${kind} secret is missing or truncated`, id };
  }
  return { ok: true, id, secret };
}

/** Constant-time comparison of the presented secret's hash with the stored hash. */
export function secretMatches(secret: string, storedHash: string): boolean {
  const presented = Buffer.from(hashSecret(secret));
  const stored = Buffer.from(storedHash);
  return presented.length === stored.length && timingSafeEqual(presented, stored);
}
