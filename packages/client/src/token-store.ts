/** The token fields the server answers `POST /v1/sessions` and `POST /v1/session/refresh` with. */
export interface ServerTokenSet {
  /** The session token (`sks_…`); only session creation returns it, a refresh keeps it. */
  token?: string;
  accessToken?: string;
  accessTokenExpiresIn?: number;
  refreshToken?: string;
  refreshTokenExpiresIn?: number;
}

/**
 * Tokens as the client keeps them. Deadlines are the client's clock at receipt plus the server's
 * relative `…ExpiresIn`, so a client whose clock is off still refreshes on time.
 */
export interface StoredTokens {
  token?: string;
  accessToken?: string;
  refreshToken?: string;
  /** When the tokens arrived (client clock, ms). */
  receivedAt: number;
  /** When the access token expires (client clock, ms). */
  accessExpiresAt?: number;
  /** When the session ends without further activity (client clock, ms). */
  sessionExpiresAt?: number;
  /**
   * Orders the pairs of all tabs: each pair a tab receives from the server gets one past the newest
   * it has seen (at least `Date.now()`), so the newer of two pairs is never judged by a tab's clock.
   */
  generation?: number;
}

/** The Web Storage subset the client needs: `localStorage`, `sessionStorage` or your own. */
export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** Storage in this object only (the default outside browsers). */
export function memoryStorage(): KeyValueStorage {
  const values = new Map<string, string>();
  return {
    getItem: (key) => values.get(key) ?? null,
    setItem: (key, value) => void values.set(key, value),
    removeItem: (key) => void values.delete(key),
  };
}

/** Converts a server answer to stored tokens; a refresh answer keeps the previous session token. */
export function fromServer(
  body: ServerTokenSet,
  nowMs: number,
  previous?: StoredTokens,
): StoredTokens {
  const tokens: StoredTokens = { receivedAt: nowMs };
  const token = body.token ?? previous?.token;
  if (token) tokens.token = token;
  if (body.accessToken) tokens.accessToken = body.accessToken;
  if (body.refreshToken) tokens.refreshToken = body.refreshToken;
  if (typeof body.accessTokenExpiresIn === 'number')
    tokens.accessExpiresAt = nowMs + body.accessTokenExpiresIn * 1000;
  if (typeof body.refreshTokenExpiresIn === 'number')
    tokens.sessionExpiresAt = nowMs + body.refreshTokenExpiresIn * 1000;
  return tokens;
}

/** Reads and writes the tokens as JSON under one key. */
export class TokenStore {
  readonly storage: KeyValueStorage;
  readonly key: string;
  constructor(storage: KeyValueStorage, key: string) {
    this.storage = storage;
    this.key = key;
  }

  read(): StoredTokens | null {
    try {
      const raw = this.storage.getItem(this.key);
      const value = raw ? (JSON.parse(raw) as StoredTokens) : null;
      return value && typeof value.receivedAt === 'number' ? value : null;
    } catch {
      return null;
    }
  }

  write(tokens: StoredTokens | null): void {
    try {
      if (tokens) this.storage.setItem(this.key, JSON.stringify(tokens));
      else this.storage.removeItem(this.key);
    } catch {
      // Storage full or disabled (private mode): the tokens stay in memory only.
    }
  }
}
