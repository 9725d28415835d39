import { backoffDelay, type RetryOptions, sleep } from './backoff.js';
import { type CrossTab, createCrossTab, singleTab, type TabMessage } from './cross-tab.js';
import { Emitter } from './emitter.js';
import { KeepAlive, type KeepAliveOptions, watchBrowser } from './keep-alive.js';
import {
  type ClientProblem,
  isTransient,
  REAUTHENTICATE_CODES,
  readProblem,
  retryAfterOf,
  SessionClientError,
} from './problem.js';
import { singleFlight } from './single-flight.js';
import {
  fromServer,
  type KeyValueStorage,
  memoryStorage,
  type ServerTokenSet,
  type StoredTokens,
  TokenStore,
} from './token-store.js';

export interface SessionClientOptions {
  /** Where the sessionkeeper API is, e.g. `https://sessions.example.com` (or your app's origin). */
  baseUrl: string;
  /** Other origins whose requests get the access token and whose problems count. Default none. */
  apiOrigins?: readonly string[];
  /** The fetch to wrap. Default `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** `bearer` (default) sends the tokens; `cookie` relies on the `sk_session` cookie. */
  transport?: 'bearer' | 'cookie';
  /** Where the tokens live. Default: memory. In browsers pass `localStorage` to share them between tabs. */
  storage?: KeyValueStorage;
  /** The storage key (and the name of the cross-tab lock and channel). Default `sessionkeeper:<baseUrl origin>`. */
  storageKey?: string;
  /** Coordinate refreshes and logout with other tabs. Default: true in browsers. */
  crossTab?: boolean;
  /**
   * Longest wait for, and hold of, the cross-tab lock; a quarter of it is the longest wait for the
   * tokens another tab handed over with it. Default 10 000 ms.
   */
  lockTimeoutMs?: number;
  /** Refresh this long before the access token expires (at most half its lifetime). Default 30 s. */
  refreshLeewaySeconds?: number;
  /** Emit `expiring` this long before the session ends. Default 60 s. */
  warnBeforeSeconds?: number;
  /** Signs in again without the user (e.g. with an SSO cookie); null or a throw means it could not. */
  reauthenticate?: () => Promise<ServerTokenSet | null | undefined>;
  /** Renew the session while the user is active; false turns it off. */
  keepAlive?: KeepAliveOptions | false;
  /** Backoff for network errors, 503 `store-unavailable` and 429. */
  retry?: RetryOptions;
  /** Refreshes allowed per minute, a guard against loops. Default 10. */
  maxRefreshesPerMinute?: number;
  /** The clock deadlines are measured with (ms). Default `Date.now`. */
  now?: () => number;
}

export type SessionStatus = 'none' | 'active' | 'expiring' | 'loggedOut';

export interface SessionState {
  status: SessionStatus;
  /** Seconds until the session ends without activity, when known. */
  secondsLeft?: number;
  sessionExpiresAt?: number;
  accessTokenExpiresAt?: number;
}

export interface SessionClientEvents {
  expiring: { secondsLeft: number };
  refreshed: { accessTokenExpiresAt?: number };
  reauthenticated: Record<string, never>;
  loggedOut: { reason: string; problem?: ClientProblem };
  error: SessionClientError;
  change: SessionState;
}

type FetchInput = Parameters<typeof fetch>[0];

type Outcome = 'ok' | 'reauthenticate' | 'logout' | 'failed';

const TICK_MAX_MS = 30_000;

/** The client SDK: a `fetch` that keeps its session working. See docs/client.md. */
export class SessionClient {
  readonly #options: SessionClientOptions;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;
  readonly #store: TokenStore;
  readonly #crossTab: CrossTab;
  readonly #events = new Emitter<SessionClientEvents>();
  readonly #origins: Set<string>;
  readonly #base: URL;
  readonly #activity: KeepAlive;
  readonly #renewWhileActive: boolean;
  readonly #cookie: boolean;
  readonly #unwatch: () => void;
  #tokens: StoredTokens | null;
  #state: SessionState = { status: 'none' };
  #timer: ReturnType<typeof setTimeout> | undefined;
  #refreshTimes: number[] = [];
  #lastValidation = Number.NEGATIVE_INFINITY;
  /** The newest pair generation this tab has seen (its own, stored, or handed over with the lock). */
  #generation = 0;
  #closed = false;

  constructor(options: SessionClientOptions) {
    this.#options = options;
    this.#base = new URL(options.baseUrl);
    this.#origins = new Set([
      this.#base.origin,
      ...(options.apiOrigins ?? []).map((o) => new URL(o).origin),
    ]);
    const fetchImpl = options.fetch ?? globalThis.fetch;
    this.#fetch = (input, init) => fetchImpl(input, init);
    this.#now = options.now ?? Date.now;
    this.#cookie = options.transport === 'cookie';
    const key = options.storageKey ?? `sessionkeeper:${this.#base.origin}`;
    const storage = options.storage ?? memoryStorage();
    this.#store = new TokenStore(storage, key);
    const browser = 'document' in globalThis;
    this.#crossTab =
      (options.crossTab ?? browser)
        ? createCrossTab(
            key,
            storage,
            (message) => this.#onTabMessage(message),
            options.lockTimeoutMs ?? 10_000,
          )
        : singleTab;
    this.#activity = new KeepAlive(options.keepAlive || undefined);
    this.#renewWhileActive = options.keepAlive !== false;
    this.#unwatch = watchBrowser({
      activity: () => this.#noteActivity(),
      wake: () => void (this.#tokens && this.validate().catch(() => undefined)), // no session, no polling
    });
    this.#tokens = this.#store.read();
    this.#generation = generation(this.#tokens);
    this.#update();
  }

  // ---- public API ------------------------------------------------------------------------------

  on<K extends keyof SessionClientEvents>(
    event: K,
    listener: (payload: SessionClientEvents[K]) => void,
  ): () => void {
    return this.#events.on(event, listener);
  }

  getState(): SessionState {
    return this.#state;
  }

  getTokens(): StoredTokens | null {
    return this.#tokens;
  }

  /** Adopts a token set from the server (your login answer) and hands it to the other tabs. */
  setTokens(body: ServerTokenSet): void {
    this.#activity.renewed(this.#now()); // the server saw the login (or refresh) just now
    this.#adopt(this.#received(body), true);
  }

  /** A fetch of the standard signature that attaches the access token and recovers from expiry. */
  readonly fetch = async (input: FetchInput, init?: RequestInit): Promise<Response> => {
    const url = new URL(
      input instanceof Request ? input.url : String(input),
      (globalThis as { location?: { href: string } }).location?.href ?? this.#base,
    );
    const ownHeader = new Headers(
      init?.headers ?? (input instanceof Request ? input.headers : undefined),
    ).has('authorization');
    if (!this.#origins.has(url.origin) || ownHeader) return this.#fetch(input, init);
    const replayable = !(
      typeof ReadableStream !== 'undefined' && init?.body instanceof ReadableStream
    );
    const retry = this.#options.retry ?? {};
    let transient = 0;
    let refreshed = false;
    let reauthenticated = false;
    for (;;) {
      await this.#refreshIfDue();
      const used = this.#tokens;
      const attempt = this.#request(input, url, init, used);
      let response: Response;
      try {
        response = await this.#fetch(attempt.input, attempt.init);
      } catch (error) {
        if (init?.signal?.aborted || !replayable || transient >= (retry.retries ?? 5)) throw error;
        await sleep(backoffDelay(transient++, retry), init?.signal);
        continue;
      }
      this.#noteActivity();
      if (replayable && isTransient(response) && transient < (retry.retries ?? 5)) {
        await sleep(backoffDelay(transient++, retry, retryAfterOf(response)), init?.signal);
        continue;
      }
      if (response.status !== 401) return response;
      const problem = await readProblem(response);
      if (!problem || !used) return response;
      // A body that cannot be replayed is not sent again, but the session is still mended, so
      // the caller's own resend goes through.
      if (problem.action === 'refresh' && !refreshed) {
        refreshed = true;
        if ((await this.#refresh(credential(used))) && replayable) continue;
      } else if (REAUTHENTICATE_CODES.has(problem.code) && !reauthenticated) {
        reauthenticated = true;
        if ((await this.#reauthenticate(credential(used), problem)) && replayable) continue;
      } else if (problem.action === 'reauthenticate') {
        await this.#loggedOut(problem.code, problem, true);
      }
      return response;
    }
  };

  /** Refreshes the access token now (shared with concurrent callers and other tabs). */
  async refresh(): Promise<boolean> {
    return this.#refresh(credential(this.#tokens));
  }

  /** "Stay signed in": records activity on the server session and clears the expiry warning. */
  async extend(): Promise<boolean> {
    this.#noteActivity();
    return this.#renew();
  }

  /**
   * Checks the session with the server (on focus, online); de-duplicated, at most every 5 s. With
   * the cookie transport and no known session, asks the server whether the cookie carries one.
   */
  async validate(): Promise<boolean> {
    this.check();
    const tokens = this.#tokens;
    if (tokens ? this.#now() - this.#lastValidation < 5000 : !this.#cookie) return Boolean(tokens);
    return this.#validateFlight();
  }

  /** Compares every deadline with the clock now (timers drift across sleep); called by the timer too. */
  check(): void {
    if (this.#closed) return;
    this.#update();
    const tokens = this.#tokens;
    if (!tokens) return;
    const now = this.#now();
    // Timers refresh only for an active user: a refresh is activity, and must not keep an idle
    // session alive for ever. An idle user's next request refreshes first.
    if (this.#due(tokens, now)) {
      if (this.#activity.active(now)) void this.#refreshIfDue();
    } else if (this.#renewWhileActive && this.#activity.due(now)) void this.#renew();
    if (tokens.sessionExpiresAt !== undefined && now >= tokens.sessionExpiresAt)
      void this.#validateFlight(); // the server decides: it may have been kept alive elsewhere
  }

  /** Ends the session on the server and in every tab. */
  async logout(): Promise<void> {
    const tokens = this.#tokens;
    if (tokens?.token || this.#cookie) {
      await this.#call('DELETE', '/v1/session').catch(() => undefined);
    }
    await this.#loggedOut('logout', undefined, true);
  }

  /** Stops timers and listeners (the tokens stay stored). */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#unwatch();
    this.#crossTab.close();
  }

  // ---- requests --------------------------------------------------------------------------------

  #request(
    input: FetchInput,
    url: URL,
    init: RequestInit | undefined,
    tokens: StoredTokens | null,
  ): { input: FetchInput; init: RequestInit } {
    // Headers are rebuilt on every attempt, so a retry never replays a stale Authorization.
    const headers = new Headers(
      init?.headers ?? (input instanceof Request ? input.headers : undefined),
    );
    const next: RequestInit = { ...init, headers };
    if (this.#cookie) next.credentials = init?.credentials ?? 'include';
    else if (tokens?.accessToken) headers.set('authorization', `Bearer ${tokens.accessToken}`);
    return { input: input instanceof Request ? input.clone() : url.href, init: next };
  }

  /** A call to the sessionkeeper API, retried on network errors, 503 and 429. */
  async #call(
    method: string,
    path: string,
    body?: unknown,
    bearer = this.#tokens?.token,
  ): Promise<Response> {
    const retry = this.#options.retry ?? {};
    for (let attempt = 0; ; attempt++) {
      const headers = new Headers();
      if (body !== undefined) headers.set('content-type', 'application/json');
      if (bearer) headers.set('authorization', `Bearer ${bearer}`);
      try {
        const response = await this.#fetch(new URL(path, this.#base).href, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
          credentials: this.#cookie ? 'include' : 'same-origin',
        });
        if (!isTransient(response) || attempt >= (retry.retries ?? 5)) return response;
        await sleep(backoffDelay(attempt, retry, retryAfterOf(response)));
      } catch (error) {
        if (attempt >= (retry.retries ?? 5)) throw error;
        await sleep(backoffDelay(attempt, retry));
      }
    }
  }

  // ---- refresh and re-authentication -----------------------------------------------------------

  #due(tokens: StoredTokens, now: number): boolean {
    if (!tokens.refreshToken || tokens.accessExpiresAt === undefined) return false;
    const lifetime = tokens.accessExpiresAt - tokens.receivedAt;
    const leeway = Math.min((this.#options.refreshLeewaySeconds ?? 30) * 1000, lifetime / 2);
    return now >= tokens.accessExpiresAt - leeway;
  }

  async #refreshIfDue(): Promise<void> {
    const tokens = this.#tokens;
    if (tokens && this.#due(tokens, this.#now())) await this.#refresh(credential(tokens));
  }

  /** Refreshes unless the credential `stale` was already replaced (here or in another tab). */
  async #refresh(stale: string | undefined): Promise<boolean> {
    const outcome = await this.#refreshFlight(stale);
    if (outcome === 'reauthenticate') return this.#reauthenticate(stale, this.#lastProblem);
    if (outcome === 'logout')
      await this.#loggedOut(this.#lastProblem?.code ?? 'refresh-failed', this.#lastProblem, true);
    return outcome === 'ok';
  }

  #lastProblem: ClientProblem | undefined;

  readonly #refreshFlight = singleFlight((stale: string | undefined) =>
    this.#locked(async (): Promise<Outcome> => {
      const tokens = this.#tokens;
      if (!tokens?.refreshToken) return tokens ? 'ok' : 'failed';
      // Another caller or tab refreshed meanwhile: use the winner's tokens, spend nothing.
      if (credential(tokens) !== stale && !this.#due(tokens, this.#now())) return 'ok';
      const now = this.#now();
      this.#refreshTimes = this.#refreshTimes.filter((t) => now - t < 60_000);
      if (this.#refreshTimes.length >= (this.#options.maxRefreshesPerMinute ?? 10)) {
        this.#fail(
          new SessionClientError('REFRESH_LIMIT', 'too many refreshes in a minute; not refreshing'),
        );
        return 'failed';
      }
      this.#refreshTimes.push(now);
      let response: Response;
      try {
        response = await this.#call(
          'POST',
          '/v1/session/refresh',
          { refreshToken: tokens.refreshToken },
          '',
        );
      } catch (error) {
        this.#fail(
          new SessionClientError('NETWORK_ERROR', 'refresh failed: network error', undefined, {
            cause: error,
          }),
        );
        return 'failed';
      }
      return this.#afterTokens(response, tokens, 'refreshed');
    }),
  );

  async #afterTokens(
    response: Response,
    previous: StoredTokens | null,
    event: 'refreshed',
  ): Promise<Outcome> {
    if (response.ok) {
      const body = (await response.json()) as ServerTokenSet;
      const received = this.#received(body, previous);
      this.#activity.renewed(this.#now());
      this.#adopt(received, true);
      this.#events.emit(event, { accessTokenExpiresAt: received.accessExpiresAt });
      return 'ok';
    }
    return this.#problemOutcome(response);
  }

  async #problemOutcome(response: Response): Promise<Outcome> {
    const problem = await readProblem(response);
    this.#lastProblem = problem;
    if (problem && REAUTHENTICATE_CODES.has(problem.code)) return 'reauthenticate';
    if (problem?.action === 'reauthenticate') return 'logout';
    this.#fail(
      new SessionClientError(
        'REQUEST_FAILED',
        `the server answered ${response.status}${problem ? ` ${problem.code}` : ''}`,
        problem,
      ),
    );
    return 'failed';
  }

  async #reauthenticate(
    stale: string | undefined,
    problem: ClientProblem | undefined,
  ): Promise<boolean> {
    this.#lastProblem = problem;
    return this.#reauthFlight(stale);
  }

  readonly #reauthFlight = singleFlight(async (stale: string | undefined): Promise<boolean> => {
    const problem = this.#lastProblem;
    const outcome = await this.#locked(async (): Promise<Outcome> => {
      const tokens = this.#tokens;
      if (tokens && credential(tokens) !== stale && !this.#due(tokens, this.#now())) return 'ok';
      const reauthenticate = this.#options.reauthenticate;
      if (!reauthenticate) return 'logout';
      try {
        const body = await reauthenticate();
        if (!body) return 'logout';
        this.#activity.renewed(this.#now());
        this.#adopt(this.#received(body), true);
      } catch (error) {
        this.#fail(
          new SessionClientError('REAUTHENTICATE_FAILED', 'reauthenticate() failed', problem, {
            cause: error,
          }),
        );
        return 'logout';
      }
      this.#events.emit('reauthenticated', {});
      return 'ok';
    });
    if (outcome === 'logout')
      await this.#loggedOut(problem?.code ?? 'session-ended', problem, true);
    return outcome === 'ok';
  });

  // ---- keep-alive and validation ---------------------------------------------------------------

  async #renew(): Promise<boolean> {
    return this.#renewFlight();
  }

  readonly #renewFlight = singleFlight(async (): Promise<boolean> => {
    const tokens = this.#tokens;
    if (!tokens) return false;
    if (!tokens.token && !this.#cookie) return this.#refresh(credential(tokens));
    return this.#sessionCall('/v1/session/renew');
  });

  readonly #validateFlight = singleFlight(async (): Promise<boolean> => {
    this.#lastValidation = this.#now();
    const tokens = this.#tokens;
    if (!tokens && !this.#cookie) return false;
    if (tokens && !tokens.token && !this.#cookie) {
      await this.#refreshIfDue();
      return Boolean(this.#tokens);
    }
    return this.#sessionCall('/v1/session/validate');
  });

  /** validate or renew with the session token; a session-ending problem re-authenticates or logs out. */
  async #sessionCall(path: string): Promise<boolean> {
    const tokens = this.#tokens;
    let response: Response;
    try {
      response = await this.#call('POST', path);
    } catch (error) {
      this.#fail(
        new SessionClientError('NETWORK_ERROR', `${path} failed: network error`, undefined, {
          cause: error,
        }),
      );
      return false;
    }
    if (response.ok) {
      const info = (await response.json()) as {
        idleRemaining?: number;
        absoluteRemaining?: number;
      };
      const now = this.#now();
      this.#activity.renewed(now);
      // Unless a refresh or logout replaced the tokens meanwhile. With the cookie transport and no
      // known session, this is how the client learns that the cookie carries one.
      if (this.#tokens === tokens) {
        const left = Math.min(
          info.idleRemaining ?? Number.POSITIVE_INFINITY,
          info.absoluteRemaining ?? Number.POSITIVE_INFINITY,
        );
        const known = tokens ?? { receivedAt: now };
        this.#adopt(
          left < Number.POSITIVE_INFINITY
            ? { ...known, sessionExpiresAt: now + left * 1000 }
            : known,
          true,
        );
      }
      return true;
    }
    // No known session and no session cookie either: nothing is wrong, there is no session.
    if (!tokens && (await readProblem(response))?.action !== 'reauthenticate') return false;
    const outcome = await this.#problemOutcome(response);
    if (outcome === 'reauthenticate')
      return this.#reauthenticate(credential(tokens), this.#lastProblem);
    if (outcome === 'logout')
      await this.#loggedOut(this.#lastProblem?.code ?? 'session-ended', this.#lastProblem, true);
    return false;
  }

  // ---- state, storage and tabs -----------------------------------------------------------------

  /** Activity; when nothing was scheduled for it (idle, or just renewed), check the deadlines. */
  #noteActivity(): void {
    const now = this.#now();
    const waiting = this.#activity.pending(now);
    this.#activity.note(now);
    if (!waiting) this.check();
  }

  /** A token set the server just sent: one generation past every pair this tab has seen. */
  #received(body: ServerTokenSet, previous?: StoredTokens | null): StoredTokens {
    this.#generation = Math.max(Date.now(), this.#generation + 1);
    return {
      ...fromServer(body, this.#now(), previous ?? undefined),
      generation: this.#generation,
    };
  }

  /**
   * Runs `run` under the cross-tab lock once this tab holds the pair the previous holder handed
   * over: that pair travels by storage and message, which can reach this tab tens of milliseconds
   * after the lock does, and spending the pair it replaced would be a reuse.
   */
  #locked<T>(run: () => Promise<T>): Promise<T> {
    return this.#crossTab.lock(
      async (handed) => {
        this.#generation = Math.max(this.#generation, handed);
        const giveUpAt = Date.now() + (this.#options.lockTimeoutMs ?? 10_000) / 4;
        for (;;) {
          this.#syncFromStorage();
          if (generation(this.#tokens) >= handed || !this.#tokens) break;
          if (Date.now() > giveUpAt) {
            this.#fail(new SessionClientError('HANDOFF_TIMEOUT', "another tab's tokens are late"));
            break;
          }
          await sleep(10);
        }
        return run();
      },
      () => generation(this.#tokens),
    );
  }

  #adopt(tokens: StoredTokens, share: boolean): void {
    this.#generation = Math.max(this.#generation, generation(tokens));
    this.#tokens = tokens;
    if (share) {
      this.#store.write(tokens);
      this.#crossTab.post({ type: 'tokens', tokens });
    }
    this.#update();
  }

  /** Another tab may have written newer tokens (or logged out) while we waited for the lock. */
  #syncFromStorage(): void {
    const stored = this.#store.read();
    if (stored && (!this.#tokens || order(stored, this.#tokens) > 0)) this.#adopt(stored, false);
  }

  #onTabMessage(message: TabMessage): void {
    if (message.type === 'logout') void this.#loggedOut(message.reason, undefined, false);
    else if (!this.#tokens || order(message.tokens, this.#tokens) >= 0)
      this.#adopt(message.tokens, false);
  }

  async #loggedOut(
    reason: string,
    problem: ClientProblem | undefined,
    share: boolean,
  ): Promise<void> {
    if (!this.#tokens && this.#state.status === 'loggedOut') return;
    this.#tokens = null;
    if (share) {
      this.#store.write(null);
      this.#crossTab.post({ type: 'logout', reason });
    }
    this.#update('loggedOut');
    this.#events.emit('loggedOut', problem ? { reason, problem } : { reason });
  }

  #fail(error: SessionClientError): void {
    this.#events.emit('error', error);
  }

  /** Recomputes the state, emits `change`/`expiring`, and sets the timer for the next deadline. */
  #update(forced?: SessionStatus): void {
    clearTimeout(this.#timer);
    const tokens = this.#tokens;
    const now = this.#now();
    let next: SessionState;
    if (!tokens)
      next = { status: forced ?? (this.#state.status === 'loggedOut' ? 'loggedOut' : 'none') };
    else {
      const warnMs = (this.#options.warnBeforeSeconds ?? 60) * 1000;
      const end = tokens.sessionExpiresAt;
      const secondsLeft =
        end === undefined ? undefined : Math.max(0, Math.ceil((end - now) / 1000));
      const expiring = end !== undefined && end - now <= warnMs;
      next = {
        status: expiring ? 'expiring' : 'active',
        secondsLeft,
        sessionExpiresAt: end,
        accessTokenExpiresAt: tokens.accessExpiresAt,
      };
      if (!this.#closed) {
        // Wake at the next deadline, every second while the warning counts down, and at least
        // every 30 s (a timer can drift across sleep; every wake compares against the clock).
        const deadlines = [now + TICK_MAX_MS];
        if (expiring)
          deadlines.push(now + ((end - now) % 1000 || 1000)); // the next whole second
        else if (end !== undefined) deadlines.push(end - warnMs);
        if (tokens.accessExpiresAt !== undefined && tokens.refreshToken) {
          const lifetime = tokens.accessExpiresAt - tokens.receivedAt;
          deadlines.push(
            tokens.accessExpiresAt -
              Math.min((this.#options.refreshLeewaySeconds ?? 30) * 1000, lifetime / 2),
          );
        }
        if (this.#renewWhileActive) deadlines.push(this.#activity.nextCheck(now));
        // Deadlines already passed wait for activity (which checks at once) or the next tick:
        // an idle client must not wake every few milliseconds to find nothing to do.
        const delay = Math.max(50, Math.min(...deadlines.filter((d) => d > now)) - now);
        this.#timer = setTimeout(() => this.check(), delay);
        (this.#timer as { unref?: () => void }).unref?.();
      }
    }
    const previous = this.#state;
    if (
      previous.status !== next.status ||
      previous.secondsLeft !== next.secondsLeft ||
      previous.sessionExpiresAt !== next.sessionExpiresAt ||
      previous.accessTokenExpiresAt !== next.accessTokenExpiresAt
    ) {
      this.#state = next;
      this.#events.emit('change', next);
      if (
        next.status === 'expiring' &&
        next.secondsLeft !== undefined &&
        next.secondsLeft !== previous.secondsLeft
      )
        this.#events.emit('expiring', { secondsLeft: next.secondsLeft });
    }
  }
}

function generation(tokens: StoredTokens | null): number {
  return tokens?.generation ?? 0;
}

/** Which pair is newer: the later generation; between pairs without one, the later arrival. */
function order(a: StoredTokens, b: StoredTokens): number {
  return generation(a) - generation(b) || a.receivedAt - b.receivedAt;
}

function credential(tokens: StoredTokens | null | undefined): string | undefined {
  return tokens?.accessToken ?? tokens?.token;
}

export function createSessionClient(options: SessionClientOptions): SessionClient {
  return new SessionClient(options);
}
