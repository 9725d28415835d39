import { UpstreamSessionExpiredError, ValidationError } from 'sessionkeeper/internal/errors';
import { checkPositiveInteger, checkSeconds } from 'sessionkeeper/internal/input';
import { CookieJar, type SerializedCookieJar } from 'tough-cookie';
import { Agent, type Dispatcher } from 'undici';
import type { ExpiryVerdict, SessionContext, SessionKind } from '../kind.js';
import {
  type ClientConfig,
  type HttpClient,
  type HttpRequestInit,
  type HttpResponse,
  send,
} from './http-client.js';

/** A logged-in HTTP session: every answer its `fetch` gets passes through the pool's detectors. */
export type HttpSession = HttpClient;

/** What the pool persists for an HTTP session: the cookie jar, as `CookieJar.serialize()` gives it. */
export type HttpSessionState = SerializedCookieJar;

export interface HttpSessionKindOptions {
  /** The upstream site; paths given to `fetch` resolve against it. */
  baseUrl: string | URL;
  /**
   * Logs `client.key` in, leaving the session cookies in `client.jar` (the client keeps them
   * across redirects). Throw when the login fails: a failure counts towards the circuit breaker.
   */
  login(client: HttpClient): Promise<void>;
  /** A page only a logged-in session can see; fetched (GET) to check an idle or resumed session. Default `/`. */
  probePath?: string;
  /** Fetched (GET) by the periodic refresh to keep the session alive. Default: `probePath`. */
  refreshPath?: string;
  /** Operations one session runs at once. Default 6. */
  concurrency?: number;
  /** Sent with every request (a User-Agent, Accept-Language). */
  headers?: Record<string, string>;
  /** Longest time one request (each redirect hop, body included) may take; then upstream-unavailable. Default 30. */
  requestTimeoutSeconds?: number;
  /** Redirects followed per request. Default 10. */
  maxRedirects?: number;
  /** An undici dispatcher (Agent, Pool, ProxyAgent). Default: an Agent of the kind's own, closed with the pool. */
  dispatcher?: Dispatcher;
}

const DEFAULT_HEADERS = {
  'user-agent': 'sessionkeeper-pool (+https://github.com/sessionkeeper)',
  accept: 'text/html,application/xhtml+xml,application/json;q=0.9,*/*;q=0.8',
};

/**
 * Upstream sessions over HTTP: undici for the requests, a tough-cookie jar per session, the app's
 * `login` to fill the jar. The state the pool persists is the serialised jar, so a restarted
 * service resumes with the same cookies (probed before first use).
 */
export function httpSessionKind(
  options: HttpSessionKindOptions,
): SessionKind<HttpSession, HttpSessionState> {
  if (typeof options?.login !== 'function')
    throw new ValidationError('login', 'must be a function that logs a client in');
  let baseUrl: URL;
  try {
    baseUrl = new URL(options.baseUrl);
  } catch {
    throw new ValidationError('baseUrl', `must be an absolute URL, got ${String(options.baseUrl)}`);
  }
  const probePath = options.probePath ?? '/';
  const refreshPath = options.refreshPath ?? probePath;
  const ownDispatcher = options.dispatcher === undefined;
  const dispatcher = options.dispatcher ?? new Agent({ keepAliveTimeout: 10_000 });
  const loginUrls: string[] = [];
  const config: ClientConfig = {
    baseUrl,
    dispatcher,
    headers: lowerKeys({ ...DEFAULT_HEADERS, ...options.headers }),
    maxRedirects: options.maxRedirects ?? 10,
    requestTimeoutMs:
      checkSeconds(options.requestTimeoutSeconds ?? 30, 'requestTimeoutSeconds') * 1000,
    loginUrls,
  };
  const concurrency = checkPositiveInteger(options.concurrency ?? 6, 'concurrency', 10_000);

  const client = (jar: CookieJar, ctx: SessionContext, observed: boolean): HttpClient => ({
    key: ctx.key,
    baseUrl,
    jar,
    fetch: (path: string | URL, init: HttpRequestInit = {}): Promise<HttpResponse> => {
      if (!observed) noteLoginUrl(loginUrls, new URL(path, baseUrl), init);
      return send(config, jar, path, init, ctx, observed ? ctx.observe : undefined);
    },
  });

  /** GETs `path`; an expiry the detectors see is the verdict, a 5xx is a failed check. */
  const visit = async (session: HttpSession, path: string): Promise<ExpiryVerdict | undefined> => {
    try {
      const response = await session.fetch(path);
      if (response.status >= 500) {
        throw new Error(`${path} answered ${response.status}; the session's state is unknown`);
      }
      return undefined;
    } catch (error) {
      if (error instanceof UpstreamSessionExpiredError) {
        return error.reasonDetail === undefined
          ? { reason: error.reason }
          : { reason: error.reason, detail: error.reasonDetail };
      }
      throw error;
    }
  };

  return {
    name: 'http',
    concurrency,
    async create(ctx, state) {
      const jar = state
        ? await CookieJar.deserialize(state)
        : new CookieJar(undefined, { rejectPublicSuffixes: true });
      // A new jar per login (no in-place `login`): no cookie of a dead session leaks into the next.
      if (!state) await options.login(client(jar, ctx, false));
      return client(jar, ctx, true);
    },
    probe: (session) => visit(session, probePath),
    refresh: (session) => visit(session, refreshPath),
    exportState: (session) => session.jar.serialize(),
    async destroy(session) {
      await session.jar.removeAllCookies();
    },
    async close() {
      if (ownDispatcher) await dispatcher.close();
    },
  };
}

/** How many places a login may post credentials to before more are ignored (a runaway login). */
const MAX_LOGIN_URLS = 8;

/**
 * Remembers where a login sent a body (its credentials): a logged-out session is typically sent
 * back there, and the default detectors recognise a redirect to it.
 */
function noteLoginUrl(urls: string[], url: URL, init: HttpRequestInit): void {
  const sendsBody = init.form !== undefined || init.json !== undefined || init.body !== undefined;
  if (!sendsBody || (init.method ?? 'GET').toUpperCase() === 'GET') return;
  const where = `${url.origin}${url.pathname}`;
  if (!urls.includes(where) && urls.length < MAX_LOGIN_URLS) urls.push(where);
}

function lowerKeys(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}
