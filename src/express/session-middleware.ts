import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import type { SessionEngine } from '../core/engine.js';
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

declare global {
  namespace Express {
    interface Request {
      /**
       * The request's session context, set by sessionkeeper's `sessionMiddleware()` (named so, not
       * `session`, so it never collides with express-session). Its data type is the one declared in
       * `SessionkeeperRegister`; `sk.context(req)` types it from the middleware's generic instead.
       */
      sessionkeeper: SessionContext<RegisteredData>;
    }
  }
}

/** `app.use(sk)` validates every request's session; the properties add guards, leases, errors. */
export interface ExpressSessionMiddleware<Data extends SessionData = SessionData>
  extends RequestHandler {
  readonly engine: SessionEngine<Data>;
  readonly core: SessionMiddlewareCore<Data>;
  /**
   * Refuses requests without a valid session: 401 problem+json (WWW-Authenticate included), or a
   * 303 to `loginPath` for browser navigations when one is configured.
   */
  guard(options?: GuardOptions): RequestHandler;
  /**
   * Holds the session alive until the response has been sent (or the client went away), whatever
   * the idle timeout: put it after `guard()` on routes that run long.
   */
  hold(): RequestHandler;
  /**
   * Answers sessionkeeper's errors (thrown by `login()`, `holdWhile()`, the engine) as
   * problem+json; passes anything else on. Mount it after your routes: `app.use(sk.errorHandler)`.
   */
  readonly errorHandler: ErrorRequestHandler;
  /** The request's context with this middleware's data type. Throws if the middleware did not run. */
  context(req: Request): SessionContext<Data>;
  /** Runs `cleanup` for every session that ends (expiry, logout, eviction): delete what it owned. */
  onSessionEnded(cleanup: EventListener<Data>): this;
}

/** The HTTP details the core reads from an Express request and writes to its response. */
class ExpressPort implements RequestLike, ResponseLike {
  readonly #req: Request;
  readonly #res: Response;
  constructor(req: Request, res: Response) {
    this.#req = req;
    this.#res = res;
  }
  get method(): string {
    return this.#req.method;
  }
  get url(): string {
    return this.#req.originalUrl;
  }
  get https(): boolean {
    return this.#req.secure; // honours app.set('trust proxy')
  }
  header(name: string): string | undefined {
    return firstHeader(this.#req.headers, name);
  }
  appendSetCookie(header: string): void {
    this.#res.append('Set-Cookie', header);
  }
  get headersOpen(): boolean {
    return !this.#res.headersSent;
  }
}

function send(res: Response, reply: HttpReply): void {
  res.status(reply.status).set(reply.headers).end(reply.body);
}

/**
 * Express middleware: reads the session cookie or Bearer token, checks CSRF on cookie-authenticated
 * state changes, validates the session (a use, so its idle deadline moves) and sets
 * `req.sessionkeeper`. It answers by itself only a cross-site state change (403) and a store outage
 * (503); refusing requests without a session is `sk.guard()`'s job.
 */
export function sessionMiddleware<Data extends SessionData = SessionData>(
  engine: SessionEngine<Data>,
  options: SessionMiddlewareOptions = {},
): ExpressSessionMiddleware<Data> {
  const core = createSessionMiddlewareCore(engine, options);

  const context = (req: Request): SessionContext<Data> => {
    const found = req.sessionkeeper as unknown as SessionContext<Data> | undefined;
    if (!(found instanceof SessionContext)) {
      throw new Error(
        'req.sessionkeeper is not set: mount app.use(sessionMiddleware(engine)) before this route',
      );
    }
    return found;
  };

  const middleware: RequestHandler = (req, res, next) => {
    const port = new ExpressPort(req, res);
    core.authenticate(port, port).then((outcome) => {
      if (outcome instanceof SessionContext) {
        req.sessionkeeper = outcome as unknown as SessionContext<RegisteredData>;
        next();
      } else {
        send(res, outcome);
      }
    }, next);
  };

  const guard = (guardOptions: GuardOptions = {}): RequestHandler => {
    return (req, res, next) => {
      const reply = core.guard(new ExpressPort(req, res), context(req), guardOptions);
      if (reply) send(res, reply);
      else next();
    };
  };

  const hold = (): RequestHandler => {
    return (req, res, next) => {
      const ctx = context(req);
      if (ctx.sessionId === null) return next();
      const finished = new Promise<void>((resolve) => res.once('close', () => resolve()));
      ctx.holdWhile(finished).catch((err: unknown) => {
        engine.logger.warn({ err, sessionId: ctx.sessionId }, 'could not hold the session');
      });
      next();
    };
  };

  const errorHandler: ErrorRequestHandler = (err, req, res, next) => {
    if (!isMiddlewareError(err) || res.headersSent) return next(err);
    send(res, core.errorReply(err, new ExpressPort(req, res)));
  };

  return Object.assign(middleware, {
    engine,
    core,
    guard,
    hold,
    errorHandler,
    context,
    onSessionEnded(this: ExpressSessionMiddleware<Data>, cleanup: EventListener<Data>) {
      core.onSessionEnded(cleanup);
      return this;
    },
  }) as ExpressSessionMiddleware<Data>;
}
