import type { FastifyInstance } from 'fastify';
import { createSessionEngine } from 'sessionkeeper/internal/engine';
import type { SessionEngineOptions } from 'sessionkeeper/internal/options';
import type { SessionStore } from 'sessionkeeper/internal/store';
import { type AppOptions, buildApp } from './app.js';
import { createServerLogger } from './logger.js';
import { createServerMetrics, eventGatedStore, timedStore } from './metrics.js';
import { DEFAULT_STORE_URL, openStore, parseStoreUrl } from './store-url.js';
import { checkWebhookTargets } from './webhooks.js';

export interface CreateServerOptions extends Omit<SessionEngineOptions, 'store'>, AppOptions {
  /** A store, or a store URL (`sqlite:<path>`, `redis://…`, `memory:` …). Default `sqlite:./data/sessionkeeper.db`. */
  store?: SessionStore | string;
}

/**
 * Opens the store, starts an engine on it and returns the HTTP app; closing the app closes the
 * engine and the store after in-flight requests finish. Rejects with `StoreUnavailableError`
 * when the store cannot be reached and `ValidationError` naming a wrong option.
 */
export async function createServer(options: CreateServerOptions = {}): Promise<FastifyInstance> {
  const {
    store: storeOption,
    apiKey,
    apiKeyHash,
    bodyLimitBytes,
    trustProxy,
    webhooks,
    metrics: metricsOption,
    metricsRequireApiKey,
    rateLimitFailuresPerMinute,
    corsOrigins,
    ...engineOptions
  } = options;
  if (webhooks) await checkWebhookTargets(webhooks); // before anything is opened
  const metrics = metricsOption ?? createServerMetrics();
  const logger = options.logger ?? createServerLogger();
  const opened =
    typeof storeOption === 'object'
      ? storeOption
      : await openStore(parseStoreUrl(storeOption ?? DEFAULT_STORE_URL));
  // Events wait until the app's listeners are registered (see eventGatedStore).
  const gate = eventGatedStore(timedStore(opened, metrics));
  const store = gate.store;
  let engine: Awaited<ReturnType<typeof createSessionEngine>>;
  try {
    engine = await createSessionEngine({ ...engineOptions, store, logger });
  } catch (error) {
    await store.close().catch(() => undefined);
    throw error;
  }
  try {
    const app = buildApp(engine, {
      apiKey,
      apiKeyHash,
      bodyLimitBytes,
      trustProxy,
      logger,
      metrics,
      metricsRequireApiKey,
      rateLimitFailuresPerMinute,
      corsOrigins,
      webhooks,
    });
    app.addHook('onClose', () => engine.close());
    gate.release();
    return app;
  } catch (error) {
    await engine.close();
    throw error;
  }
}
