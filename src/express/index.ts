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
} from '../middleware/index.js';
export {
  CredentialsMissingError,
  CsrfRejectedError,
  SessionContext,
} from '../middleware/index.js';
export type { ExpressSessionMiddleware } from './session-middleware.js';
export { accessTokenMiddleware, sessionMiddleware } from './session-middleware.js';
