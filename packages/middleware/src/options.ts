import type { AccessTokenVerifierOptions } from 'sessionkeeper/internal/access-token-verifier';
import { ValidationError } from 'sessionkeeper/internal/errors';

/** Options shared by the Express, Fastify and Hono adapters. */
export interface SessionMiddlewareOptions {
  /**
   * Where the session token is read from: the session cookie and/or `Authorization: Bearer`
   * (a session token `sks_…` or an access token JWT). Default both; when both are present the
   * header wins.
   */
  transports?: { cookie?: boolean; bearer?: boolean };
  cookie?: CookieOptions;
  /** CSRF protection for cookie-authenticated POST/PUT/PATCH/DELETE. On by default; `false` turns it off. */
  csrf?: CsrfOptions | false;
  /**
   * Trust `X-Forwarded-Proto` / `X-Forwarded-Host` (set by your reverse proxy) when deciding whether
   * the request came over https and which host it was addressed to. Default false: only the
   * connection itself (and the framework's own proxy setting) counts. Turn it on only behind a
   * proxy that overwrites these headers.
   */
  trustProxy?: boolean;
  /**
   * Refused requests that accept `text/html` (browser navigation) are redirected (303) to this path
   * with `?returnTo=<path>&reason=<problem slug>`, instead of receiving a 401 problem. Default:
   * none (always problem+json).
   */
  loginPath?: string;
  /**
   * Where problem `type` URIs point: `<problemTypeBase>/problems/<slug>`, e.g.
   * `https://sessions.example.com` (a `sessionkeeper serve` that publishes the pages). Default none:
   * the type is `/problems/<slug>` on the app itself, which then serves those pages (`problemPages`).
   */
  problemTypeBase?: string;
  /**
   * Serve the human pages behind problem types, `GET /problems` and `GET /problems/<slug>`, on the
   * app. Default: true unless `problemTypeBase` points elsewhere.
   */
  problemPages?: boolean;
  /**
   * Serve the calls the client SDK makes (`POST /v1/session/validate`, `GET` and `DELETE
   * /v1/session`, `POST /v1/session/renew`, `/refresh`, `/leases`, `DELETE /v1/session/leases/:id`)
   * on the app itself, answering as `sessionkeeper serve` does, so the client needs no service.
   * `true` mounts them at the root (client `baseUrl: location.origin`); `{ prefix: '/auth' }` under a
   * path (client `baseUrl: location.origin + '/auth'`). Default false.
   */
  holderRoutes?: boolean | { prefix?: string };
  /**
   * Verify access tokens (JWTs) with these public keys instead of the engine's own: the session
   * service's JWKS URL (`https://sessions.example.com/.well-known/jwks.json`, fetched, cached for
   * `jwksCacheMaxAgeSeconds`, fetched again once when a token names an unknown key), or a JWKS
   * document. What a resource server without a store uses (`accessTokenMiddleware`).
   */
  accessTokens?: AccessTokenVerifierOptions;
}

export interface CookieOptions {
  /**
   * Base cookie name. Default `sk_session`; sent as `__Host-sk_session` when the cookie is Secure
   * (`__Secure-…` when `domain` is set, since `__Host-` forbids a Domain).
   */
  name?: string;
  /**
   * `auto` (default): Secure on every request except plain http to a loopback host (localhost,
   * *.localhost, 127.0.0.0/8, [::1]), so local development works and everything else needs https.
   * `true`/`false` force it.
   */
  secure?: 'auto' | boolean;
  /** Default `lax`: sent on top-level navigation from other sites, not on their POSTs or fetches. */
  sameSite?: 'lax' | 'strict' | 'none';
  /** Share the cookie with subdomains. Default none (host-only, the safer choice). */
  domain?: string;
  /**
   * How long the browser keeps the cookie. `absolute` (default): until the session's absolute
   * deadline, so after an idle expiry the browser still presents it and the app answers the
   * specific `session-expired` instead of a bare "not signed in". `idle`: until the idle deadline,
   * re-sent with a new Max-Age whenever the deadline moves (`fresh` validations, after a hold).
   */
  lifetime?: 'absolute' | 'idle';
}

export interface CsrfOptions {
  /**
   * Origins (`https://app.example.com`) allowed to send cookie-authenticated state-changing requests
   * besides the app's own.
   */
  trustedOrigins?: string[];
  /** Also accept `Sec-Fetch-Site: same-site` (sibling subdomains). Default false. */
  allowSameSite?: boolean;
  /**
   * Double-submit token: state-changing cookie-authenticated requests must also carry the CSRF
   * token (readable from the `sk_csrf` cookie or `context.csrfToken`) in the `X-CSRF-Token` header.
   * Default false; the Origin / Sec-Fetch-Site check stays on either way.
   */
  doubleSubmit?: boolean;
  /** Header that carries the double-submit token. Default `x-csrf-token`. */
  headerName?: string;
}

export interface ResolvedMiddlewareOptions {
  cookieTransport: boolean;
  bearerTransport: boolean;
  cookieName: string;
  csrfCookieName: string;
  secure: 'auto' | boolean;
  sameSite: 'lax' | 'strict' | 'none';
  domain: string | undefined;
  lifetime: 'absolute' | 'idle';
  csrf: false | (Required<Omit<CsrfOptions, 'trustedOrigins'>> & { trustedOrigins: Set<string> });
  trustProxy: boolean;
  loginPath: string | undefined;
  problemTypeBase: string | undefined;
  problemPages: boolean;
  /** Where the holder routes are mounted ('' for the root); null when they are not served. */
  holderPrefix: string | null;
  accessTokens: AccessTokenVerifierOptions | undefined;
}

const COOKIE_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** Checks the options and fills defaults; a wrong option throws `ValidationError` naming it. */
export function resolveMiddlewareOptions(
  options: SessionMiddlewareOptions = {},
  hasEngine = true,
): ResolvedMiddlewareOptions {
  if (!hasEngine) {
    // A resource server: nothing but access tokens can be checked without a store.
    if (options.transports?.cookie === true)
      throw new ValidationError(
        'transports.cookie',
        'needs an engine: a resource server without a store verifies access tokens only',
      );
    if (options.transports?.bearer === false)
      throw new ValidationError('transports.bearer', 'must stay on: access tokens come as Bearer');
    if (options.holderRoutes !== undefined && options.holderRoutes !== false)
      throw new ValidationError(
        'holderRoutes',
        'needs an engine: the holder calls read and change sessions in the store',
      );
    options = { ...options, transports: { cookie: false, bearer: true } };
  }
  const cookie = options.cookie ?? {};
  const name = cookie.name ?? 'sk_session';
  if (!COOKIE_NAME.test(name) || name.startsWith('__')) {
    throw new ValidationError(
      'cookie.name',
      'must be 1 to 64 characters of A-Z, a-z, 0-9, _ and -, not starting with __ (the prefix is added when the cookie is Secure)',
    );
  }
  const secure = cookie.secure ?? 'auto';
  if (secure !== 'auto' && typeof secure !== 'boolean')
    throw new ValidationError('cookie.secure', "must be 'auto', true or false");
  const sameSite = cookie.sameSite ?? 'lax';
  if (!['lax', 'strict', 'none'].includes(sameSite))
    throw new ValidationError('cookie.sameSite', "must be 'lax', 'strict' or 'none'");
  if (sameSite === 'none' && secure === false)
    throw new ValidationError('cookie.sameSite', "'none' needs a Secure cookie (cookie.secure)");
  const lifetime = cookie.lifetime ?? 'absolute';
  if (lifetime !== 'absolute' && lifetime !== 'idle')
    throw new ValidationError('cookie.lifetime', "must be 'absolute' or 'idle'");
  const loginPath = options.loginPath;
  if (loginPath !== undefined && (typeof loginPath !== 'string' || !loginPath.startsWith('/'))) {
    throw new ValidationError('loginPath', 'must be a path starting with /');
  }
  const problemTypeBase = resolveTypeBase(options.problemTypeBase);
  const problemPages = options.problemPages ?? problemTypeBase === undefined;
  if (typeof problemPages !== 'boolean')
    throw new ValidationError('problemPages', 'must be true or false');
  const cookieTransport = options.transports?.cookie ?? true;
  const bearerTransport = options.transports?.bearer ?? true;
  if (!cookieTransport && !bearerTransport)
    throw new ValidationError('transports', 'must enable the cookie, the bearer header, or both');
  return {
    cookieTransport,
    bearerTransport,
    cookieName: name,
    csrfCookieName: name.endsWith('_session') ? `${name.slice(0, -8)}_csrf` : `${name}_csrf`,
    secure,
    sameSite,
    domain: cookie.domain,
    lifetime,
    csrf: options.csrf === false ? false : resolveCsrf(options.csrf ?? {}),
    trustProxy: options.trustProxy ?? false,
    loginPath,
    problemTypeBase,
    problemPages,
    holderPrefix: resolveHolderPrefix(options.holderRoutes),
    accessTokens: options.accessTokens,
  };
}

function resolveTypeBase(base: string | undefined): string | undefined {
  if (base === undefined) return undefined;
  let url: URL | undefined;
  try {
    url = typeof base === 'string' ? new URL(base) : undefined;
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:'))
    throw new ValidationError(
      'problemTypeBase',
      'must be an absolute http(s) URL such as https://sessions.example.com',
    );
  return base.replace(/\/+$/, '');
}

function resolveHolderPrefix(
  holderRoutes: SessionMiddlewareOptions['holderRoutes'],
): string | null {
  if (holderRoutes === undefined || holderRoutes === false) return null;
  if (holderRoutes === true) return '';
  if (typeof holderRoutes !== 'object' || holderRoutes === null)
    throw new ValidationError('holderRoutes', 'must be true, false or { prefix: "/path" }');
  const prefix = holderRoutes.prefix ?? '';
  if (typeof prefix !== 'string' || (prefix !== '' && !/^(\/[A-Za-z0-9._~-]+)+$/.test(prefix)))
    throw new ValidationError(
      'holderRoutes.prefix',
      'must be a path such as /auth (no trailing slash, no query)',
    );
  return prefix;
}

function resolveCsrf(csrf: CsrfOptions): Exclude<ResolvedMiddlewareOptions['csrf'], false> {
  const trusted = new Set<string>();
  for (const [i, origin] of (csrf.trustedOrigins ?? []).entries()) {
    let parsed: URL;
    try {
      parsed = new URL(origin);
    } catch {
      throw new ValidationError(
        `csrf.trustedOrigins[${i}]`,
        'must be an origin like https://app.example.com',
      );
    }
    if (parsed.origin !== origin.replace(/\/$/, ''))
      throw new ValidationError(
        `csrf.trustedOrigins[${i}]`,
        'must be an origin (scheme, host, port) without a path',
      );
    trusted.add(parsed.origin);
  }
  const headerName = (csrf.headerName ?? 'x-csrf-token').toLowerCase();
  if (!/^[a-z0-9-]+$/.test(headerName))
    throw new ValidationError('csrf.headerName', 'must be an HTTP header name');
  return {
    trustedOrigins: trusted,
    allowSameSite: csrf.allowSameSite ?? false,
    doubleSubmit: csrf.doubleSubmit ?? false,
    headerName,
  };
}
