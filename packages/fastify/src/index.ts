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
export type { FastifySessionkeeper, SessionPluginOptions } from './session-plugin.js';
export { sessionPlugin } from './session-plugin.js';
