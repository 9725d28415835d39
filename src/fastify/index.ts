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
export type { FastifySessionkeeper, SessionPluginOptions } from './session-plugin.js';
export { sessionPlugin } from './session-plugin.js';
