import {
  createSessionMiddlewareCore,
  type GuardOptions,
  HOLDER_BODY_LIMIT_BYTES,
  type HttpReply,
  holderBodyTooLarge,
  isMiddlewareError,
  parseHolderBody,
  type RequestLike,
  type ResponseLike,
  SessionContext,
  type SessionMiddlewareCore,
  type SessionMiddlewareOptions,
} from '@sessionkeeper/middleware';
import type { Context, ErrorHandler, MiddlewareHandler } from 'hono';
import type { HTTPException } from 'hono/http-exception';
import type { AccessTokenVerifierOptions } from 'sessionkeeper/internal/access-token-verifier';
import type { SessionEngine } from 'sessionkeeper/internal/engine';
import type { EventListener } from 'sessionkeeper/internal/event-dispatcher';
import type { Session, SessionData } from 'sessionkeeper/internal/types';

/**
 * The context variables the middleware sets: `new Hono<SessionkeeperEnv<MyData>>()`, then
 * `c.get('session')` is `Session<MyData> | null` and `c.get('sessionkeeper')` the request's context.
 */
export interface SessionkeeperEnv<Data extends SessionData = SessionData> {
  Variables: {
    /** The validated session (kept up to date by login and logout); null without one. */
    session: Session<Data> | null;
    sessionkeeper: SessionContext<Data>;
  };
}

/** `app.use(sk)` validates every request's session; the properties add guards, leases, cleanup. */
export interface HonoSessionMiddleware<Data extends SessionData = SessionData>
  extends MiddlewareHandler<SessionkeeperEnv<Data>> {
  readonly engine: SessionEngine<Data>;
  readonly core: SessionMiddlewareCore<Data>;
  /**
   * Refuses requests without a valid session: 401 problem+json (WWW-Authenticate included), or a
   * 303 to `loginPath` for browser navigations when configured.
   */
  guard(options?: GuardOptions): MiddlewareHandler<SessionkeeperEnv<Data>>;
  /** Holds the session alive while the rest of the chain (the handler) runs, however long. */
  hold(): MiddlewareHandler<SessionkeeperEnv<Data>>;
  /**
   * `app.onError(sk.onError)`: answers sessionkeeper's errors thrown by handlers (login's CSRF
   * refusal, engine errors) as problem+json without Hono logging them as 500s; anything else gets
   * Hono's default treatment. (Without it the middleware still rewrites those answers, but Hono's
   * default handler logs them first.)
   */
  readonly onError: ErrorHandler<SessionkeeperEnv<Data>>;
  /** Runs `cleanup` for every session that ends (expiry, logout, eviction): delete what it owned. */
  onSessionEnded(cleanup: EventListener<Data>): this;
}

class HonoPort<Data extends SessionData> implements RequestLike, ResponseLike {
  readonly #c: Context<SessionkeeperEnv<Data>>;
  constructor(c: Context<SessionkeeperEnv<Data>>) {
    this.#c = c;
  }
  get method(): string {
    return this.#c.req.method;
  }
  get url(): string {
    const url = this.#c.req.url;
    const start = url.indexOf('/', url.indexOf('//') + 2);
    return start === -1 ? '/' : url.slice(start);
  }
  get https(): boolean {
    return this.#c.req.url.startsWith('https:');
  }
  header(name: string): string | undefined {
    return this.#c.req.header(name);
  }
  appendSetCookie(header: string): void {
    this.#c.header('set-cookie', header, { append: true });
  }
  get headersOpen(): boolean {
    return true; // Hono builds the response after the handlers: headers can change until then
  }
  sessionChanged(session: Session | null): void {
    this.#c.set('session', session as Session<Data> | null);
  }
}

function toResponse(reply: HttpReply): Response {
  const headers = new Headers(reply.headers);
  for (const cookie of reply.setCookies ?? []) headers.append('set-cookie', cookie);
  return new Response(reply.body === '' ? null : reply.body, { status: reply.status, headers });
}

/** A holder call's JSON body, read up to the holder-call limit. */
async function holderBody<Data extends SessionData>(
  c: Context<SessionkeeperEnv<Data>>,
): Promise<unknown> {
  const declared = Number(c.req.header('content-length') ?? 0);
  if (declared > HOLDER_BODY_LIMIT_BYTES) throw holderBodyTooLarge();
  const text = await c.req.text();
  if (new TextEncoder().encode(text).length > HOLDER_BODY_LIMIT_BYTES) throw holderBodyTooLarge();
  return parseHolderBody(c.req.header('content-type'), text);
}

/**
 * Hono middleware: reads the session cookie or Bearer token, checks CSRF on cookie-authenticated
 * state changes, validates the session (a use, so its idle deadline moves) and sets the `session`
 * and `sessionkeeper` variables. It answers by itself only a cross-site state change (403) and a
 * store outage (503); sessionkeeper errors thrown by handlers become problem+json too.
 */
export function sessionMiddleware<Data extends SessionData = SessionData>(
  engine: SessionEngine<Data>,
  options: SessionMiddlewareOptions = {},
): HonoSessionMiddleware<Data> {
  return honoMiddleware(createSessionMiddlewareCore(engine, options));
}

/**
 * A resource server's middleware: no engine and no store, only access tokens (JWTs) verified with
 * the session service's JWKS (`accessTokens.jwks`, cached, fetched again for an unknown key).
 * `c.get('sessionkeeper').claims` holds the verified claims; `guard()` refuses requests without a
 * valid access token. Sessions, login, logout and leases are not available (`engine` throws).
 */
export function accessTokenMiddleware(
  options: SessionMiddlewareOptions & { accessTokens: AccessTokenVerifierOptions },
): HonoSessionMiddleware {
  return honoMiddleware(createSessionMiddlewareCore<SessionData>(null, options));
}

function honoMiddleware<Data extends SessionData>(
  core: SessionMiddlewareCore<Data>,
): HonoSessionMiddleware<Data> {
  const middleware: MiddlewareHandler<SessionkeeperEnv<Data>> = async (c, next) => {
    const port = new HonoPort(c);
    const served = core.servedRoute(port);
    if (served === 'problem-page') return toResponse(core.problemPage(port));
    if (served !== null)
      return toResponse(await core.answerHolder(port, served, () => holderBody(c)));
    const outcome = await core.authenticate(port, port);
    if (!(outcome instanceof SessionContext)) return toResponse(outcome);
    c.set('sessionkeeper', outcome);
    c.set('session', outcome.session);
    await next();
    // A handler threw one of sessionkeeper's errors (login's CSRF refusal, an engine error).
    if (isMiddlewareError(c.error)) c.res = toResponse(core.errorReply(c.error, port));
  };

  const guard = (guardOptions: GuardOptions = {}): MiddlewareHandler<SessionkeeperEnv<Data>> => {
    return async (c, next) => {
      const reply = core.guard(new HonoPort(c), contextOf(c), guardOptions);
      if (reply) return toResponse(reply);
      await next();
    };
  };

  const hold = (): MiddlewareHandler<SessionkeeperEnv<Data>> => {
    return async (c, next) => {
      const context = contextOf(c);
      if (context.sessionId === null) return next();
      const work = next();
      const held = context.holdWhile(work).catch((err: unknown) => {
        core.engine.logger.warn(
          { err, sessionId: context.sessionId },
          'could not hold the session',
        );
      });
      await work;
      await held;
    };
  };

  const onError: ErrorHandler<SessionkeeperEnv<Data>> = (err, c) => {
    if (isMiddlewareError(err)) return toResponse(core.errorReply(err, new HonoPort(c)));
    if ('getResponse' in err && typeof err.getResponse === 'function') {
      return (err as HTTPException).getResponse(); // what Hono's default handler does
    }
    console.error(err);
    return c.text('Internal Server Error', 500);
  };

  const handlers = Object.assign(middleware, {
    core,
    guard,
    hold,
    onError,
    onSessionEnded(this: HonoSessionMiddleware<Data>, cleanup: EventListener<Data>) {
      core.onSessionEnded(cleanup);
      return this;
    },
  });
  // A getter: a resource server has no engine, and says so when asked for it.
  Object.defineProperty(handlers, 'engine', { get: () => core.engine, enumerable: true });
  return handlers as unknown as HonoSessionMiddleware<Data>;
}

function contextOf<Data extends SessionData>(
  c: Context<SessionkeeperEnv<Data>>,
): SessionContext<Data> {
  const found: unknown = c.get('sessionkeeper');
  if (!(found instanceof SessionContext)) {
    throw new Error("c.get('sessionkeeper') is not set: app.use(sessionMiddleware(engine)) first");
  }
  return found as SessionContext<Data>;
}
