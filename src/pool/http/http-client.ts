import { Buffer } from 'node:buffer';
import type { CookieJar } from 'tough-cookie';
import { type Dispatcher, request } from 'undici';
import { readOnce } from '../detectors.js';
import type { ObservedResponse } from '../kind.js';

export interface HttpRequestInit {
  /** Default GET. */
  method?: string;
  headers?: Record<string, string>;
  /** A raw body; or use `form` / `json`. */
  body?: string | Uint8Array;
  /** Sent as `application/x-www-form-urlencoded`. */
  form?: Record<string, string> | URLSearchParams;
  /** Sent as `application/json`. */
  json?: unknown;
  /** `follow` (default): redirects are followed here, keeping the cookies each hop sets. `manual`: the 3xx is returned. */
  redirect?: 'follow' | 'manual';
  signal?: AbortSignal;
}

/** An upstream answer, its body already read (so detectors and the caller can both read it). */
export interface HttpResponse {
  readonly status: number;
  readonly ok: boolean;
  /** The final URL, after redirects. */
  readonly url: string;
  readonly redirected: boolean;
  readonly headers: Headers;
  text(): Promise<string>;
  json<T = unknown>(): Promise<T>;
  arrayBuffer(): Promise<ArrayBuffer>;
}

/**
 * A cookie-keeping HTTP client bound to one upstream session's jar. Paths resolve against the
 * kind's `baseUrl`. In `login` it is not observed (its answers are the login pages); the session
 * handed to operations is, on every answer.
 */
export interface HttpClient {
  /** The pool key (account) this session logs in as. */
  readonly key: string;
  readonly baseUrl: URL;
  readonly jar: CookieJar;
  fetch(path: string | URL, init?: HttpRequestInit): Promise<HttpResponse>;
}

export interface ClientConfig {
  baseUrl: URL;
  dispatcher: Dispatcher;
  headers: Record<string, string>;
  maxRedirects: number;
  requestTimeoutMs: number;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * Sends one request, following redirects by hand so that cookies set on a 302 are kept and every
 * hop is shown to `observe` (a redirect to the login page is detected before it is followed).
 */
export async function send(
  config: ClientConfig,
  jar: CookieJar,
  path: string | URL,
  init: HttpRequestInit,
  sessionSignal: AbortSignal,
  observe: ((response: ObservedResponse) => Promise<void>) | undefined,
): Promise<HttpResponse> {
  let url = new URL(path, config.baseUrl);
  let method = (init.method ?? 'GET').toUpperCase();
  const headers: Record<string, string> = { ...config.headers };
  let body = encodeBody(init, headers);
  for (const [name, value] of Object.entries(init.headers ?? {}))
    headers[name.toLowerCase()] = value;
  const signal = init.signal ? AbortSignal.any([sessionSignal, init.signal]) : sessionSignal;
  let redirected = false;
  for (let hop = 0; ; hop++) {
    const cookie = await jar.getCookieString(url.href);
    const answer = await request(url, {
      method: method as Dispatcher.HttpMethod,
      headers: cookie ? { ...headers, cookie } : headers,
      body: body ?? null,
      dispatcher: config.dispatcher,
      signal,
      headersTimeout: config.requestTimeoutMs,
      bodyTimeout: config.requestTimeoutMs,
    });
    await keepCookies(jar, answer.headers['set-cookie'], url.href);
    const responseHeaders = toHeaders(answer.headers);
    const location = answer.headers.location;
    const target =
      REDIRECTS.has(answer.statusCode) && typeof location === 'string'
        ? new URL(location, url)
        : undefined;
    if (target && init.redirect !== 'manual' && hop < config.maxRedirects) {
      await answer.body.dump();
      if (observe) {
        await observe({
          status: answer.statusCode,
          url: url.href,
          location: target.href,
          headers: responseHeaders,
          text: async () => '',
        });
      }
      // As browsers do: 303, and 301/302 after a POST, continue as a GET without the body.
      if (
        answer.statusCode === 303 ||
        ((answer.statusCode === 301 || answer.statusCode === 302) && method === 'POST')
      ) {
        method = 'GET';
        body = undefined;
        delete headers['content-type'];
      }
      url = target;
      redirected = true;
      continue;
    }
    const bytes = Buffer.from(await answer.body.arrayBuffer());
    const text = readOnce(async () => bytes.toString('utf8'));
    const response = buffered(
      answer.statusCode,
      url.href,
      redirected,
      responseHeaders,
      bytes,
      text,
    );
    if (observe) {
      await observe({
        status: answer.statusCode,
        url: url.href,
        location: target?.href,
        headers: responseHeaders,
        text,
      });
    }
    return response;
  }
}

function encodeBody(
  init: HttpRequestInit,
  headers: Record<string, string>,
): string | Uint8Array | undefined {
  if (init.form !== undefined) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    return new URLSearchParams(init.form).toString();
  }
  if (init.json !== undefined) {
    headers['content-type'] = 'application/json';
    return JSON.stringify(init.json);
  }
  return init.body;
}

async function keepCookies(
  jar: CookieJar,
  setCookie: string | string[] | undefined,
  url: string,
): Promise<void> {
  if (setCookie === undefined) return;
  for (const cookie of Array.isArray(setCookie) ? setCookie : [setCookie]) {
    // A malformed or foreign-domain cookie is dropped, as a browser would.
    await jar.setCookie(cookie, url, { ignoreError: true });
  }
}

function toHeaders(raw: Record<string, string | string[] | undefined>): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const item of value) headers.append(name, item);
    else headers.set(name, value);
  }
  return headers;
}

function buffered(
  status: number,
  url: string,
  redirected: boolean,
  headers: Headers,
  bytes: Buffer,
  text: () => Promise<string>,
): HttpResponse {
  return {
    status,
    ok: status >= 200 && status < 300,
    url,
    redirected,
    headers,
    text,
    json: async <T>() => JSON.parse(await text()) as T,
    arrayBuffer: async () =>
      bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
  };
}
