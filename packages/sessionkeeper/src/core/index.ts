export type { AccessTokenClaims, AccessTokenResult } from './access-token.js';
export type { AccessTokenVerifier, AccessTokenVerifierOptions } from './access-token-verifier.js';
export { createAccessTokenVerifier } from './access-token-verifier.js';
export type { Clock, ManualClock } from './clock.js';
export { createManualClock, systemClock } from './clock.js';
export type { ListPosition } from './cursor.js';
export { decodeCursor, encodeCursor } from './cursor.js';
export type {
  CreatedSession,
  CreateSessionInput,
  EventListenerOptions,
  HeldWork,
  RefreshResult,
  SessionDataPatch,
  SessionInfo,
  SessionList,
  SweepSummary,
  ValidationResult,
} from './engine.js';
export { createSessionEngine, SessionEngine } from './engine.js';
export type { InvalidReason, LimitScope } from './errors.js';
export {
  AccessTokenExpiredError,
  CredentialsMissingError,
  CsrfRejectedError,
  formatDuration,
  InvalidTokenError,
  isoSeconds,
  PayloadTooLargeError,
  RefreshTokenReusedError,
  SessionExpiredError,
  SessionInvalidError,
  SessionkeeperError,
  SessionLifetimeExceededError,
  SessionLimitReachedError,
  SessionNotFoundError,
  SessionRevokedError,
  StoreUnavailableError,
  ValidationError,
} from './errors.js';
export type { EventListener } from './event-dispatcher.js';
export { computeExpiresAtMs, expiryReason, isActiveAt, liveLeases } from './expiry.js';
export { explainEnded } from './explain-ended.js';
export type { JsonWebKeySet } from './keyring.js';
export type { LimitOptions, SessionEngineOptions, TokenOptions } from './options.js';
export type { Problem, ProblemContext } from './problem.js';
export { PROBLEM_CONTENT_TYPE, problemHeaders, toProblem, wwwAuthenticate } from './problem.js';
export type { ErrorCode, ProblemAction, ProblemDefinition } from './problems.js';
export { codeForSlug, errorCodes, problemRegistry } from './problems.js';
export { REFRESH_TOKEN_PREFIX } from './refresh-token.js';
export type {
  CreateLimits,
  CreateOutcome,
  DataPatch,
  KeyringDocument,
  LimitPolicy,
  ListPage,
  PatchOutcome,
  RefreshOutcome,
  RefreshRotation,
  RefreshState,
  SessionRecord,
  SessionSnapshot,
  SessionStore,
  StoredEvent,
  SweepResult,
} from './store.js';
export { checkEventGroup, DEFAULT_EVENT_GROUP } from './store.js';
export {
  generateSessionId,
  isValidSessionId,
  parseSessionToken,
  SESSION_TOKEN_PREFIX,
} from './token.js';
export type { TokenPair } from './token-service.js';
export type {
  EndReason,
  EventType,
  Session,
  SessionData,
  SessionEvent,
  SessionStatus,
  SessionTiming,
} from './types.js';
export { EVENT_TYPES } from './types.js';
