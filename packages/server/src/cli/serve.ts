import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createSessionEngine, type SessionEngine } from 'sessionkeeper/internal/engine';
import { StoreUnavailableError, ValidationError } from 'sessionkeeper/internal/errors';
import type { SessionStore } from 'sessionkeeper/internal/store';
import { hashApiKey } from '../server/api-key.js';
import { buildApp } from '../server/app.js';
import { createLogDestination, type LogDestination } from '../server/log-destination.js';
import { createServerLogger } from '../server/logger.js';
import { createServerMetrics, eventGatedStore, timedStore } from '../server/metrics.js';
import { openStore } from '../server/store-url.js';
import { checkWebhookTargets, shownUrl, type WebhookOptions } from '../server/webhooks.js';
import { dataDirectory, loadOrCreateApiKey } from './api-key-file.js';
import { ConfigError } from './config-error.js';
import { envName, SETTINGS, type ServeConfig } from './serve-config.js';

/** How long a SIGTERM/SIGINT waits for in-flight requests and the store before exiting anyway. */
export const SHUTDOWN_GRACE_MS = 10_000;

/** The service could not start (store unreachable, port taken): the CLI exits with status 1. */
export class StartupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StartupError';
  }
}

export interface RunningService {
  app: FastifyInstance;
  url: string;
  logger: Logger;
  /** Where the logger writes; shutdown flushes it for a bounded time, never waits on it. */
  logDestination: LogDestination;
}

/**
 * Opens the store, starts the engine, settles the API key, and listens; logs one line with the
 * URL once ready. Rejects with `ConfigError` when the engine refuses a setting (e.g. a
 * key-encryption secret that does not open the stored signing keys).
 */
export async function startService(
  config: ServeConfig,
  stderr: NodeJS.WritableStream,
): Promise<RunningService> {
  const logDestination = createLogDestination();
  const logger = createServerLogger(config.logLevel, logDestination);
  const storeName = config.storeSpec.location;
  if (config.webhooks) await checkWebhookHosts(config.webhooks);
  // The store is opened and the engine started (reading the signing keys) before an API key is
  // generated, so a failed start shows no key.
  const metrics = createServerMetrics({ processMetrics: true });
  // No event is claimed before the app's listeners (webhooks, metrics) are registered: one claimed
  // with no listener would count as delivered.
  const gate = eventGatedStore(timedStore(await openReachableStore(config, storeName), metrics));
  const engine = await startEngine(config, gate.store, logger);
  let app: FastifyInstance;
  try {
    const apiKeyHash = await settleApiKey(config, logger, stderr);
    app = buildApp(engine, {
      apiKeyHash,
      logger,
      metrics,
      metricsRequireApiKey: config.metricsRequireApiKey,
      rateLimitFailuresPerMinute: config.rateLimitFailuresPerMinute,
      corsOrigins: config.corsOrigins,
      trustProxy: config.trustProxy,
      ...(config.webhooks ? { webhooks: config.webhooks } : {}),
    });
    // Closing the app (after in-flight requests) closes the engine, which closes the store.
    app.addHook('onClose', () => engine.close());
    gate.release();
    engine.deliverEvents().catch((err: unknown) => {
      logger.warn({ err }, 'event delivery failed; will retry');
    });
  } catch (error) {
    await engine.close().catch(() => undefined);
    throw error;
  }
  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (error) {
    await app.close();
    throw new StartupError(`cannot listen on ${config.host}:${config.port}: ${messageOf(error)}`, {
      cause: error,
    });
  }
  const url = urlOf(app.server.address());
  logger.info(
    {
      url,
      store: storeName,
      idleTimeout: config.idleTimeoutSeconds,
      absoluteTimeout: config.absoluteTimeoutSeconds,
      accessTokenTtl: config.tokens.accessTokenTtlSeconds,
      signingKeysEncrypted: config.tokens.keyEncryptionSecret !== undefined,
      webhooks: config.webhooks?.urls.map(shownUrl) ?? [],
      corsOrigins: config.corsOrigins,
      rateLimitFailuresPerMinute: config.rateLimitFailuresPerMinute,
      trustProxy: config.trustProxy,
      pid: process.pid,
    },
    'sessionkeeper listening',
  );
  return { app, url, logger, logDestination };
}

/** Of the grace period, what the last log lines may take to reach stdout before the exit. */
const LOG_FLUSH_MS = 1_000;

/**
 * On SIGTERM or SIGINT: stop accepting connections, let in-flight requests finish, close the
 * engine and store, exit 0. Past the grace period, or on a second signal, exit 1 at once. Nothing
 * here waits on the log destination for longer than the time left: a closed stdout pipe
 * (`serve | head`) or a stalled reader cannot keep the process alive.
 */
export function exitOnSignals(service: RunningService, graceMs = SHUTDOWN_GRACE_MS): void {
  let closing = false;
  const deadline = { at: 0 };
  const exitNow = (status: number) => {
    service.logDestination.abandon();
    process.exit(status);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (closing) {
      service.logger.warn({ signal }, 'second signal during shutdown: exiting now');
      exitNow(1);
    }
    closing = true;
    deadline.at = Date.now() + graceMs;
    // Armed before anything else can go wrong, and not unref'd: the exit happens even if every
    // other handle is gone or stuck.
    setTimeout(() => {
      service.logger.error({ graceMs }, 'shutdown did not finish in time: exiting');
      exitNow(1);
    }, graceMs);
    service.logger.info({ signal, graceMs }, 'shutting down');
    const finish = async (status: number) => {
      const left = Math.max(0, Math.min(LOG_FLUSH_MS, deadline.at - Date.now()));
      await service.logDestination.drain(left);
      exitNow(status);
    };
    service.app.close().then(
      () => {
        service.logger.info('stopped');
        return finish(0);
      },
      (error: unknown) => {
        service.logger.error({ err: error }, 'shutdown failed');
        return finish(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

async function startEngine(
  config: ServeConfig,
  store: SessionStore,
  logger: Logger,
): Promise<SessionEngine> {
  try {
    return await createSessionEngine({
      store,
      logger,
      idleTimeoutSeconds: config.idleTimeoutSeconds,
      absoluteTimeoutSeconds: config.absoluteTimeoutSeconds,
      eventLeaseSeconds: config.eventLeaseSeconds,
      maxEventAttempts: config.maxEventAttempts,
      limits: {
        perSubject:
          config.maxSessionsPerSubject === undefined
            ? undefined
            : { max: config.maxSessionsPerSubject },
        global: config.maxSessions === undefined ? undefined : { max: config.maxSessions },
      },
      tokens: {
        issuer: config.tokens.issuer,
        audience: config.tokens.audience,
        accessTokenTtlSeconds: config.tokens.accessTokenTtlSeconds,
        refreshGraceSeconds: config.tokens.refreshGraceSeconds,
        denylist: config.tokens.denylist,
        keyEncryptionSecret: config.tokens.keyEncryptionSecret,
      },
    });
  } catch (error) {
    await store.close().catch(() => undefined);
    if (error instanceof ValidationError) throw engineOptionError(error, config);
    if (error instanceof StoreUnavailableError) {
      throw new StartupError(
        `cannot open the store ${config.storeSpec.location}: ${messageOf(error)}`,
        { cause: error },
      );
    }
    throw error;
  }
}

/**
 * The engine refused an option the settings already checked the form of: what is wrong is the
 * value against the store (a key-encryption secret that does not open the stored keys, or none
 * where the keys are encrypted). Named by the setting the operator controls, never by value.
 */
/** A webhook host name that resolves to a link-local address refuses start-up naming --webhook. */
async function checkWebhookHosts(webhooks: WebhookOptions): Promise<void> {
  try {
    await checkWebhookTargets(webhooks);
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    throw new ConfigError(
      `invalid --${SETTINGS.webhook.flag}: ${error.message.slice(error.field.length + 2).replace('allowLinkLocal is set', `--${SETTINGS.webhookAllowLinkLocal.flag} is true`)}`,
    );
  }
}

function engineOptionError(error: ValidationError, config: ServeConfig): ConfigError {
  const detail = error.message.slice(error.field.length + 2);
  if (error.field === 'tokens.keyEncryptionSecret') {
    const name = envName(SETTINGS.keyEncryptionSecret.flag);
    return config.tokens.keyEncryptionSecret === undefined
      ? new ConfigError(`${name} is not set: ${detail}`)
      : new ConfigError(`invalid ${name}: ${detail}`);
  }
  return new ConfigError(`invalid setting ${error.field}: ${detail}`);
}

async function openReachableStore(config: ServeConfig, storeName: string): Promise<SessionStore> {
  let store: SessionStore | undefined;
  try {
    store = await openStore(config.storeSpec);
    await store.ping();
    return store;
  } catch (error) {
    await store?.close().catch(() => undefined);
    throw new StartupError(`cannot open the store ${storeName}: ${messageOf(error)}`, {
      cause: error,
    });
  }
}

async function settleApiKey(
  config: ServeConfig,
  logger: Logger,
  stderr: NodeJS.WritableStream,
): Promise<string> {
  if (config.apiKey !== undefined) {
    if (config.apiKey.length < 16)
      logger.warn('the API key is shorter than 16 characters; use a long random key');
    return hashApiKey(config.apiKey);
  }
  const stored = await loadOrCreateApiKey(dataDirectory(config.storeSpec));
  if (stored.generated) {
    // Straight to stderr, never through the logger: the key must not reach log storage.
    stderr.write(
      `sessionkeeper: generated an API key for backend calls; it is shown only now (only its SHA-256 is kept in ${stored.path}):\n` +
        `SESSIONKEEPER_API_KEY=${stored.key}\n`,
    );
    logger.info(
      { path: stored.path },
      'generated an API key; its hash is stored and the key was printed to stderr once',
    );
  } else {
    logger.info(
      { path: stored.path },
      'using the API key whose hash is stored; set --api-key or delete the file to change it',
    );
  }
  return stored.hash;
}

function urlOf(address: string | AddressInfo | null): string {
  if (address === null || typeof address === 'string') return String(address);
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
