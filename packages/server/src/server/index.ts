export type {
  CreatedSessionJson,
  RefreshedSessionJson,
  SessionInfoJson,
  SessionJson,
  TimingJson,
  TokenPairJson,
} from '@sessionkeeper/middleware/internal/wire';
export {
  sessionInfoJson,
  sessionJson,
  tokenPairJson,
} from '@sessionkeeper/middleware/internal/wire';
export { apiKeyMatches, generateApiKey, hashApiKey } from './api-key.js';
export type { AppOptions } from './app.js';
export { buildApp } from './app.js';
export type { CreateServerOptions } from './create-server.js';
export { createServer } from './create-server.js';
export type { LogLevel } from './logger.js';
export { createServerLogger } from './logger.js';
export type { ServerMetrics, ServerMetricsOptions } from './metrics.js';
export { createServerMetrics, timedStore } from './metrics.js';
export type { StoreSpec } from './store-url.js';
export { DEFAULT_STORE_URL, openStore, parseStoreUrl } from './store-url.js';
export type { TrustProxy } from './trust-proxy.js';
export type { WebhookOptions, WebhookPayload } from './webhooks.js';
export { webhookSignature } from './webhooks.js';
