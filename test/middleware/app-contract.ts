import type { SessionMiddlewareOptions } from '../../packages/middleware/src/index.js';
import type { SessionEngine } from '../../packages/sessionkeeper/src/core/engine.js';
import type { FileJobs } from './file-jobs.js';

/**
 * What each adapter's test app receives. Every app serves the same routes, written idiomatically
 * for its framework:
 * - `POST /login` JSON `{ subject, tokens?, cookie? }` -> 200 `{ sessionId, token, accessToken?,
 *   refreshToken?, accessTokenExpiresIn?, refreshTokenExpiresIn? }` (what the client's `setTokens` takes)
 * - `POST /logout` -> 200 `{ revoked }`
 * - `GET /public` (no guard) -> 200 `{ subject }` (null when not signed in)
 * - `GET /api/session` (guard) -> 200 `{ subject, sessionId, via, idleRemainingSeconds, csrfToken }`
 * - `PUT /api/upload` (guard, raw body) -> 201 `{ bytes }`
 * - `POST /api/process` (guard, session held while processing) -> 200 `{ bytes }`
 * - `GET /api/download` (guard) -> 200 text, or 404 `{ error }`
 * - `GET /page` (guard with `loginPath: '/login-page'`) -> 200 HTML
 * Sessions' cleanup is registered through the adapter's `onSessionEnded`.
 */
export interface AppSetup {
  engine: SessionEngine;
  files: FileJobs;
  options: SessionMiddlewareOptions;
  /** Static pages (path -> [content type, body]) the app also serves, for the browser tests. */
  pages?: Record<string, [string, () => string]>;
}

export interface RunningApp {
  /** `http://127.0.0.1:<port>` */
  url: string;
  close(): Promise<void>;
}

export type StartApp = (setup: AppSetup) => Promise<RunningApp>;

export interface SessionJson {
  subject: string | null;
  sessionId: string | null;
  via: string | null;
  idleRemainingSeconds: number | null;
  csrfToken: string | null;
}

export interface LoginBody {
  subject?: unknown;
  tokens?: boolean;
  cookie?: boolean;
}
