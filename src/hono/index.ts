export type {
  CookieOptions,
  CsrfOptions,
  GuardOptions,
  HttpReply,
  LoginOptions,
  SessionMiddlewareOptions,
  Transport,
} from '../middleware/index.js';
export {
  CredentialsMissingError,
  CsrfRejectedError,
  SessionContext,
} from '../middleware/index.js';
export type { HonoSessionMiddleware, SessionkeeperEnv } from './session-middleware.js';
export { accessTokenMiddleware, sessionMiddleware } from './session-middleware.js';
