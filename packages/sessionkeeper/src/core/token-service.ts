import type { Logger } from 'pino';
import {
  type AccessTokenResult,
  signAccessToken,
  UnknownKeyError,
  verifyAccessToken,
} from './access-token.js';
import type { Clock } from './clock.js';
import {
  InvalidTokenError,
  RefreshTokenReusedError,
  type SessionInvalidError,
  SessionNotFoundError,
} from './errors.js';
import { explainEnded } from './explain-ended.js';
import { KeyEncryption } from './key-encryption.js';
import { type JsonWebKeySet, Keyring } from './keyring.js';
import type { ResolvedTokenOptions } from './options.js';
import { refreshDepth } from './refresh-rotation.js';
import {
  accessTokenId,
  formatRefreshToken,
  generateNonce,
  parseRefreshToken,
  successorSecret,
} from './refresh-token.js';
import type { SessionRecord, SessionStore } from './store.js';
import { hashSecret } from './token.js';

/** An access token and the refresh token that replaces it, with absolute and relative lifetimes. */
export interface TokenPair {
  tokenType: 'Bearer';
  /** A signed JWT (EdDSA) for `Authorization: Bearer`; verify it locally with the JWKS. */
  accessToken: string;
  accessTokenExpiresAt: Date;
  /** Seconds from now until `accessTokenExpiresAt`: use this, not your own clock. */
  accessTokenExpiresIn: number;
  /** Opaque (`skr_…`); single use: each refresh returns a new one. */
  refreshToken: string;
  /** When the session ends if it sees no more activity (each refresh moves it), never past its absolute deadline. */
  refreshTokenExpiresAt: Date;
  refreshTokenExpiresIn: number;
}

export type RefreshResult =
  | {
      ok: true;
      record: SessionRecord;
      tokens: TokenPair;
      /** True when this answered a concurrent refresh with the pair already issued for it. */
      replayed: boolean;
    }
  | { ok: false; error: SessionInvalidError };

/** Issues, rotates and verifies the tokens of sessions; the engine delegates to it. */
export class TokenService {
  readonly keyring: Keyring;

  constructor(
    readonly store: SessionStore,
    readonly clock: Clock,
    readonly logger: Logger,
    readonly options: ResolvedTokenOptions,
  ) {
    this.keyring = new Keyring(store, clock, logger, {
      rotationIntervalMs: options.keyRotationIntervalSeconds * 1000,
      // + 1 s: `exp` rounds up to a whole second (see pair).
      retainMs: (options.accessTokenTtlSeconds + 1 + options.clockToleranceSeconds) * 1000,
      encryption: options.keyEncryptionSecret
        ? new KeyEncryption(options.keyEncryptionSecret)
        : null,
      reloadIntervalMs: 60_000,
    });
  }

  /**
   * The pair for the refresh secret the record's family currently holds. Everything in it derives
   * from the stored state (iat = rotation time, jti from the hash, the key active then), so a
   * replayed rotation gets byte-identical tokens.
   */
  async pair(record: SessionRecord, refreshSecret: string, nowMs: number): Promise<TokenPair> {
    const refresh = record.refresh;
    if (!refresh) throw new Error(`session ${record.id} has no refresh family`);
    const issuedAtMs = refresh.rotatedAtMs;
    // JWT instants are whole seconds: `exp` rounds up from the exact issue time, so the token
    // lives at least the configured TTL and `accessTokenExpiresIn` reports all of it (a 3 s TTL
    // answers 3, not 2); the session's absolute deadline still caps it, rounded down.
    const expS = Math.min(
      Math.ceil(issuedAtMs / 1000 + this.options.accessTokenTtlSeconds),
      Math.floor(record.absoluteExpiresAtMs / 1000),
    );
    const key = await this.keyring.signingKey(issuedAtMs);
    const accessToken = await signAccessToken(
      {
        sub: record.subject,
        sid: record.id,
        iat: Math.floor(issuedAtMs / 1000),
        exp: expS,
        jti: accessTokenId(refresh.hash),
        iss: this.options.issuer,
        aud: this.options.audience,
      },
      key,
    );
    const accessExpiresAt = new Date(expS * 1000);
    return {
      tokenType: 'Bearer',
      accessToken,
      accessTokenExpiresAt: accessExpiresAt,
      accessTokenExpiresIn: secondsUntil(accessExpiresAt.getTime(), nowMs),
      refreshToken: formatRefreshToken(record.id, refreshSecret),
      refreshTokenExpiresAt: new Date(record.expiresAtMs),
      refreshTokenExpiresIn: secondsUntil(record.expiresAtMs, nowMs),
    };
  }

  async refresh(token: string): Promise<RefreshResult> {
    const parsed = parseRefreshToken(token);
    if (!parsed.ok) return { ok: false, error: new InvalidTokenError(parsed.problem, parsed.id) };
    const nowMs = this.clock.now();
    const graceMs = this.options.refreshGraceSeconds * 1000;
    const nonce = generateNonce();
    const next = successorSecret(parsed.secret, nonce);
    const presentedHash = hashSecret(parsed.secret);
    const outcome = await this.store.rotateRefresh(
      parsed.id,
      presentedHash,
      { hash: hashSecret(next), nonce },
      nowMs,
      graceMs,
    );
    const { record } = outcome;
    switch (outcome.kind) {
      case 'rotated':
        return {
          ok: true,
          record: outcome.record,
          tokens: await this.pair(outcome.record, next, nowMs),
          replayed: false,
        };
      case 'replayed': {
        const secret = currentSecret(outcome.record, parsed.secret, presentedHash);
        if (secret === null) return { ok: false, error: this.#wrongSecret(parsed.id) };
        return {
          ok: true,
          record: outcome.record,
          tokens: await this.pair(outcome.record, secret, nowMs),
          replayed: true,
        };
      }
      case 'reused':
        return {
          ok: false,
          error: new RefreshTokenReusedError(
            parsed.id,
            new Date(outcome.record.refresh?.rotatedAtMs ?? nowMs),
            this.options.refreshGraceSeconds,
          ),
        };
      case 'rejected':
        if (!record) return { ok: false, error: new SessionNotFoundError(parsed.id) };
        // The secret first, as validation does: a token the family never issued learns nothing
        // about the session's state.
        if (!record.refresh || refreshDepth(record.refresh, presentedHash) < 0) {
          return { ok: false, error: this.#wrongSecret(parsed.id) };
        }
        return {
          ok: false,
          error: explainEnded(record, nowMs) ?? this.#wrongSecret(parsed.id),
        };
    }
  }

  /** Verifies an access token against the keyring; with `denylist`, also checks its session. */
  async verify(token: string): Promise<AccessTokenResult> {
    const nowMs = this.clock.now();
    const result = await verifyAccessToken(
      token,
      async (header) => {
        const key = header.kid ? await this.keyring.publicKey(header.kid) : null;
        if (!key) throw new UnknownKeyError();
        return key;
      },
      {
        issuer: this.options.issuer,
        audience: this.options.audience,
        clockToleranceSeconds: this.options.clockToleranceSeconds,
        nowMs,
      },
    );
    if (!result.ok || !this.options.denylist) return result;
    const record = await this.store.get(result.claims.sid);
    if (!record) return { ok: false, error: new SessionNotFoundError(result.claims.sid) };
    const ended = explainEnded(record, nowMs);
    return ended ? { ok: false, error: ended } : result;
  }

  jwks(): Promise<JsonWebKeySet> {
    return this.keyring.jwks();
  }

  #wrongSecret(sessionId: string): SessionInvalidError {
    return new InvalidTokenError(
      `The refresh token does not match session ${sessionId}: it was never issued, or was replaced too many rotations ago`,
      sessionId,
    );
  }
}

/**
 * The secret of the family's current token, recomputed from the presented one: the previous
 * token's successor from the stored nonce, or (the token before it, replayed within the grace
 * window) two steps with the previous nonce then the nonce, checked against the stored hash since
 * an ancestor is matched by a prefix of its hash. Null if the chain does not lead there.
 */
function currentSecret(
  record: SessionRecord,
  presentedSecret: string,
  presentedHash: string,
): string | null {
  const refresh = record.refresh;
  if (!refresh) return null;
  if (presentedHash === refresh.previousHash)
    return successorSecret(presentedSecret, refresh.nonce);
  const previous = successorSecret(presentedSecret, refresh.previousNonce);
  if (hashSecret(previous) !== refresh.previousHash) return null;
  return successorSecret(previous, refresh.nonce);
}

function secondsUntil(atMs: number, nowMs: number): number {
  return Math.max(0, Math.floor((atMs - nowMs) / 1000));
}
