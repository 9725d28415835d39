import { createHmac, timingSafeEqual } from 'node:crypto';
import type { CookiePolicy } from './cookies.js';
import type { ResolvedMiddlewareOptions } from './options.js';
import { CsrfRejectedError } from './problems.js';
import type { RequestLike } from './request.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

export function isSafeMethod(method: string): boolean {
  return SAFE_METHODS.has(method.toUpperCase());
}

/**
 * The double-submit token of a session: HMAC-SHA256 keyed with the session token, so only a holder
 * of the (HttpOnly) session cookie's value can compute it, and a cookie planted by a sibling
 * subdomain cannot be paired with a matching header.
 */
export function csrfTokenFor(sessionToken: string): string {
  return createHmac('sha256', sessionToken).update('sessionkeeper csrf v1').digest('base64url');
}

/**
 * The cross-site check for a state-changing request (safe methods always pass), in the order of
 * the Fetch Metadata recommendation:
 * 1. `Sec-Fetch-Site` (every current browser sends it): `same-origin` and `none` (typed URL,
 *    bookmark) pass; `same-site` passes with `allowSameSite`; anything else only from a trusted origin.
 * 2. Without it, `Origin`: its host must be the request's host (or a trusted origin); `null` fails.
 * 3. Neither header: not a browser (curl, a server), which cannot be tricked into sending the
 *    cookie, so it passes.
 * Then, with `doubleSubmit`, the header must carry the session's CSRF token.
 * Returns the refusal, or null when the request may proceed.
 */
export function checkCsrf(
  request: RequestLike,
  csrf: Exclude<ResolvedMiddlewareOptions['csrf'], false>,
  cookies: CookiePolicy,
  sessionToken: string | null,
): CsrfRejectedError | null {
  if (isSafeMethod(request.method)) return null;
  const refusal = checkOrigin(request, csrf, cookies.hostOf(request));
  if (refusal) return refusal;
  if (!csrf.doubleSubmit || sessionToken === null) return null;
  const presented = request.header(csrf.headerName);
  if (presented === undefined || presented === '') {
    return new CsrfRejectedError(
      `A ${request.method.toUpperCase()} authenticated by the session cookie must carry the CSRF token in the ${csrf.headerName} header (copy it from the ${cookies.csrfCookieName(cookies.isSecure(request))} cookie)`,
    );
  }
  if (!sameString(presented, csrfTokenFor(sessionToken))) {
    return new CsrfRejectedError(
      `The ${csrf.headerName} header does not match this session's CSRF token; reload the page to get the current one`,
    );
  }
  return null;
}

/** What the cross-site check reads: the origins it trusts, and whether same-site is enough. */
export type OriginPolicy = Pick<
  Exclude<ResolvedMiddlewareOptions['csrf'], false>,
  'trustedOrigins' | 'allowSameSite'
>;

/**
 * Only the Origin / Sec-Fetch-Site part: also what protects login from login CSRF, and what the
 * server applies to cookie-authenticated calls. `host` is the host the request was addressed to.
 */
export function checkOrigin(
  request: Pick<RequestLike, 'method' | 'header'>,
  csrf: OriginPolicy,
  host: string | undefined,
): CsrfRejectedError | null {
  if (isSafeMethod(request.method)) return null;
  return checkCrossSite(request, csrf, host);
}

/**
 * The Origin / Sec-Fetch-Site check whatever the method: what the holder calls (`/v1/session…`)
 * apply to every cookie-authenticated request, reads included, so that another site can neither
 * keep a session alive nor read it (see docs/http-api.md, "Cross-site requests").
 */
export function checkCrossSite(
  request: Pick<RequestLike, 'method' | 'header'>,
  csrf: OriginPolicy,
  host: string | undefined,
): CsrfRejectedError | null {
  const site = request.header('sec-fetch-site')?.toLowerCase();
  const origin = request.header('origin');
  const trusted = origin !== undefined && csrf.trustedOrigins.has(origin.toLowerCase());
  if (site !== undefined) {
    if (site === 'same-origin' || site === 'none') return null;
    if (site === 'same-site' && csrf.allowSameSite) return null;
    if (trusted) return null;
    return refuse(request, `Sec-Fetch-Site: ${shown(site)}`, origin);
  }
  if (origin === undefined) return null;
  if (trusted) return null;
  if (origin !== 'null') {
    let originHost: string | undefined;
    try {
      originHost = new URL(origin).host;
    } catch {
      originHost = undefined;
    }
    if (originHost !== undefined && originHost === host) return null;
  }
  return refuse(request, undefined, origin);
}

function refuse(
  request: Pick<RequestLike, 'method'>,
  fetchSite: string | undefined,
  origin: string | undefined,
): CsrfRejectedError {
  const seen = [fetchSite, origin === undefined ? undefined : `Origin: ${shown(origin)}`]
    .filter((part) => part !== undefined)
    .join(', ');
  const why = isSafeMethod(request.method)
    ? "this session's calls must come from this application's own pages"
    : "requests that change state must come from this application's own pages";
  return new CsrfRejectedError(
    `A cross-site ${request.method.toUpperCase()} with the session cookie was refused (${seen}); ${why}`,
  );
}

function shown(value: string): string {
  return value.length > 100 ? `${value.slice(0, 100)}…` : value;
}

function sameString(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}
