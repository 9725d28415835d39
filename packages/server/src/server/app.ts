import { randomUUID } from 'node:crypto';
import cors from '@fastify/cors';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import type { SessionEngine } from 'sessionkeeper/internal/engine';
import {
  SessionkeeperError,
  StoreUnavailableError,
  ValidationError,
} from 'sessionkeeper/internal/errors';
import { instancePath } from 'sessionkeeper/internal/problem';
import { allowedMethodsOf } from './allowed-methods.js';
import { hashApiKey, isApiKeyHash } from './api-key.js';
import { createClientErrorHandler, createConnectHandler } from './client-error.js';
import { fromFrameworkError } from './framework-errors.js';
import { frameworkLogger } from './logger.js';
import { attachEngineMetrics, createServerMetrics, type ServerMetrics } from './metrics.js';
import type { RegisteredRoute } from './openapi.js';
import { problemCodeOf, sendInternalProblem, sendProblem } from './problem-reply.js';
import { registerFailureLimiter } from './rate-limit.js';
import { registerBackendRoutes } from './routes/backend-routes.js';
import { registerHolderRoutes } from './routes/holder-routes.js';
import { registerMetaRoutes } from './routes/meta-routes.js';
import { registerOpsRoutes } from './routes/ops-routes.js';
import { methodNotAllowedError, notFoundError } from './server-errors.js';
import { checkTrustProxy, fastifyTrustProxy, type TrustProxy } from './trust-proxy.js';
import { registerWebhooks, type WebhookOptions } from './webhooks.js';

export interface AppOptions {
  /** The API key backend calls present as `Authorization: Bearer`. Hashed at once; give this or `apiKeyHash`. */
  apiKey?: string;
  /** SHA-256 of the API key as 64 hex characters (what `serve` keeps on disk). */
  apiKeyHash?: string;
  /** Largest request body accepted, in bytes. Default 65536 (session data itself is capped by the engine). */
  bodyLimitBytes?: number;
  /**
   * Which proxies in front of the service are believed about the client address
   * (`X-Forwarded-For`), which the failure rate limit counts by: `true` (all), a hop count, or a
   * list of proxy addresses / CIDR ranges. Default false: the TCP peer is the client. See TrustProxy.
   */
  trustProxy?: TrustProxy;
  /** Where request and error logs go. Default: the engine's logger. */
  logger?: Logger;
  /** POST every session event, signed, to these URLs (see docs/webhooks.md). Default: none. */
  webhooks?: WebhookOptions;
  /**
   * The metrics `/metrics` serves. Default: a registry of the app's own. Pass one made with
   * `createServerMetrics()` to also record store latency through `timedStore()`.
   */
  metrics?: ServerMetrics;
  /** `/metrics` asks for the API key like the backend calls. Default false (unauthenticated). */
  metricsRequireApiKey?: boolean;
  /**
   * Failed validations and refreshes (401s on `/v1/session…`) allowed per client address per
   * minute; past it, further failures are answered 429 `rate-limited` until the minute ends.
   * Successes never count and are never refused. 0 disables. Default 30.
   */
  rateLimitFailuresPerMinute?: number;
  /** Origins allowed to call the API from a browser (CORS). Default: none, CORS is off. */
  corsOrigins?: readonly string[];
}

const DEFAULT_FAILURES_PER_MINUTE = 30;

const DEFAULT_BODY_LIMIT_BYTES = 64 * 1024;
/** Subjects may be 256 characters, which percent-encoded can be a dozen times longer. */
const MAX_PARAM_LENGTH = 4096;
const PROBE_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz']);
/** Incoming X-Request-Id values we adopt; anything else is replaced by a UUID. */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The HTTP API v1 on top of an engine the caller owns (closing the app does not close the
 * engine). Every failure, Fastify's own included, is answered as an RFC 9457 problem.
 */
export function buildApp(engine: SessionEngine, options: AppOptions): FastifyInstance {
  const apiKeyHash = resolveApiKeyHash(options);
  const logger = options.logger ?? engine.logger;
  const bodyLimitBytes = options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES;
  const now = () => engine.clock.now();

  const fastifyLogger: FastifyBaseLogger = frameworkLogger(logger);
  const metrics = options.metrics ?? createServerMetrics();
  const failuresPerMinute = options.rateLimitFailuresPerMinute ?? DEFAULT_FAILURES_PER_MINUTE;
  if (!Number.isInteger(failuresPerMinute) || failuresPerMinute < 0)
    throw new ValidationError('rateLimitFailuresPerMinute', 'must be a whole number of at least 0');
  const trustProxy = checkTrustProxy(options.trustProxy ?? false);

  const app = Fastify({
    loggerInstance: fastifyLogger,
    // Request-scoped loggers come from the full-level logger; Fastify's own lines stay at warn and up.
    childLoggerFactory: (_parent, bindings, childOptions) => logger.child(bindings, childOptions),
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: (raw) => {
      const incoming = raw.headers['x-request-id'];
      return typeof incoming === 'string' && SANE_REQUEST_ID.test(incoming)
        ? incoming
        : randomUUID();
    },
    requestIdHeader: false,
    bodyLimit: bodyLimitBytes,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    trustProxy: fastifyTrustProxy(trustProxy),
    // Node would answer a request without Host with a bare 400 of its own, outside our problem
    // format; nothing here depends on Host, so such requests are served like any other.
    http: { requireHostHeader: false },
    // In-flight and keep-alive requests finish normally during shutdown; the engine closes after them.
    return503OnClosing: false,
    clientErrorHandler: createClientErrorHandler(logger, now),
    frameworkErrors: (error, request, reply) => {
      sendProblem(
        request,
        reply,
        fromFrameworkError(error, request, bodyLimitBytes) ??
          new ValidationError('path', 'is not valid'),
        now(),
      );
    },
  });
  app.server.on('connect', createConnectHandler(now));
  const routes: RegisteredRoute[] = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method, url: route.url });
  });
  // Only JSON bodies are read; anything else is refused as an unsupported media type.
  app.removeContentTypeParser('text/plain');
  // Many HTTP clients send Content-Type: application/json on bodyless calls (validate, renew):
  // an empty body is no body. Routes that need one still say `body: is required`.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body.length === 0) done(null, undefined);
    else void parseJson(request, body.toString(), done);
  });

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    reply.header('cache-control', 'no-store'); // session data and tokens must never sit in a cache
  });
  const limiter =
    failuresPerMinute > 0 ? registerFailureLimiter(app, failuresPerMinute) : undefined;
  if (limiter) app.addHook('onRequest', limiter.check);
  if (options.corsOrigins && options.corsOrigins.length > 0) {
    app.register(cors, {
      origin: [...options.corsOrigins],
      credentials: true,
      methods: ['GET', 'POST', 'PATCH', 'DELETE'],
      exposedHeaders: ['x-request-id', 'retry-after', 'www-authenticate', 'location'],
      maxAge: 600,
    });
  }
  app.addHook('onResponse', async (request, reply) => {
    metrics.httpDuration.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
    if (limiter)
      await limiter.record(request, reply).catch((err: unknown) => {
        request.log.warn({ err }, 'rate limit counter failed');
      });
    const path = instancePath(request.url);
    // Health probes arrive every few seconds; at info they would drown the lines that matter.
    const level = PROBE_PATHS.has(path) && reply.statusCode < 400 ? 'debug' : 'info';
    request.log[level](
      {
        method: request.method,
        path,
        status: reply.statusCode,
        code: problemCodeOf(request),
        ms: Math.round(reply.elapsedTime * 10) / 10,
      },
      'request completed',
    );
  });

  app.setErrorHandler((error, request, reply) => {
    const known =
      error instanceof SessionkeeperError
        ? error
        : fromFrameworkError(error, request, bodyLimitBytes);
    if (known) {
      const refusal = limiter?.refusalOf(request, known);
      if (refusal) return sendProblem(request, reply, refusal, now());
      if (known instanceof StoreUnavailableError)
        request.log.warn({ detail: known.detail }, 'session store unavailable');
      return sendProblem(request, reply, known, now());
    }
    request.log.error({ err: error }, 'unexpected error: this is a bug');
    return sendInternalProblem(request, reply, now());
  });
  const allowedMethods = allowedMethodsOf(routes);
  app.setNotFoundHandler((request, reply) => {
    const query = request.url.indexOf('?');
    const allow = allowedMethods(query === -1 ? request.url : request.url.slice(0, query));
    if (allow.length > 0) {
      const path = instancePath(request.url);
      const error = methodNotAllowedError(request.method, path, allow);
      return sendProblem(request, reply.header('allow', allow.join(', ')), error, now());
    }
    return sendProblem(
      request,
      reply,
      notFoundError(`There is no endpoint ${request.method} ${instancePath(request.url)}`),
      now(),
    );
  });

  registerBackendRoutes(app, engine, apiKeyHash);
  registerHolderRoutes(app, engine, metrics, options.corsOrigins ?? []);
  registerOpsRoutes(app, engine);
  registerMetaRoutes(app, {
    metrics,
    apiKeyHash: options.metricsRequireApiKey ? apiKeyHash : undefined,
    routes,
  });

  const detachMetrics = attachEngineMetrics(metrics, engine);
  const webhooks = options.webhooks
    ? registerWebhooks(engine, options.webhooks, logger)
    : undefined;
  // preClose: retries in flight stop before the engine waits for its event delivery to finish.
  app.addHook('preClose', async () => {
    webhooks?.close();
    detachMetrics();
  });
  return app;
}

function resolveApiKeyHash(options: AppOptions): string {
  if (options.apiKeyHash !== undefined) {
    if (!isApiKeyHash(options.apiKeyHash))
      throw new ValidationError('apiKeyHash', 'must be a SHA-256 as 64 hex characters');
    return options.apiKeyHash;
  }
  if (typeof options.apiKey === 'string' && options.apiKey.length > 0)
    return hashApiKey(options.apiKey);
  throw new ValidationError('apiKey', 'is required: backend calls are authenticated by an API key');
}
