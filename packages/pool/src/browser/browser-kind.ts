// The browser session kind: real Chromium through playwright-core, one browser process shared by
// the kind and one BrowserContext + Page per pooled session. playwright-core is an optional peer,
// loaded only when the first browser starts, so importing `@sessionkeeper/pool` never needs it.
import type {
  Browser,
  BrowserContext,
  BrowserContextOptions,
  LaunchOptions,
  Page,
} from 'playwright-core';
import { type Clock, systemClock } from 'sessionkeeper/internal/clock';
import { PoolClosedError, ValidationError } from 'sessionkeeper/internal/errors';
import { checkPositiveInteger, checkSeconds } from 'sessionkeeper/internal/input';
import { requirePeer } from 'sessionkeeper/internal/optional-peer';
import type { ExpiryVerdict, SessionContext, SessionKind } from '../kind.js';
import { BrowserFleet, type FleetStats } from './browser-fleet.js';
import { type BrowserSession, PooledBrowserSession } from './browser-session.js';

/** Where Debian (and this project's CI) installs Chromium. */
export const DEFAULT_CHROMIUM_PATH = '/usr/bin/chromium';

/** Flags for a headless Chromium that runs in containers and phones home to no one. */
export const DEFAULT_CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** What the kind persists for a session: Playwright's storage state (cookies + localStorage). */
export type BrowserSessionState = Awaited<ReturnType<BrowserContext['storageState']>>;

export interface BrowserSessionKindOptions {
  /**
   * Logs a fresh page in as `key` (open the login page, fill the form, submit, wait for the
   * logged-in page). Throw when the login fails: a silently failed login only surfaces as an
   * expiry on the first operation. Pages seen during login are not checked for expiry.
   */
  login(page: Page, info: { key: string }): Promise<void>;
  /** A page that only a logged-in user sees; visited by `probe` to tell whether a session lives. */
  probeUrl: string;
  /** The page the periodic refresh visits to keep the session alive upstream. Default `probeUrl`. */
  refreshUrl?: string;
  /** Chromium to launch. Default `/usr/bin/chromium`. Ignored when `browser` is given. */
  executablePath?: string;
  /**
   * Merged over the defaults (headless, `executablePath`, `DEFAULT_CHROMIUM_ARGS`); `args` given
   * here replace the default flags, so spread `DEFAULT_CHROMIUM_ARGS` to add to them.
   */
  launchOptions?: LaunchOptions;
  /**
   * Use the app's browser instead of launching one. A `Browser` is shared as it is: never
   * closed by the kind (only the contexts it opened are) and never replaced, so the max age and
   * max contexts do not apply. A function (e.g. `() => chromium.connectOverCDP(url)`) is called
   * for each browser the kind starts, and the kind closes what it returns.
   */
  browser?: Browser | (() => Promise<Browser>);
  /** Options of every session's context (user agent, viewport, locale, ...). */
  contextOptions?: BrowserContextOptions;
  /** New sessions go to a fresh browser once the current one is this old. Default 21 600 (6 h). */
  browserMaxAgeSeconds?: number;
  /** New sessions go to a fresh browser once the current one opened this many. Default 200. */
  browserMaxContexts?: number;
  /** Default timeout of every page action and navigation (`page.setDefaultTimeout`). Default 30. */
  timeoutSeconds?: number;
  /** Time source for `browserMaxAgeSeconds`. */
  clock?: Clock;
}

export interface BrowserSessionKind extends SessionKind<BrowserSession, BrowserSessionState> {
  refresh(session: BrowserSession, ctx: SessionContext): Promise<ExpiryVerdict | undefined>;
  /** The context's cookies and localStorage (`context.storageState()`). */
  exportState(session: BrowserSession): Promise<BrowserSessionState>;
  /** Closes every browser the kind started (and every context it opened in the app's browser). */
  close(): Promise<void>;
  /** Browsers and contexts the kind holds now, for metrics and tests. */
  stats(): FleetStats;
}

const DEFAULT_MAX_AGE_SECONDS = 6 * 60 * 60;
const DEFAULT_MAX_CONTEXTS = 200;
const DEFAULT_TIMEOUT_SECONDS = 30;
/** How long a detector's `text()` may wait for a page to become readable. */
const TEXT_TIMEOUT_MS = 5_000;

// An optional peer: only this module needs it, and importing it without playwright-core
// installed fails at once, naming the package.
const playwright = requirePeer<typeof import('playwright-core')>(
  'playwright-core',
  '@sessionkeeper/pool/browser',
  import.meta.url,
);

/**
 * A session kind that keeps logged-in Chromium contexts: `createSessionPool({ kind:
 * browserSessionKind({ login, probeUrl }) })`. Operations receive a `BrowserSession`
 * (`page`, `context`, `goto`), one operation per session at a time.
 */
export function browserSessionKind(options: BrowserSessionKindOptions): BrowserSessionKind {
  if (typeof options.login !== 'function')
    throw new ValidationError('login', 'must be a function (page, { key }) => Promise<void>');
  for (const field of ['probeUrl', 'refreshUrl'] as const) {
    const url = options[field];
    if (url === undefined && field === 'refreshUrl') continue;
    if (typeof url !== 'string' || !URL.canParse(url))
      throw new ValidationError(field, `must be an absolute URL, got ${String(url)}`);
  }
  const probeUrl = options.probeUrl;
  const refreshUrl = options.refreshUrl ?? probeUrl;
  const timeoutMs =
    checkSeconds(options.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS, 'timeoutSeconds') * 1000;
  const maxAgeMs =
    checkSeconds(options.browserMaxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS, 'browserMaxAgeSeconds') *
    1000;
  const maxContexts = checkPositiveInteger(
    options.browserMaxContexts ?? DEFAULT_MAX_CONTEXTS,
    'browserMaxContexts',
  );
  const appBrowser = typeof options.browser === 'object' ? options.browser : undefined;
  /** Where the logins posted their forms: a redirect there later means a logged-out session. */
  const loginUrls: string[] = [];

  const fleet = new BrowserFleet({
    // The app's own Browser cannot be replaced, so rolling replacement is off for it.
    maxAgeMs: appBrowser ? Number.POSITIVE_INFINITY : maxAgeMs,
    maxContexts: appBrowser ? Number.POSITIVE_INFINITY : maxContexts,
    closedError: (key) => new PoolClosedError(key),
    clock: options.clock ?? systemClock,
    async start() {
      if (appBrowser) return { browser: appBrowser, owned: false };
      if (typeof options.browser === 'function')
        return { browser: await options.browser(), owned: true };
      const { chromium } = playwright;
      const browser = await chromium.launch({
        executablePath: options.executablePath ?? DEFAULT_CHROMIUM_PATH,
        headless: true,
        args: [...DEFAULT_CHROMIUM_ARGS],
        ...options.launchOptions,
      });
      return { browser, owned: true };
    },
  });

  function own(session: BrowserSession): PooledBrowserSession {
    if (session instanceof PooledBrowserSession) return session;
    throw new ValidationError('session', 'was not made by the browser session kind');
  }

  return {
    name: 'browser',
    concurrency: 1,

    async create(ctx: SessionContext, state?: BrowserSessionState): Promise<BrowserSession> {
      const { context, page } = await fleet.openPage(
        ctx.key,
        state ? { ...options.contextOptions, storageState: state } : { ...options.contextOptions },
      );
      try {
        // The pool gave up on this session while the context was opening (login timeout, close).
        if (ctx.signal.aborted) throw ctx.signal.reason;
        page.setDefaultTimeout(timeoutMs);
        const session = new PooledBrowserSession({
          key: ctx.key,
          context,
          page,
          ctx,
          textTimeoutMs: Math.min(TEXT_TIMEOUT_MS, timeoutMs),
          isDisconnected: () => fleet.isDisconnected(context),
          loginUrls,
        });
        // Resumed from saved state: no login; the pool probes it before its first use.
        if (!state) await options.login(page, { key: ctx.key });
        session.watch();
        return session;
      } catch (error) {
        await fleet.closeContext(context);
        throw error;
      }
    },

    async probe(session: BrowserSession, ctx: SessionContext): Promise<ExpiryVerdict | undefined> {
      return own(session).check(probeUrl, ctx);
    },

    async refresh(
      session: BrowserSession,
      ctx: SessionContext,
    ): Promise<ExpiryVerdict | undefined> {
      return own(session).check(refreshUrl, ctx);
    },

    exportState(session: BrowserSession): Promise<BrowserSessionState> {
      return session.context.storageState();
    },

    destroy(session: BrowserSession): Promise<void> {
      return fleet.closeContext(session.context);
    },

    close(): Promise<void> {
      return fleet.close();
    },

    stats(): FleetStats {
      return fleet.stats();
    },
  };
}
