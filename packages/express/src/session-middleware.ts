import {
  createSessionMiddlewareCore,
  firstHeader,
  type GuardOptions,
  HOLDER_BODY_LIMIT_BYTES,
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
import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import type { AccessTokenVerifierOptions } from 'sessionkeeper/internal/access-token-verifier';
import type { SessionEngine } from 'sessionkeeper/internal/engine';
import type { EventListener } from 'sessionkeeper/internal/event-dispatcher';
import type { SessionData } from 'sessionkeeper/internal/types';

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
  for (const cookie of reply.setCookies ?? []) res.append('Set-Cookie', cookie);
  res.status(reply.status).set(reply.headers).end(reply.body);
}

/**
 * A holder call's JSON body: the one a body parser mounted before the middleware already read, or
 * read here (up to the holder-call limit) when none did.
 */
async function holderBody(req: Request): Promise<unknown> {
  if (req.body !== undefined) return req.body;
  if (req.readableEnded) return undefined;
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > HOLDER_BODY_LIMIT_BYTES) throw holderBodyTooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > HOLDER_BODY_LIMIT_BYTES) throw holderBodyTooLarge();
    chunks.push(chunk);
  }
  return parseHolderBody(req.headers['content-type'], Buffer.concat(chunks).toString('utf8'));
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
  return expressMiddleware(createSessionMiddlewareCore(engine, options));
}

/**
 * A resource server's middleware: no engine and no store, only access tokens (JWTs) verified with
 * the session service's JWKS (`accessTokens.jwks`, cached, fetched again for an unknown key).
 * `req.sessionkeeper.claims` holds the verified claims; `guard()` refuses requests without a valid
 * access token (401 `access-token-expired` with `action: refresh`, …). Sessions, login, logout and
 * leases are not available (`engine` throws).
 */
export function accessTokenMiddleware(
  options: SessionMiddlewareOptions & { accessTokens: AccessTokenVerifierOptions },
): ExpressSessionMiddleware {
  return expressMiddleware(createSessionMiddlewareCore<SessionData>(null, options));
}

function expressMiddleware<Data extends SessionData>(
  core: SessionMiddlewareCore<Data>,
): ExpressSessionMiddleware<Data> {
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
    const served = core.servedRoute(port);
    if (served === 'problem-page') return send(res, core.problemPage(port));
    if (served !== null) {
      core
        .answerHolder(port, served, () => holderBody(req))
        .then((reply) => send(res, reply), next);
      return;
    }
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
        core.engine.logger.warn({ err, sessionId: ctx.sessionId }, 'could not hold the session');
      });
      next();
    };
  };

  const errorHandler: ErrorRequestHandler = (err, req, res, next) => {
    if (!isMiddlewareError(err) || res.headersSent) return next(err);
    send(res, core.errorReply(err, new ExpressPort(req, res)));
  };

  const handlers = Object.assign(middleware, {
    core,
    guard,
    hold,
    errorHandler,
    context,
    onSessionEnded(this: ExpressSessionMiddleware<Data>, cleanup: EventListener<Data>) {
      core.onSessionEnded(cleanup);
      return this;
    },
  });
  // A getter: a resource server has no engine, and says so when asked for it.
  Object.defineProperty(handlers, 'engine', { get: () => core.engine, enumerable: true });
  return handlers as unknown as ExpressSessionMiddleware<Data>;
}
