export type {
  CookieOptions,
  CsrfOptions,
  GuardOptions,
  HttpReply,
  LoginOptions,
  RegisteredData,
  SessionkeeperRegister,
  SessionMiddlewareOptions,
  Transport,
} from '@sessionkeeper/middleware';
export {
  CredentialsMissingError,
  CsrfRejectedError,
  SessionContext,
} from '@sessionkeeper/middleware';
export type { ExpressSessionMiddleware } from './session-middleware.js';
export { accessTokenMiddleware, sessionMiddleware } from './session-middleware.js';
