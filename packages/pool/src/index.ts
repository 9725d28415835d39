// @sessionkeeper/pool: logged-in upstream sessions that stay healthy. The browser kind lives in
// ./browser/ and is exported on its own, so importing this module never loads playwright-core.
export {
  PoolClosedError,
  PoolTimeoutError,
  UpstreamKeptExpiringError,
  UpstreamSessionExpiredError,
  UpstreamUnavailableError,
} from 'sessionkeeper/internal/errors';
export {
  DEFAULT_EXPIRY_MARKERS,
  DEFAULT_EXPIRY_STATUSES,
  defaultDetectors,
  detectors,
} from './detectors.js';
export type {
  BreakerState,
  ExpiryPhase,
  PoolEventName,
  PoolEvents,
  PoolListener,
  RetireReason,
} from './events.js';
export type { HttpClient, HttpRequestInit, HttpResponse } from './http/http-client.js';
export type { HttpSession, HttpSessionKindOptions, HttpSessionState } from './http/http-kind.js';
export { httpSessionKind } from './http/http-kind.js';
export type {
  Detector,
  ExpiryVerdict,
  ObservedResponse,
  SessionContext,
  SessionKind,
} from './kind.js';
export type { SessionPoolOptions } from './options.js';
export type {
  MaintenanceSummary,
  OperationInfo,
  PoolKeyStats,
  PoolOperation,
  PoolSessionState,
  PoolSessionStats,
  PoolStats,
  UseOptions,
} from './pool.js';
export { createSessionPool, SessionPool } from './pool.js';
export type { EngineStateStoreOptions, PersistedSlot, PoolStateStore } from './state-store.js';
export { engineStateStore } from './state-store.js';
