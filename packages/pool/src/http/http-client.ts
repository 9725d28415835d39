import { Buffer } from 'node:buffer';
import type { CookieJar } from 'tough-cookie';
import { type Dispatcher, request } from 'undici';
import { readOnce } from '../detectors.js';
import type { ObservedResponse } from '../kind.js';
import {
  isConnectionFailure,
  UNREACHABLE_RETRY_AFTER_SECONDS,
  UpstreamUnreachableError,
} from '../unreachable.js';
import { startDeadline } from './deadline.js';

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
  /** The bound of each request (each redirect hop), body included. */
  requestTimeoutMs: number;
  /** Where this kind's logins sent their credentials, for the default login-page detector. */
  loginUrls: readonly string[];
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** The session a request is sent for. */
export interface SendingSession {
  /** The pool key, named by the typed error of an unreachable upstream. */
  key: string;
  /** Aborted when the session is retired or the pool closes. */
  signal: AbortSignal;
}

/**
 * Sends one request, following redirects by hand so that cookies set on a 302 are kept and every
 * hop is shown to `observe` (a redirect to the login page is detected before it is followed).
 * Each hop, body included, must be over within `requestTimeoutMs`. An upstream that cannot be
 * reached or does not answer in time rejects with `UpstreamUnreachableError`
 * (`upstream-unavailable`), the low-level error as its cause.
 */
export async function send(
  config: ClientConfig,
  jar: CookieJar,
  path: string | URL,
  init: HttpRequestInit,
  session: SendingSession,
  observe: ((response: ObservedResponse) => Promise<void>) | undefined,
): Promise<HttpResponse> {
  let url = new URL(path, config.baseUrl);
  let method = (init.method ?? 'GET').toUpperCase();
  const headers: Record<string, string> = { ...config.headers };
  let body = encodeBody(init, headers);
  for (const [name, value] of Object.entries(init.headers ?? {}))
    headers[name.toLowerCase()] = value;
  let redirected = false;
  for (let hop = 0; ; hop++) {
    const hopUrl = url;
    const hopMethod = method;
    const deadline = startDeadline(
      config.requestTimeoutMs,
      [session.signal, init.signal],
      () => `${hopMethod} ${hopUrl.origin}${hopUrl.pathname}`,
    );
    let answer: Dispatcher.ResponseData;
    let bytes: Buffer | undefined;
    try {
      const cookie = await jar.getCookieString(url.href);
      answer = await request(url, {
        method: method as Dispatcher.HttpMethod,
        headers: cookie ? { ...headers, cookie } : headers,
        body: body ?? null,
        dispatcher: config.dispatcher,
        signal: deadline.signal,
        headersTimeout: config.requestTimeoutMs,
        bodyTimeout: config.requestTimeoutMs,
      });
      await keepCookies(jar, answer.headers['set-cookie'], url.href);
      if (followable(answer, init, hop, config)) await answer.body.dump();
      else bytes = Buffer.from(await answer.body.arrayBuffer());
    } catch (error) {
      if (deadline.timedOut)
        throw new UpstreamUnreachableError(
          session.key,
          UNREACHABLE_RETRY_AFTER_SECONDS,
          deadline.timeoutError,
        );
      // Stopped by the session or the caller: their reason, as it is.
      if (!session.signal.aborted && !init.signal?.aborted && isConnectionFailure(error))
        throw new UpstreamUnreachableError(session.key, UNREACHABLE_RETRY_AFTER_SECONDS, error);
      throw error;
    } finally {
      deadline.done();
    }
    const responseHeaders = toHeaders(answer.headers);
    const location = answer.headers.location;
    const target =
      REDIRECTS.has(answer.statusCode) && typeof location === 'string'
        ? new URL(location, url)
        : undefined;
    if (bytes === undefined && target) {
      if (observe) {
        await observe({
          status: answer.statusCode,
          url: url.href,
          location: target.href,
          headers: responseHeaders,
          text: async () => '',
          loginUrls: config.loginUrls,
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
    const kept = bytes ?? Buffer.alloc(0);
    const text = readOnce(async () => kept.toString('utf8'));
    const response = buffered(answer.statusCode, url.href, redirected, responseHeaders, kept, text);
    if (observe) {
      await observe({
        status: answer.statusCode,
        url: url.href,
        location: target?.href,
        headers: responseHeaders,
        text,
        loginUrls: config.loginUrls,
      });
    }
    return response;
  }
}

/** Whether `answer` is a redirect this request follows (its body is then thrown away). */
function followable(
  answer: Dispatcher.ResponseData,
  init: HttpRequestInit,
  hop: number,
  config: ClientConfig,
): boolean {
  return (
    REDIRECTS.has(answer.statusCode) &&
    typeof answer.headers.location === 'string' &&
    init.redirect !== 'manual' &&
    hop < config.maxRedirects
  );
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
