import { type CookieSerializeOptions, parse, serialize } from 'cookie';
import type { ResolvedMiddlewareOptions } from './options.js';
import type { RequestLike } from './request.js';

/**
 * The cookie policy: HttpOnly, SameSite=Lax, Path=/, Secure except on plain http to a loopback
 * host, and then the `__Host-` prefix (no Domain), which a subdomain or a plain-http page cannot
 * set or overwrite.
 */
export class CookiePolicy {
  readonly #options: ResolvedMiddlewareOptions;
  readonly #secureName: string;
  readonly #secureCsrfName: string;

  constructor(options: ResolvedMiddlewareOptions) {
    this.#options = options;
    const prefix = options.domain === undefined ? '__Host-' : '__Secure-';
    this.#secureName = `${prefix}${options.cookieName}`;
    this.#secureCsrfName = `${prefix}${options.csrfCookieName}`;
  }

  /** True when the request came over https (the connection, or X-Forwarded-Proto with trustProxy). */
  isHttps(request: RequestLike): boolean {
    if (this.#options.trustProxy) {
      const forwarded = request.header('x-forwarded-proto');
      if (forwarded !== undefined) return firstToken(forwarded).toLowerCase() === 'https';
    }
    return request.https;
  }

  /** The host the request was addressed to (X-Forwarded-Host with trustProxy), lower-case, with port. */
  hostOf(request: RequestLike): string | undefined {
    const forwarded = this.#options.trustProxy ? request.header('x-forwarded-host') : undefined;
    const host = forwarded === undefined ? request.header('host') : firstToken(forwarded);
    return host?.trim().toLowerCase();
  }

  /** Whether the cookies of this request's response are Secure (and prefixed). */
  isSecure(request: RequestLike): boolean {
    const secure = this.#options.secure;
    if (secure !== 'auto') return secure;
    return this.isHttps(request) || !isLoopbackHost(this.hostOf(request));
  }

  sessionCookieName(secure: boolean): string {
    return secure ? this.#secureName : this.#options.cookieName;
  }

  csrfCookieName(secure: boolean): string {
    return secure ? this.#secureCsrfName : this.#options.csrfCookieName;
  }

  /** The cookies of a request (an empty object when there is no Cookie header). */
  read(request: RequestLike): Record<string, string | undefined> {
    const header = request.header('cookie');
    return header === undefined ? {} : parse(header);
  }

  /** `Set-Cookie` for the session token, living `maxAgeSeconds`. */
  sessionCookie(token: string, maxAgeSeconds: number, secure: boolean): string {
    return serialize(
      this.sessionCookieName(secure),
      token,
      this.#attributes(secure, true, maxAgeSeconds),
    );
  }

  /** `Set-Cookie` for the double-submit CSRF token; readable by the page's scripts (not HttpOnly). */
  csrfCookie(csrfToken: string, maxAgeSeconds: number, secure: boolean): string {
    return serialize(
      this.csrfCookieName(secure),
      csrfToken,
      this.#attributes(secure, false, maxAgeSeconds),
    );
  }

  /** `Set-Cookie` headers that delete the session and CSRF cookies. */
  clearCookies(secure: boolean): string[] {
    return [
      serialize(this.sessionCookieName(secure), '', this.#attributes(secure, true, 0)),
      serialize(this.csrfCookieName(secure), '', this.#attributes(secure, false, 0)),
    ];
  }

  #attributes(secure: boolean, httpOnly: boolean, maxAgeSeconds: number): CookieSerializeOptions {
    const attributes: CookieSerializeOptions = {
      path: '/',
      httpOnly,
      secure,
      sameSite: this.#options.sameSite,
      maxAge: Math.max(0, Math.floor(maxAgeSeconds)),
    };
    if (this.#options.domain !== undefined) attributes.domain = this.#options.domain;
    return attributes;
  }
}

/**
 * localhost, *.localhost, 127.0.0.0/8 and [::1], with or without a port: browsers treat these as
 * secure contexts over plain http, which is what makes a non-Secure cookie acceptable there.
 */
export function isLoopbackHost(host: string | undefined): boolean {
  if (host === undefined || host === '') return false;
  const name = host.startsWith('[')
    ? host.slice(0, host.indexOf(']') + 1)
    : host.replace(/:\d+$/, '');
  return (
    name === 'localhost' ||
    name.endsWith('.localhost') ||
    name === '[::1]' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name)
  );
}

function firstToken(value: string): string {
  const comma = value.indexOf(',');
  return (comma === -1 ? value : value.slice(0, comma)).trim();
}
