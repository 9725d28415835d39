// The contract between the pool and a kind of upstream session (HTTP, browser, or the app's own).
// The pool owns scheduling, retries and persistence; a kind only knows how to make, check, keep
// alive and throw away one session with the upstream.

/** What a detector sees of one upstream answer. `text()` is read lazily and at most once. */
export interface ObservedResponse {
  status: number;
  /** The final URL, after redirects. */
  url: string;
  /** The `Location` of a redirect the kind did not follow, if any. */
  location?: string | undefined;
  headers: Headers;
  /** The body (or, in a browser, the page's visible text). */
  text(): Promise<string>;
  /**
   * The page's markup, where it differs from `text()` (a browser: the DOM serialised). Detectors
   * that look for elements (a login form) read it; without it they read `text()`.
   */
  html?(): Promise<string>;
  /**
   * Where this kind's logins sent their credentials (absolute URLs without query), when the kind
   * knows: an expired session is usually sent back there.
   */
  loginUrls?: readonly string[] | undefined;
}

/** Why a session is no longer logged in with the upstream. */
export interface ExpiryVerdict {
  /** Short machine-readable cause, e.g. `status-401`, `login-redirect`, `text-marker`. */
  reason: string;
  /** Human detail for logs, e.g. the marker phrase that matched. Never a cookie or token. */
  detail?: string;
}

/** Looks at one upstream answer and says whether it means "this session expired". */
export type Detector = (
  response: ObservedResponse,
) => ExpiryVerdict | undefined | Promise<ExpiryVerdict | undefined>;

/** Handed to a kind so that every answer seen while a session works passes through detection. */
export interface SessionContext {
  /** The pool key (account) this session belongs to. */
  key: string;
  /**
   * Runs the pool's detectors and rejects with `UpstreamSessionExpiredError` when one fires. It
   * also marks the session expired, so a kind that observes from an event listener (a browser
   * page's navigations) may ignore the rejection: the pool retires the session and runs the
   * operation again whatever the operation returned.
   */
  observe(response: ObservedResponse): Promise<void>;
  /**
   * Marks the session expired without an answer to judge: its browser crashed or went away. An
   * operation running on a one-at-a-time session then reruns on a fresh one whatever it returned;
   * an idle session is replaced at once. Optional so a kind can be driven outside a pool.
   */
  expire?(verdict: ExpiryVerdict): void;
  /** Aborted when the pool closes or retires this session. */
  signal: AbortSignal;
}

export interface SessionKind<S, State = unknown> {
  /** `http`, `browser`, or the app's own name; used in logs and metrics labels. */
  readonly name: string;
  /** How many operations may use one session at once (browser: 1, HTTP: several). */
  readonly concurrency: number;
  /**
   * Makes a session for `ctx.key`. With `state` (persisted from an earlier run) it resumes from
   * it without logging in; the pool probes it before first use. Without, it logs in.
   */
  create(ctx: SessionContext, state?: State): Promise<S>;
  /** Logs an existing session in again in place (optional; otherwise the pool makes a new one). */
  login?(session: S, ctx: SessionContext): Promise<void>;
  /** Health check of an idle session: visits a page and returns a verdict if it is logged out. */
  probe(session: S, ctx: SessionContext): Promise<ExpiryVerdict | undefined>;
  /** Keeps the session alive upstream (the periodic refresh). Defaults to `probe`. */
  refresh?(session: S, ctx: SessionContext): Promise<ExpiryVerdict | undefined>;
  /** Serialisable state (cookies, storage state) to persist so a restart resumes logged in. */
  exportState?(session: S): Promise<State>;
  /** Frees what the session holds. Must not throw for a session that is already dead. */
  destroy(session: S): Promise<void>;
  /** Frees what the kind holds across sessions (e.g. the browser process). */
  close?(): Promise<void>;
}
