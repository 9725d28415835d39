export type { RetryOptions } from './backoff.js';
export type { KeepAliveOptions } from './keep-alive.js';
export type { ClientProblem, ProblemAction, SessionClientErrorCode } from './problem.js';
export { SessionClientError } from './problem.js';
export type {
  SessionClientEvents,
  SessionClientOptions,
  SessionState,
  SessionStatus,
} from './session-client.js';
export { createSessionClient, SessionClient } from './session-client.js';
export type { KeyValueStorage, ServerTokenSet, StoredTokens } from './token-store.js';
export { memoryStorage } from './token-store.js';
