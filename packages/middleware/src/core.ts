import type { AccessTokenClaims, AccessTokenResult } from 'sessionkeeper/internal/access-token';
import { createAccessTokenVerifier } from 'sessionkeeper/internal/access-token-verifier';
import { type Clock, systemClock } from 'sessionkeeper/internal/clock';
import type {
  CreatedSession,
  CreateSessionInput,
  HeldWork,
  SessionEngine,
} from 'sessionkeeper/internal/engine';
import {
  InvalidTokenError,
  type SessionInvalidError,
  SessionkeeperError,
  StoreUnavailableError,
  ValidationError,
} from 'sessionkeeper/internal/errors';
import type { EventListener } from 'sessionkeeper/internal/event-dispatcher';
import { instancePath } from 'sessionkeeper/internal/problem';
import { codeForSlug, errorCodes } from 'sessionkeeper/internal/problems';
import type { Session, SessionData, SessionTiming } from 'sessionkeeper/internal/types';
import { CookiePolicy } from './cookies.js';
import { readCredential, type Transport } from './credential.js';
import { checkCrossSite, checkCsrf, checkOrigin, csrfTokenFor, type OriginPolicy } from './csrf.js';
import { answerHolderCall, type HolderMatch, matchHolderRoute } from './holder-routes.js';
import { type HttpReply, htmlReply, jsonReply, problemReply, redirectReply } from './http-reply.js';
import {
  type ResolvedMiddlewareOptions,
  resolveMiddlewareOptions,
  type SessionMiddlewareOptions,
} from './options.js';
import { renderProblemIndex, renderProblemPage } from './problem-page.js';
import { CredentialsMissingError, type MiddlewareError } from './problems.js';
import type { RequestLike, ResponseLike } from './request.js';

export interface GuardOptions {
  /** Also let requests authenticated by an access token (JWT) through. Default true. */
  accessTokens?: boolean;
  /** Redirect browser navigations here instead of the middleware's `loginPath`; `false`: never. */
  loginPath?: string | false;
}

export interface LoginOptions {
  /** Set the session cookie on the response. Default: when the cookie transport is on. */
  cookie?: boolean;
}

// Set in SessionContext's static block: the core's hands on a context's private state.
let acceptSession!: <D extends SessionData>(
  context: SessionContext<D>,
  session: Session<D>,
  timing: SessionTiming,
  token: string,
  via: Transport,
) => void;
let sendCookies!: <D extends SessionData>(
  context: SessionContext<D>,
  token: string,
  maxAgeSeconds: number,
  withCsrf: boolean,
) => void;

/** Revoke reason of the session a request carried when it logged in again. */
export const REPLACED_BY_LOGIN = 'replaced-by-login';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The framework-neutral middleware: credential reading, CSRF, cookies, validation, guard answers.
 * The Express, Fastify and Hono adapters are thin layers over it.
 */
export class SessionMiddlewareCore<Data extends SessionData = SessionData> {
  readonly options: ResolvedMiddlewareOptions;
  readonly cookies: CookiePolicy;
  /** The engine's clock, or the access-token verifier's without an engine. */
  readonly clock: Clock;
  readonly #engine: SessionEngine<Data> | null;
  readonly #verify: (accessToken: string) => Promise<AccessTokenResult>;
  readonly #holderPolicy: OriginPolicy;

  /**
   * `engine` null makes a resource server: no store, only access tokens verified with the JWKS of
   * `options.accessTokens` (see `accessTokenMiddleware`).
   */
  constructor(engine: SessionEngine<Data> | null, options: SessionMiddlewareOptions = {}) {
    this.#engine = engine;
    this.options = resolveMiddlewareOptions(options, engine !== null);
    this.cookies = new CookiePolicy(this.options);
    const accessTokens = this.options.accessTokens;
    this.clock = engine?.clock ?? accessTokens?.clock ?? systemClock;
    if (accessTokens) {
      const verifier = createAccessTokenVerifier({ clock: this.clock, ...accessTokens });
      this.#verify = (token) => verifier.verify(token);
    } else if (engine) {
      this.#verify = (token) => engine.verifyAccessToken(token);
    } else {
      throw new ValidationError(
        'accessTokens',
        "is required without an engine: pass { jwks: '<the session service>/.well-known/jwks.json' }",
      );
    }
    // The holder routes refuse cross-site cookie calls even with `csrf: false` (reads included).
    const csrf = this.options.csrf;
    this.#holderPolicy = csrf ? csrf : { trustedOrigins: new Set<string>(), allowSameSite: false };
  }

  /** The engine; throws for a resource server made without one (`accessTokenMiddleware`). */
  get engine(): SessionEngine<Data> {
    if (this.#engine === null)
      throw new Error(
        'This middleware has no engine (a resource server verifying access tokens with a JWKS): sessions, login, logout and leases need one',
      );
    return this.#engine;
  }

  /**
   * Reads the request's credential and validates it (one store read; a valid session's idle
   * deadline moves, as with any use). Resolves to the request's context, or to a reply to send
   * instead: 403 `csrf-rejected` for a cross-site cookie-authenticated state change, 503
   * `store-unavailable` when the store cannot answer (nobody is logged out by an outage). An invalid
   * credential is not refused here: `context.error` says why, and `guard` refuses it.
   */
  async authenticate(
    request: RequestLike,
    response: ResponseLike,
  ): Promise<SessionContext<Data> | HttpReply> {
    const context = new SessionContext<Data>(this, request, response);
    const options = this.options;
    let cookies: Record<string, string | undefined> | undefined;
    const credential = readCredential(
      request.header('authorization'),
      () => {
        cookies = this.cookies.read(request);
        return cookies[this.cookies.sessionCookieName(context.secure)];
      },
      { bearer: options.bearerTransport, cookie: options.cookieTransport },
    );
    if (credential === null) return context;
    if (credential.kind === 'session-token' && credential.via === 'cookie' && options.csrf) {
      const refusal = checkCsrf(request, options.csrf, this.cookies, credential.token);
      if (refusal) return this.errorReply(refusal, request);
    }
    try {
      if (credential.kind === 'access-token') {
        const result = await this.#verify(credential.token);
        if (result.ok) {
          context.claims = result.claims;
          context.via = 'access-token';
        } else context.error = result.error;
        return context;
      }
      if (this.#engine === null) {
        context.error = new InvalidTokenError(
          'This service accepts access tokens only: send Authorization: Bearer <access token>',
        );
        return context;
      }
      const result = await this.#engine.validate(credential.token);
      if (!result.ok) {
        context.error = result.error;
        return context;
      }
      acceptSession(context, result.session, result.timing, credential.token, credential.via);
      if (credential.via === 'cookie') {
        if (result.fresh && options.lifetime === 'idle')
          sendCookies(context, credential.token, result.timing.idleRemainingSeconds, false);
        if (options.csrf && options.csrf.doubleSubmit === true) {
          const csrfToken = csrfTokenFor(credential.token);
          if (cookies?.[this.cookies.csrfCookieName(context.secure)] !== csrfToken)
            sendCookies(
              context,
              credential.token,
              this.cookieMaxAge(result.session, result.timing),
              true,
            );
        }
      }
      return context;
    } catch (error) {
      if (error instanceof StoreUnavailableError) return this.errorReply(error, request);
      throw error;
    }
  }

  /**
   * What a protected route answers when the request has no valid session: null to let it through,
   * otherwise the 401 problem (WWW-Authenticate included), or a 303 to the login page for a
   * browser navigation when a login path is configured.
   */
  guard(
    request: RequestLike,
    context: SessionContext<Data>,
    guardOptions: GuardOptions = {},
  ): HttpReply | null {
    let error: MiddlewareError;
    if (context.session) return null;
    if (context.claims) {
      if (guardOptions.accessTokens !== false) return null;
      error = new InvalidTokenError(
        'This route needs a session token (cookie or Authorization: Bearer sks_…), not an access token',
        context.claims.sid,
      );
    } else {
      error = context.error ?? new CredentialsMissingError(this.#missingDetail());
    }
    const loginPath =
      guardOptions.loginPath === undefined ? this.options.loginPath : guardOptions.loginPath;
    if (loginPath && acceptsHtml(request)) {
      const returnTo =
        request.url.startsWith('/') && !request.url.startsWith('//') ? request.url : '/';
      const separator = loginPath.includes('?') ? '&' : '?';
      const slug = 'slug' in error ? error.slug : 'unauthorized';
      return redirectReply(
        `${loginPath}${separator}returnTo=${encodeURIComponent(returnTo)}&reason=${encodeURIComponent(slug)}`,
      );
    }
    return this.errorReply(error, request);
  }

  /** The problem+json reply for one of sessionkeeper's errors, as the guard sends it. */
  errorReply(error: MiddlewareError, request: RequestLike): HttpReply {
    const requestId = request.header('x-request-id');
    return problemReply(error, {
      instance: instancePath(request.url),
      nowMs: this.clock.now(),
      ...(requestId !== undefined && REQUEST_ID.test(requestId) ? { requestId } : {}),
      ...(this.options.problemTypeBase === undefined
        ? {}
        : { typeBase: this.options.problemTypeBase }),
    });
  }

  /**
   * Runs `cleanup` once for every session that ends (expired, revoked, evicted), durably: delete
   * what the session owned here. The same as `engine.onSessionEnded`.
   */
  onSessionEnded(cleanup: EventListener<Data>): this {
    this.engine.onSessionEnded(cleanup);
    return this;
  }

  /** Seconds the browser keeps the session cookie, per `cookie.lifetime`. */
  cookieMaxAge(session: Session<Data>, timing?: SessionTiming): number {
    const nowMs = this.clock.now();
    if (this.options.lifetime === 'idle')
      return timing?.idleRemainingSeconds ?? (session.expiresAt.getTime() - nowMs) / 1000;
    return (session.absoluteExpiresAt.getTime() - nowMs) / 1000;
  }

  /**
   * What the middleware answers by itself on this request, before any authentication: a holder
   * call (when `holderRoutes` is on) or a problem page (when `problemPages` is on); null for the
   * app's own requests.
   */
  servedRoute(request: RequestLike): HolderMatch | 'problem-page' | null {
    const method = request.method.toUpperCase();
    const path = instancePath(request.url);
    if (
      this.options.problemPages &&
      (method === 'GET' || method === 'HEAD') &&
      (path === '/problems' ||
        (path.startsWith('/problems/') && codeForSlug(path.slice(10)) !== undefined))
    )
      return 'problem-page';
    const prefix = this.options.holderPrefix;
    return prefix === null ? null : matchHolderRoute(method, path, prefix);
  }

  /** The human page behind a problem `type` (`/problems/<slug>`) or their index (`/problems`). */
  problemPage(request: RequestLike): HttpReply {
    const path = instancePath(request.url);
    return this.problemPageOf(path === '/problems' ? undefined : path.slice(10)) as HttpReply;
  }

  /** The page of the problem `slug` (the index without one); null for a slug that is not ours. */
  problemPageOf(slug: string | undefined): HttpReply | null {
    if (slug === undefined) return htmlReply(renderProblemIndex(errorCodes));
    const code = codeForSlug(slug);
    return code === undefined ? null : htmlReply(renderProblemPage(code));
  }

  /**
   * Answers a holder call (`servedRoute` matched it) as `sessionkeeper serve` does, with the shared
   * implementation: the session token from the cookie or Bearer, cross-site cookie calls refused
   * (403 `csrf-rejected`, reads included, before the store is read), problems as problem+json.
   * `readBody` gives the parsed JSON body (undefined without one) or throws the body's problem.
   */
  async answerHolder(
    request: RequestLike,
    match: HolderMatch,
    readBody: () => Promise<unknown>,
  ): Promise<HttpReply> {
    const engine = this.engine;
    let token: string | null = null;
    let viaCookie = false;
    let secure = false;
    try {
      if (match.route.sessionToken) {
        secure = this.cookies.isSecure(request);
        const credential = readCredential(
          request.header('authorization'),
          () => this.cookies.read(request)[this.cookies.sessionCookieName(secure)],
          { bearer: this.options.bearerTransport, cookie: this.options.cookieTransport },
        );
        if (credential === null) throw new CredentialsMissingError(this.#missingDetail());
        token = credential.token;
        viaCookie = credential.kind === 'session-token' && credential.via === 'cookie';
        if (viaCookie) {
          const refusal = checkCrossSite(request, this.#holderPolicy, this.cookies.hostOf(request));
          if (refusal) throw refusal;
        }
      }
      const body = request.method.toUpperCase() === 'POST' ? await readBody() : undefined;
      const answer = await answerHolderCall(engine as unknown as SessionEngine, {
        route: match.route,
        token,
        params: match.params,
        body,
      });
      const setCookies: string[] = [];
      if (viaCookie && answer.clearCookie) setCookies.push(...this.cookies.clearCookies(secure));
      if (viaCookie && answer.session && token !== null && this.options.lifetime === 'idle')
        setCookies.push(
          this.cookies.sessionCookie(token, answer.session.timing.idleRemainingSeconds, secure),
        );
      return jsonReply(answer.status, answer.body, setCookies);
    } catch (error) {
      if (error instanceof SessionkeeperError) return this.errorReply(error, request);
      throw error;
    }
  }

  #missingDetail(): string {
    const name = this.options.cookieName;
    const { cookieTransport, bearerTransport } = this.options;
    if (this.#engine === null)
      return 'This route needs an access token: send Authorization: Bearer <access token>';
    if (cookieTransport && bearerTransport)
      return `This route needs a session: sign in first (the ${name} cookie), or send Authorization: Bearer <session token>`;
    if (cookieTransport) return `This route needs a session: sign in first (the ${name} cookie)`;
    return 'This route needs a session: send Authorization: Bearer <session token>';
  }
}

export function createSessionMiddlewareCore<Data extends SessionData = SessionData>(
  engine: SessionEngine<Data> | null,
  options: SessionMiddlewareOptions = {},
): SessionMiddlewareCore<Data> {
  return new SessionMiddlewareCore<Data>(engine, options);
}

/**
 * What a request knows about its session, and what it can do with it. One per request: Express
 * `req.sessionkeeper`, Fastify `request.sessionkeeper`, Hono `c.get('sessionkeeper')`.
 */
export class SessionContext<Data extends SessionData = SessionData> {
  /** The validated session; null without a valid session token (see `error`, `claims`). */
  session: Session<Data> | null = null;
  /** Deadlines as of this request, when `session` is set. */
  timing: SessionTiming | null = null;
  /** The verified claims when the request authenticated with an access token (JWT). */
  claims: AccessTokenClaims | null = null;
  /** How the request authenticated: the session cookie, a Bearer session token, or an access token. */
  via: Transport | null = null;
  /** Why the presented credential was refused (expired, revoked, …); null if none was presented. */
  error: SessionInvalidError | null = null;

  readonly #core: SessionMiddlewareCore<Data>;
  readonly #request: RequestLike;
  readonly #response: ResponseLike;
  #token: string | null = null;
  #secure: boolean | undefined;

  constructor(core: SessionMiddlewareCore<Data>, request: RequestLike, response: ResponseLike) {
    this.#core = core;
    this.#request = request;
    this.#response = response;
  }

  /** The session id, from the session or the access token's `sid`. */
  get sessionId(): string | null {
    return this.session?.id ?? this.claims?.sid ?? null;
  }

  /** The signed-in user, from the session or the access token's `sub`. */
  get subject(): string | null {
    return this.session?.subject ?? this.claims?.sub ?? null;
  }

  /** Whether this request's cookies are Secure (https, or not a loopback host). */
  get secure(): boolean {
    this.#secure ??= this.#core.cookies.isSecure(this.#request);
    return this.#secure;
  }

  /**
   * The double-submit CSRF token of a cookie session (also in the `sk_csrf` cookie): send it back in
   * the `X-CSRF-Token` header when `csrf.doubleSubmit` is on. Null without a cookie session.
   */
  get csrfToken(): string | null {
    return this.#token !== null && this.via === 'cookie' ? csrfTokenFor(this.#token) : null;
  }

  /**
   * Signs in: creates a new session (a new id: a session id chosen before login is never kept, so
   * no fixation), ends the session this request came with, and sets the cookie. Returns the session
   * and its token (hand the token to Bearer clients). Rejects with `CsrfRejectedError` for a
   * cross-site login attempt, and with the engine's errors (`SessionLimitReachedError`, …).
   */
  async login(
    input: CreateSessionInput<Data>,
    loginOptions: LoginOptions = {},
  ): Promise<CreatedSession<Data>> {
    const core = this.#core;
    const useCookie = loginOptions.cookie ?? core.options.cookieTransport;
    if (useCookie && core.options.csrf) {
      const refusal = checkOrigin(
        this.#request,
        core.options.csrf,
        core.cookies.hostOf(this.#request),
      );
      if (refusal) throw refusal;
    }
    const previous = this.sessionId;
    if (previous !== null) await core.engine.revoke(previous, REPLACED_BY_LOGIN);
    const created = await core.engine.create(input);
    this.claims = null;
    this.error = null;
    const nowMs = core.engine.clock.now();
    const timing: SessionTiming = {
      idleRemainingSeconds: (created.session.expiresAt.getTime() - nowMs) / 1000,
      absoluteRemainingSeconds: (created.session.absoluteExpiresAt.getTime() - nowMs) / 1000,
      ageSeconds: 0,
    };
    acceptSession(this, created.session, timing, created.token, useCookie ? 'cookie' : 'bearer');
    this.#response.sessionChanged?.(created.session);
    if (useCookie)
      this.#sendCookies(created.token, core.cookieMaxAge(created.session, timing), true);
    return created;
  }

  /**
   * Signs out: revokes the session (its cleanup hooks run) and deletes the cookies. True if this
   * call revoked it; false when there was no active session (the cookies are deleted anyway).
   */
  async logout(reason = 'logout'): Promise<boolean> {
    const id = this.sessionId;
    const revoked = id === null ? false : await this.#core.engine.revoke(id, reason);
    if (this.#core.options.cookieTransport && this.#response.headersOpen) {
      for (const header of this.#core.cookies.clearCookies(this.secure))
        this.#response.appendSetCookie(header);
    }
    this.session = null;
    this.timing = null;
    this.claims = null;
    this.via = null;
    this.#token = null;
    this.#response.sessionChanged?.(null);
    return revoked;
  }

  /**
   * Keeps the session alive while `work` runs, whatever the idle timeout (a lease renewed in the
   * background), then lets the idle timeout run from the end of the work. The absolute lifetime
   * still applies; if the session ends meanwhile, the signal given to `work` aborts. Rejects with
   * the session's error when there is no active session.
   */
  async holdWhile<T>(work: HeldWork<T>): Promise<T> {
    const id = this.sessionId;
    if (id === null)
      throw this.error ?? new CredentialsMissingError('There is no session to hold: sign in first');
    const result = await this.#core.engine.holdWhile(id, work);
    this.#afterActivity();
    return result;
  }

  /** Records activity now (a keep-alive) and refreshes `session` and `timing`. */
  async renew(): Promise<Session<Data> | null> {
    if (this.#token === null) return null;
    const result = await this.#core.engine.renew(this.#token);
    if (!result.ok) {
      this.error = result.error;
      this.session = null;
      this.timing = null;
      this.#response.sessionChanged?.(null);
      return null;
    }
    this.session = result.session;
    this.timing = result.timing;
    this.#response.sessionChanged?.(result.session);
    if (this.via === 'cookie' && this.#core.options.lifetime === 'idle')
      this.#sendCookies(this.#token, result.timing.idleRemainingSeconds, false);
    return result.session;
  }

  /** Replaces the session's data; null when the session is no longer active. */
  async update(data: Data): Promise<Session<Data> | null> {
    const id = this.sessionId;
    if (id === null) return null;
    const session = await this.#core.engine.update(id, data);
    if (session && this.session) {
      this.session = session;
      this.#response.sessionChanged?.(session);
    }
    return session;
  }

  static {
    // The core's access to a context's private state, without making it part of the public API.
    acceptSession = (context, session, timing, token, via) => {
      context.session = session;
      context.timing = timing;
      context.#token = token;
      context.via = via;
    };
    sendCookies = (context, token, maxAgeSeconds, withCsrf) =>
      context.#sendCookies(token, maxAgeSeconds, withCsrf);
  }

  /** Sets the session cookie (and the CSRF cookie when `withCsrf` and double-submit is on). */
  #sendCookies(token: string, maxAgeSeconds: number, withCsrf: boolean): void {
    if (!this.#response.headersOpen) return;
    const core = this.#core;
    this.#response.appendSetCookie(core.cookies.sessionCookie(token, maxAgeSeconds, this.secure));
    if (withCsrf && core.options.csrf && core.options.csrf.doubleSubmit === true) {
      this.#response.appendSetCookie(
        core.cookies.csrfCookie(csrfTokenFor(token), maxAgeSeconds, this.secure),
      );
    }
  }

  #afterActivity(): void {
    // Releasing a lease counts as activity: the idle deadline is now + idle timeout.
    if (this.via !== 'cookie' || this.#token === null || this.session === null) return;
    if (this.#core.options.lifetime !== 'idle') return;
    const nowMs = this.#core.engine.clock.now();
    const absoluteLeft = (this.session.absoluteExpiresAt.getTime() - nowMs) / 1000;
    this.#sendCookies(this.#token, Math.min(this.session.idleTimeoutSeconds, absoluteLeft), false);
  }
}

function acceptsHtml(request: RequestLike): boolean {
  return request.header('accept')?.includes('text/html') ?? false;
}

export type { HttpReply } from './http-reply.js';
