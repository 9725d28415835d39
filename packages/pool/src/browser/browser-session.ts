// One pooled browser session: a BrowserContext with one Page, and the watch over that page's
// navigations that feeds every document it lands on to the pool's detectors.
import type { BrowserContext, Frame, Page, Request, Response } from 'playwright-core';
import { UpstreamSessionExpiredError } from 'sessionkeeper/internal/errors';
import type { ExpiryVerdict, ObservedResponse, SessionContext } from '../kind.js';
import {
  isBrowserConnectionFailure,
  UNREACHABLE_RETRY_AFTER_SECONDS,
  UpstreamUnreachableError,
} from '../unreachable.js';

/** Options of `BrowserSession.goto`, as `page.goto` takes them. */
export type BrowserGotoOptions = NonNullable<Parameters<Page['goto']>[1]>;

/** What an operation run by `pool.use()` receives from the browser kind. */
export interface BrowserSession {
  /** The pool key (account) the session is logged in as. */
  readonly key: string;
  /** The session's own context: its cookies and storage are this session's login. */
  readonly context: BrowserContext;
  /** The one page of the context. Navigations on it (links, forms) are checked for expiry. */
  readonly page: Page;
  /**
   * Navigates the page and runs the pool's detectors on the document it lands on; rejects with
   * the pool's expiry error when one fires (the pool then reruns the operation on a fresh
   * session). Resolves with the main resource's response, or `null` as `page.goto` does.
   */
  goto(url: string, options?: BrowserGotoOptions): Promise<Response | null>;
}

export interface BrowserSessionInit {
  key: string;
  context: BrowserContext;
  page: Page;
  ctx: SessionContext;
  /** How long `text()` of an observed page may wait for the document to be readable. */
  textTimeoutMs: number;
  /** Whether the browser behind the context went away. */
  isDisconnected(): boolean;
  /** Where the kind's logins posted their forms (shared by the kind's sessions; appended to). */
  loginUrls: string[];
}

/** The verdict behind the pool's expiry rejection; anything else is not an expiry. */
export function verdictOf(error: unknown): ExpiryVerdict | undefined {
  if (!(error instanceof UpstreamSessionExpiredError)) return undefined;
  return { reason: error.reason, detail: error.detail };
}

export class PooledBrowserSession implements BrowserSession {
  readonly key: string;
  readonly context: BrowserContext;
  readonly page: Page;
  readonly #init: BrowserSessionInit;
  /** Whose `observe` the page's navigations go to: the session's own, or a probe's for its run. */
  #ctx: SessionContext;
  /** Off while the app's `login(page)` runs: a login form is not an expired session. */
  #watching = false;
  /** The main-frame document response of the navigation that has not committed yet. */
  #pendingDocument: Response | undefined;
  /** Bumped at each main-frame commit, so a late text read knows its document is gone. */
  #documentSeq = 0;
  /** One detection per document, whether `goto` or the navigation listener gets to it first. */
  readonly #observations = new WeakMap<Response, Promise<void>>();
  /** The first expiry rejection, re-thrown by a `goto` that the closed page cut short. */
  #expiry: unknown;
  #crashed = false;

  constructor(init: BrowserSessionInit) {
    this.#init = init;
    this.key = init.key;
    this.context = init.context;
    this.page = init.page;
    this.#ctx = init.ctx;
    const { page } = init;
    page.on('request', (request) => this.#onRequest(request));
    page.on('response', (response) => this.#onResponse(response));
    page.on('framenavigated', (frame) => this.#onFrameNavigated(frame));
    page.on('crash', () => {
      this.#crashed = true;
      init.ctx.expire?.({ reason: 'page-crashed', detail: 'the page crashed' });
    });
    // Also when the browser process goes away: the pool replaces the session (and reruns the
    // operation on it) instead of waiting for the next probe. After a retirement it is a no-op.
    page.on('close', () => {
      init.ctx.expire?.(
        this.deadVerdict() ?? { reason: 'page-closed', detail: 'the page was closed' },
      );
    });
    // A retired or closed session's page stops at once, even in the middle of an operation.
    const closePage = () => void page.close().catch(() => {});
    if (init.ctx.signal.aborted) closePage();
    else init.ctx.signal.addEventListener('abort', closePage, { once: true });
  }

  /** Starts feeding navigations to the detectors (after login). */
  watch(): void {
    this.#watching = true;
  }

  async goto(url: string, options?: BrowserGotoOptions): Promise<Response | null> {
    let response: Response | null;
    try {
      response = await this.page.goto(url, options);
    } catch (error) {
      // Detection may have fired and the session been closed before the navigation finished.
      if (this.#expiry !== undefined) throw this.#expiry;
      if (isBrowserConnectionFailure(error))
        throw new UpstreamUnreachableError(this.key, UNREACHABLE_RETRY_AFTER_SECONDS, error);
      throw error;
    }
    if (response === null) return null;
    await this.#observe(response);
    return response;
  }

  /**
   * Visits `url` with `ctx` as the observer and returns the detectors' verdict, or a verdict of
   * our own when the page or its browser is gone. Infrastructure failures (upstream down) throw.
   */
  async check(url: string, ctx: SessionContext): Promise<ExpiryVerdict | undefined> {
    const dead = this.deadVerdict();
    if (dead) return dead;
    const previous = this.#ctx;
    this.#ctx = ctx;
    try {
      await this.goto(url);
      return undefined;
    } catch (error) {
      const verdict = verdictOf(error) ?? this.deadVerdict();
      if (verdict) return verdict;
      throw error;
    } finally {
      this.#ctx = previous;
    }
  }

  /** Why this session can never work again, if it cannot. */
  deadVerdict(): ExpiryVerdict | undefined {
    if (this.#init.isDisconnected())
      return { reason: 'browser-disconnected', detail: 'the browser process went away' };
    if (this.#crashed) return { reason: 'page-crashed', detail: 'the page crashed' };
    if (this.page.isClosed()) return { reason: 'page-closed', detail: 'the page was closed' };
    return undefined;
  }

  /** While the app's login runs: remembers where its forms post (the site's login URL). */
  #onRequest(request: Request): void {
    if (this.#watching || request.method() !== 'POST' || !request.isNavigationRequest()) return;
    try {
      if (request.frame() !== this.page.mainFrame()) return;
      const url = new URL(request.url());
      const where = `${url.origin}${url.pathname}`;
      const known = this.#init.loginUrls;
      if (!known.includes(where) && known.length < MAX_LOGIN_URLS) known.push(where);
    } catch {
      // a request without a frame (service worker) or an odd URL: not a login form's
    }
  }

  #onResponse(response: Response): void {
    if (!this.#watching) return;
    const request = response.request();
    if (!request.isNavigationRequest() || request.resourceType() !== 'document') return;
    let frame: Frame;
    try {
      frame = request.frame();
    } catch {
      return; // a service worker's request has no frame
    }
    // Redirects overwrite it: the last one before the commit is the document that commits.
    if (frame === this.page.mainFrame()) this.#pendingDocument = response;
  }

  #onFrameNavigated(frame: Frame): void {
    if (frame !== this.page.mainFrame()) return;
    this.#documentSeq += 1;
    const response = this.#pendingDocument;
    this.#pendingDocument = undefined;
    // No response of this document: a same-document navigation (history API, #hash), or the
    // response of a navigation that never committed (a 204, a download); nothing new to check.
    if (!this.#watching || response === undefined) return;
    if (withoutHash(response.url()) !== withoutHash(frame.url())) return;
    // Started at the commit, before the operation can read the new page. Its rejection is the
    // pool's business: the session is already marked expired, and the operation will be rerun.
    this.#observe(response).catch(() => {});
  }

  #observe(response: Response): Promise<void> {
    const known = this.#observations.get(response);
    if (known) return known;
    let observing: Promise<void>;
    try {
      observing = this.#ctx.observe(this.#describe(response));
    } catch (error) {
      observing = Promise.reject(error); // never let a throw escape into Playwright's emitter
    }
    this.#observations.set(response, observing);
    observing.catch((error: unknown) => {
      if (verdictOf(error) === undefined) return;
      this.#expiry ??= error;
      // Nothing more the operation does on a logged-out page is worth waiting for. The pool
      // stops waiting for it at once; closing the context ends its pending waits too. (Closing
      // just the page can stay pending while a form post's answer is being committed.)
      void this.context.close().catch(() => {});
    });
    return observing;
  }

  #describe(response: Response): ObservedResponse {
    const seq = this.#documentSeq;
    let text: Promise<string> | undefined;
    let html: Promise<string> | undefined;
    return {
      status: response.status(),
      url: response.url(),
      headers: headersOf(response),
      text: () => {
        text ??= this.#readText(seq);
        return text;
      },
      html: () => {
        html ??= this.#readHtml(seq);
        return html;
      },
      loginUrls: this.#init.loginUrls,
    };
  }

  /** The markup of the document `seq`, or '' once that document is gone or unreadable. */
  async #readHtml(seq: number): Promise<string> {
    if (seq !== this.#documentSeq || this.page.isClosed()) return '';
    try {
      await this.page
        .mainFrame()
        .waitForLoadState('domcontentloaded', { timeout: this.#init.textTimeoutMs });
      const html = await this.page.content();
      return seq === this.#documentSeq ? html : '';
    } catch {
      return '';
    }
  }

  /** The visible text of the document `seq`, or '' once that document is gone or unreadable. */
  async #readText(seq: number): Promise<string> {
    if (seq !== this.#documentSeq || this.page.isClosed()) return '';
    const timeout = this.#init.textTimeoutMs;
    try {
      // The listener fires at the commit; the marker may be further down than what is parsed.
      await this.page.mainFrame().waitForLoadState('domcontentloaded', { timeout });
      // biome-ignore lint/performance/useDomNodeTextContent: detectors look for what a person would see, not hidden text or scripts
      const text = await this.page.innerText('body', { timeout });
      // Read after the page moved on: that text belongs to a later document, checked on its own.
      return seq === this.#documentSeq ? text : '';
    } catch {
      return ''; // navigated away (context destroyed) or closed while reading
    }
  }
}

/** How many places a login may post forms to before more are ignored. */
const MAX_LOGIN_URLS = 8;

/** The response's headers as `Headers`, with repeated ones (joined by newlines) split again. */
function headersOf(response: Response): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(response.headers())) {
    for (const part of value.split('\n')) {
      try {
        headers.append(name, part);
      } catch {
        // A value Node's Headers refuses (odd bytes); detectors do without it.
      }
    }
  }
  return headers;
}

function withoutHash(url: string): string {
  const hash = url.indexOf('#');
  return hash === -1 ? url : url.slice(0, hash);
}
