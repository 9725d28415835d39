export type {
  CookieOptions,
  CsrfOptions,
  GuardOptions,
  HttpReply,
  LoginOptions,
  SessionMiddlewareOptions,
  Transport,
} from '@sessionkeeper/middleware';
export {
  CredentialsMissingError,
  CsrfRejectedError,
  SessionContext,
} from '@sessionkeeper/middleware';
export type { HonoSessionMiddleware, SessionkeeperEnv } from './session-middleware.js';
export { accessTokenMiddleware, sessionMiddleware } from './session-middleware.js';
