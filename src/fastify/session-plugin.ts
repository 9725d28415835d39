import type {
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  preHandlerAsyncHookHandler,
} from 'fastify';
import fp from 'fastify-plugin';
import type { HeldWork, SessionEngine } from '../core/engine.js';
import type { EventListener } from '../core/event-dispatcher.js';
import type { SessionData } from '../core/types.js';
import {
  createSessionMiddlewareCore,
  firstHeader,
  type GuardOptions,
  type HttpReply,
  isMiddlewareError,
  type RegisteredData,
  type RequestLike,
  type ResponseLike,
  SessionContext,
  type SessionMiddlewareCore,
  type SessionMiddlewareOptions,
} from '../middleware/index.js';

declare module 'fastify' {
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

export interface SessionPluginOptions<Data extends SessionData = SessionData>
  extends SessionMiddlewareOptions {
  engine: SessionEngine<Data>;
  /**
   * Answer sessionkeeper's errors thrown in handlers (`login()`'s CSRF refusal, engine errors) as
   * problem+json, handing any other error to the error handler that was set before. Default true.
   */
  errorHandler?: boolean;
}

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
  return reply.code(answer.status).headers(answer.headers).send(answer.body);
}

const plugin: FastifyPluginAsync<SessionPluginOptions> = async (fastify, options) => {
  const { engine, errorHandler = true, ...middlewareOptions } = options;
  const core = createSessionMiddlewareCore(engine, middlewareOptions);

  const context = <D extends SessionData>(request: FastifyRequest): SessionContext<D> => {
    const found: unknown = request.sessionkeeper;
    if (!(found instanceof SessionContext)) {
      throw new Error('request.sessionkeeper is not set: register sessionPlugin before this route');
    }
    return found as SessionContext<D>;
  };

  const sessionkeeper: FastifySessionkeeper = {
    engine,
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
    const outcome = await core.authenticate(port, port);
    if (outcome instanceof SessionContext)
      request.sessionkeeper = outcome as unknown as SessionContext<RegisteredData>;
    else return send(reply, outcome);
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
