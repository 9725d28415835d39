import {
  createSessionMiddlewareCore,
  firstHeader,
  type GuardOptions,
  HOLDER_BODY_LIMIT_BYTES,
  HOLDER_ROUTES,
  type HttpReply,
  holderBodyTooLarge,
  isMiddlewareError,
  parseHolderBody,
  type RegisteredData,
  type RequestLike,
  type ResponseLike,
  SessionContext,
  type SessionMiddlewareCore,
  type SessionMiddlewareOptions,
} from '@sessionkeeper/middleware';
import type {
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  preHandlerAsyncHookHandler,
} from 'fastify';
import fp from 'fastify-plugin';
import type { AccessTokenVerifierOptions } from 'sessionkeeper/internal/access-token-verifier';
import type { HeldWork, SessionEngine } from 'sessionkeeper/internal/engine';
import { type SessionkeeperError, ValidationError } from 'sessionkeeper/internal/errors';
import type { EventListener } from 'sessionkeeper/internal/event-dispatcher';
import type { SessionData } from 'sessionkeeper/internal/types';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Set on the routes sessionPlugin answers itself (holder calls, problem pages). */
    sessionkeeperServed?: boolean;
  }
  interface FastifyInstance {
    /** sessionkeeper's guard, engine and cleanup hook, added by `sessionPlugin`. */
    sessionkeeper: FastifySessionkeeper<RegisteredData>;
  }
  interface FastifyRequest {
    /** The request's session context (data typed by `SessionkeeperRegister`). */
    sessionkeeper: SessionContext<RegisteredData>;
    /** Keeps the session alive while `work` runs; see `SessionContext.holdWhile`. */
    holdSession<T>(work: HeldWork<T>): Promise<T>;
  }
}

/**
 * The middleware's options with the engine, or, for a resource server without a store, no engine
 * and `accessTokens.jwks` (only access tokens are then accepted, verified with the service's keys).
 */
export type SessionPluginOptions<Data extends SessionData = SessionData> =
  SessionMiddlewareOptions & {
    /**
     * Answer sessionkeeper's errors thrown in handlers (`login()`'s CSRF refusal, engine errors) as
     * problem+json, handing any other error to the error handler that was set before. Default true.
     */
    errorHandler?: boolean;
  } & (
      | { engine: SessionEngine<Data> }
      | { engine?: undefined; accessTokens: AccessTokenVerifierOptions }
    );

export interface FastifySessionkeeper<Data extends SessionData = SessionData> {
  readonly engine: SessionEngine<Data>;
  readonly core: SessionMiddlewareCore<Data>;
  /**
   * A preHandler (or onRequest) hook refusing requests without a valid session: 401 problem+json
   * with WWW-Authenticate, or a 303 to `loginPath` for browser navigations when configured.
   */
  guard(options?: GuardOptions): preHandlerAsyncHookHandler;
  /** The request's context with your data type. */
  context<D extends SessionData = Data>(request: FastifyRequest): SessionContext<D>;
  /** Runs `cleanup` for every session that ends (expiry, logout, eviction): delete what it owned. */
  onSessionEnded(cleanup: EventListener<Data>): FastifySessionkeeper<Data>;
}

class FastifyPort implements RequestLike, ResponseLike {
  readonly #request: FastifyRequest;
  readonly #reply: FastifyReply;
  constructor(request: FastifyRequest, reply: FastifyReply) {
    this.#request = request;
    this.#reply = reply;
  }
  get method(): string {
    return this.#request.method;
  }
  get url(): string {
    return this.#request.url;
  }
  get https(): boolean {
    return this.#request.protocol === 'https'; // honours Fastify's trustProxy
  }
  header(name: string): string | undefined {
    return firstHeader(this.#request.headers, name);
  }
  appendSetCookie(header: string): void {
    this.#reply.header('set-cookie', header); // Fastify accumulates set-cookie values
  }
  get headersOpen(): boolean {
    return !this.#reply.sent && !this.#reply.raw.headersSent;
  }
}

function send(reply: FastifyReply, answer: HttpReply): FastifyReply {
  for (const cookie of answer.setCookies ?? []) reply.header('set-cookie', cookie);
  return reply.code(answer.status).headers(answer.headers).send(answer.body);
}

const plugin: FastifyPluginAsync<SessionPluginOptions> = async (fastify, options) => {
  const { engine, errorHandler = true, ...middlewareOptions } = options;
  const core = createSessionMiddlewareCore(engine ?? null, middlewareOptions);

  const context = <D extends SessionData>(request: FastifyRequest): SessionContext<D> => {
    const found: unknown = request.sessionkeeper;
    if (!(found instanceof SessionContext)) {
      throw new Error('request.sessionkeeper is not set: register sessionPlugin before this route');
    }
    return found as SessionContext<D>;
  };

  const sessionkeeper: FastifySessionkeeper = {
    get engine() {
      return core.engine; // throws for a resource server, which has none
    },
    core,
    guard(guardOptions: GuardOptions = {}) {
      return async (request, reply) => {
        const answer = core.guard(new FastifyPort(request, reply), context(request), guardOptions);
        if (answer) return send(reply, answer);
      };
    },
    context,
    onSessionEnded(cleanup) {
      core.onSessionEnded(cleanup);
      return sessionkeeper;
    },
  };

  // The app's data type (SessionkeeperRegister) is a promise about what it stores; the engine is untyped here.
  fastify.decorate(
    'sessionkeeper',
    sessionkeeper as unknown as FastifySessionkeeper<RegisteredData>,
  );
  fastify.decorateRequest('sessionkeeper', null, []);
  fastify.decorateRequest('holdSession', function holdSession<
    T,
  >(this: FastifyRequest, work: HeldWork<T>) {
    return context(this).holdWhile(work);
  });

  fastify.addHook('onRequest', async (request, reply) => {
    const port = new FastifyPort(request, reply);
    if (isServed(request)) return; // answered by the routes below, on their own terms
    const outcome = await core.authenticate(port, port);
    if (outcome instanceof SessionContext)
      request.sessionkeeper = outcome as unknown as SessionContext<RegisteredData>;
    else return send(reply, outcome);
  });

  if (core.options.problemPages || core.options.holderPrefix !== null)
    await fastify.register(async (served) => {
      // Holder calls read their bodies as the service does: JSON only, empty is none.
      served.removeAllContentTypeParsers();
      served.addContentTypeParser(
        '*',
        { parseAs: 'string', bodyLimit: HOLDER_BODY_LIMIT_BYTES },
        (_request, body, done) => done(null, body),
      );
      served.setErrorHandler(function servedErrors(error, request, reply) {
        const known = isMiddlewareError(error) ? error : bodyError(error);
        if (known) return send(reply, core.errorReply(known, new FastifyPort(request, reply)));
        return fastify.errorHandler.call(this, error, request, reply);
      });
      // Paths are relative to the scope the plugin is registered in (its prefix included).
      if (core.options.problemPages) {
        const page = async (request: FastifyRequest, reply: FastifyReply) => {
          const answer = core.problemPageOf((request.params as { slug?: string }).slug);
          return answer === null ? reply.callNotFound() : send(reply, answer);
        };
        served.get('/problems', { config: SERVED }, page);
        served.get('/problems/:slug', { config: SERVED }, page);
      }
      const prefix = core.options.holderPrefix;
      if (prefix !== null)
        for (const route of HOLDER_ROUTES)
          served.route({
            method: route.method,
            url: `${prefix}${route.path}`,
            config: SERVED,
            handler: async (request, reply) => {
              const port = new FastifyPort(request, reply);
              const text = typeof request.body === 'string' ? request.body : '';
              const params = request.params as Record<string, string>;
              return send(
                reply,
                await core.answerHolder(port, { route, params }, async () =>
                  parseHolderBody(request.headers['content-type'], text),
                ),
              );
            },
          });
    });

  if (errorHandler) {
    const previous = fastify.errorHandler;
    fastify.setErrorHandler(function sessionkeeperErrors(error, request, reply) {
      if (isMiddlewareError(error))
        return send(reply, core.errorReply(error, new FastifyPort(request, reply)));
      return previous.call(this, error, request, reply);
    });
  }
};

/**
 * The Fastify plugin: validates every request's session in an onRequest hook and decorates
 * `request.sessionkeeper`, `request.holdSession(work)` and `fastify.sessionkeeper` (guard, engine,
 * onSessionEnded). Registered with fastify-plugin, so the decorations reach the routes of the
 * scope it is registered in.
 */
export const sessionPlugin = fp(plugin, { fastify: '5.x', name: 'sessionkeeper' });

/** Fastify's body-reading failures on a holder call, as the service words them. */
function bodyError(error: unknown): SessionkeeperError | null {
  if (!(error instanceof Error)) return null;
  const code = 'code' in error ? error.code : undefined;
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return holderBodyTooLarge();
  const status = 'statusCode' in error ? error.statusCode : undefined;
  if (typeof status === 'number' && status >= 400 && status < 500)
    return status === 413
      ? holderBodyTooLarge()
      : new ValidationError('request', 'could not be read');
  return null;
}

/** Route config marking the routes the plugin answers itself (the session hook skips them). */
const SERVED = { sessionkeeperServed: true };

function isServed(request: FastifyRequest): boolean {
  return request.routeOptions.config?.sessionkeeperServed === true;
}
