export type { Clock, ManualClock } from './clock.js';
export { createManualClock, systemClock } from './clock.js';
export type { ListPosition } from './cursor.js';
export { decodeCursor, encodeCursor } from './cursor.js';
export type {
  CreatedSession,
  CreateSessionInput,
  HeldWork,
  SessionInfo,
  SessionList,
  SweepSummary,
  ValidationResult,
} from './engine.js';
export { createSessionEngine, explainEnded, SessionEngine } from './engine.js';
export type { InvalidReason, LimitScope } from './errors.js';
export {
  formatDuration,
  InvalidTokenError,
  isoSeconds,
  PayloadTooLargeError,
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
export type { LimitOptions, SessionEngineOptions } from './options.js';
export type { Problem, ProblemContext } from './problem.js';
export { toProblem } from './problem.js';
export type { ErrorCode, ProblemAction, ProblemDefinition } from './problems.js';
export { codeForSlug, errorCodes, problemRegistry } from './problems.js';
export type {
  CreateLimits,
  CreateOutcome,
  LimitPolicy,
  ListPage,
  SessionRecord,
  SessionSnapshot,
  SessionStore,
  StoredEvent,
  SweepResult,
} from './store.js';
export {
  generateSessionId,
  isValidSessionId,
  parseSessionToken,
  SESSION_TOKEN_PREFIX,
} from './token.js';
export type {
  EndReason,
  EventType,
  Session,
  SessionData,
  SessionEvent,
  SessionStatus,
  SessionTiming,
} from './types.js';
