// The browser processes behind one browser kind: one current browser that new contexts open in,
// replaced on a rolling basis once it is too old or has opened too many contexts (long-running
// Chromium degrades: memory creeps, renderers hang). A replaced browser lives on until its last
// context closes, so no session is cut off by a replacement.
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import type { Clock } from 'sessionkeeper/internal/clock';
import { ValidationError } from 'sessionkeeper/internal/errors';

/** One browser process (or connection) and the contexts it holds. */
export interface BrowserSlot {
  readonly browser: Browser;
  /** Whether the fleet launched this browser and so closes it; an app-supplied one is left open. */
  readonly owned: boolean;
  readonly startedAtMs: number;
  /** Contexts ever opened in this browser (the count `maxContexts` limits). */
  contextsOpened: number;
  /** Contexts open now. */
  readonly live: Set<BrowserContext>;
  /** Contexts handed this slot and still being opened: a retired browser waits for them too. */
  opening: number;
  /** No new contexts open here; the browser closes when `live` empties. */
  retired: boolean;
  /** The browser went away (crash, killed, connection lost). */
  disconnected: boolean;
  /** Set once the fleet starts closing this browser; settles when it is closed. */
  closing: Promise<void> | undefined;
}

export interface BrowserFleetOptions {
  /** Starts a browser the fleet owns, or returns the app's own (`owned: false`). */
  start(): Promise<{ browser: Browser; owned: boolean }>;
  maxAgeMs: number;
  maxContexts: number;
  clock: Clock;
  /** The error for a context asked of a closed fleet. */
  closedError(key: string): Error;
}

export interface FleetStats {
  /** Browsers started (or connected) since the kind was made. */
  browsersStarted: number;
  /** Browsers open now, the current one and retired ones still holding contexts. */
  browsersOpen: number;
  /** Contexts (sessions) open now across all browsers. */
  contextsOpen: number;
}

export class BrowserFleet {
  readonly #options: BrowserFleetOptions;
  #current: BrowserSlot | undefined;
  #starting: Promise<BrowserSlot> | undefined;
  readonly #slots = new Set<BrowserSlot>();
  readonly #slotOf = new WeakMap<BrowserContext, BrowserSlot>();
  readonly #closing = new Set<Promise<void>>();
  #started = 0;
  #closed = false;

  constructor(options: BrowserFleetOptions) {
    this.#options = options;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Opens a context and its page in the current browser, starting or replacing that browser first
   * if due.
   */
  async openPage(
    key: string,
    contextOptions: BrowserContextOptions,
  ): Promise<{ context: BrowserContext; page: Page }> {
    let slot = await this.#slotForNewContext(key);
    let context: BrowserContext;
    let page: Page;
    for (let attempt = 1; ; attempt++) {
      let opened: BrowserContext | undefined;
      try {
        opened = await slot.browser.newContext(contextOptions);
        page = await opened.newPage();
        context = opened;
        break;
      } catch (error) {
        await opened?.close().catch(() => {});
        slot.opening -= 1;
        if (!slot.owned || attempt >= 2 || this.#closed) {
          this.#maybeCloseRetired(slot);
          throw error;
        }
        // A browser of ours that cannot open a page is closing or gone (its 'disconnected' may
        // not have arrived yet): it gets no new sessions, and one fresh browser is tried.
        this.#retire(slot);
        slot = await this.#slotForNewContext(key);
      }
    }
    slot.opening -= 1;
    slot.live.add(context);
    this.#slotOf.set(context, slot);
    // Covers every way a context ends: our close, the app's close, and the browser going away.
    context.once('close', () => {
      slot.live.delete(context);
      this.#maybeCloseRetired(slot);
    });
    if (this.#closed) {
      // close() ran while this context was being opened: do not leak it.
      await context.close().catch(() => {});
      throw this.#options.closedError(key);
    }
    return { context, page };
  }

  /**
   * Closes a context (never throws for a dead one) and, when it was the last one of a retired
   * browser, waits for that browser to close too.
   */
  async closeContext(context: BrowserContext): Promise<void> {
    await context.close().catch(() => {});
    const slot = this.#slotOf.get(context);
    if (slot) {
      slot.live.delete(context);
      this.#maybeCloseRetired(slot);
      await slot.closing;
    }
  }

  /** Whether the browser behind `context` is gone (its sessions can never work again). */
  isDisconnected(context: BrowserContext): boolean {
    const slot = this.#slotOf.get(context);
    return slot === undefined || slot.disconnected;
  }

  stats(): FleetStats {
    let contextsOpen = 0;
    for (const slot of this.#slots) contextsOpen += slot.live.size;
    return { browsersStarted: this.#started, browsersOpen: this.#slots.size, contextsOpen };
  }

  /** Closes every browser the fleet started (contexts in an app-supplied browser are closed). */
  async close(): Promise<void> {
    this.#closed = true;
    // A browser still starting is closed once it is up.
    const starting = this.#starting;
    if (starting) await starting.catch(() => undefined);
    for (const slot of this.#slots) {
      slot.retired = true;
      this.#closeSlot(slot);
    }
    this.#current = undefined;
    while (this.#closing.size > 0) await Promise.all(this.#closing);
  }

  async #slotForNewContext(key: string): Promise<BrowserSlot> {
    for (;;) {
      if (this.#closed) throw this.#options.closedError(key);
      const slot = this.#current;
      if (slot && this.#usable(slot)) {
        // Counted before the first await so that concurrent callers see the limit at once, and
        // a retirement meanwhile does not close the browser under the context being opened.
        slot.contextsOpened += 1;
        slot.opening += 1;
        return slot;
      }
      if (slot) this.#retire(slot);
      this.#starting ??= this.#start().finally(() => {
        this.#starting = undefined;
      });
      await this.#starting;
    }
  }

  #usable(slot: BrowserSlot): boolean {
    if (slot.retired || slot.disconnected || !slot.browser.isConnected()) return false;
    if (slot.contextsOpened >= this.#options.maxContexts) return false;
    return this.#options.clock.now() - slot.startedAtMs < this.#options.maxAgeMs;
  }

  async #start(): Promise<BrowserSlot> {
    const { browser, owned } = await this.#options.start();
    // Without this an app-supplied browser that died would be handed back here forever.
    if (!browser.isConnected())
      throw new ValidationError('browser', 'is disconnected; give the kind a live browser');
    const slot: BrowserSlot = {
      browser,
      owned,
      startedAtMs: this.#options.clock.now(),
      contextsOpened: 0,
      live: new Set(),
      opening: 0,
      retired: false,
      disconnected: false,
      closing: undefined,
    };
    this.#started += 1;
    this.#slots.add(slot);
    browser.once('disconnected', () => {
      slot.disconnected = true;
      slot.retired = true;
      this.#slots.delete(slot);
      if (this.#current === slot) this.#current = undefined;
      slot.live.clear();
    });
    if (this.#closed) {
      slot.retired = true;
      this.#closeSlot(slot);
      return slot;
    }
    this.#current = slot;
    return slot;
  }

  #retire(slot: BrowserSlot): void {
    slot.retired = true;
    if (this.#current === slot) this.#current = undefined;
    this.#maybeCloseRetired(slot);
  }

  #maybeCloseRetired(slot: BrowserSlot): void {
    if (slot.retired && slot.live.size === 0 && slot.opening === 0 && this.#current !== slot)
      this.#closeSlot(slot);
  }

  #closeSlot(slot: BrowserSlot): void {
    if (slot.closing) return;
    const closing = (async () => {
      if (slot.owned) {
        await slot.browser.close().catch(() => {});
      } else {
        // The app owns the browser: close only what we opened in it.
        await Promise.all([...slot.live].map((context) => context.close().catch(() => {})));
      }
      this.#slots.delete(slot);
    })();
    slot.closing = closing;
    this.#closing.add(closing);
    void closing.finally(() => this.#closing.delete(closing));
  }
}
