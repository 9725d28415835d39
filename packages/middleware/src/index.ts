// The framework-neutral part of @sessionkeeper/express, /fastify and /hono.

export { instancePath, PROBLEM_CONTENT_TYPE } from 'sessionkeeper/internal/problem';
export type { CookiePolicy } from './cookies.js';
export { isLoopbackHost } from './cookies.js';
export type { GuardOptions, LoginOptions } from './core.js';
export {
  createSessionMiddlewareCore,
  REPLACED_BY_LOGIN,
  SessionContext,
  SessionMiddlewareCore,
} from './core.js';
export type { Credential, Transport } from './credential.js';
export { bearerToken, readCredential } from './credential.js';
export type { OriginPolicy } from './csrf.js';
export { checkCrossSite, checkCsrf, checkOrigin, csrfTokenFor, isSafeMethod } from './csrf.js';
export type {
  HolderAnswer,
  HolderCall,
  HolderMatch,
  HolderObserver,
  HolderRoute,
  HolderRouteName,
} from './holder-routes.js';
export {
  answerHolderCall,
  HOLDER_BODY_LIMIT_BYTES,
  HOLDER_ROUTES,
  holderBodyTooLarge,
  matchHolderRoute,
  parseHolderBody,
} from './holder-routes.js';
export type { HttpReply, ReplyContext } from './http-reply.js';
export { htmlReply, jsonReply, problemReply, redirectReply } from './http-reply.js';
export type {
  CookieOptions,
  CsrfOptions,
  ResolvedMiddlewareOptions,
  SessionMiddlewareOptions,
} from './options.js';
export { resolveMiddlewareOptions } from './options.js';
export type { MiddlewareError } from './problems.js';
export {
  CredentialsMissingError,
  CsrfRejectedError,
  isMiddlewareError,
} from './problems.js';
export type { RegisteredData, SessionkeeperRegister } from './register.js';
export type { RequestLike, ResponseLike } from './request.js';
export { firstHeader } from './request.js';
