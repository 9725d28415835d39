export interface KeepAliveOptions {
  /** Renew the server session at most this often while the user is active. Default 60 s. */
  intervalSeconds?: number;
  /** The user counts as idle after this long without requests or input. Default 300 s. */
  idleAfterSeconds?: number;
}

/** Decides when to renew: only after activity since the last renewal, never while idle. */
export class KeepAlive {
  readonly intervalMs: number;
  readonly idleAfterMs: number;
  lastActivity = Number.NEGATIVE_INFINITY;
  lastRenewal = Number.NEGATIVE_INFINITY;

  constructor(options: KeepAliveOptions = {}) {
    this.intervalMs = (options.intervalSeconds ?? 60) * 1000;
    this.idleAfterMs = (options.idleAfterSeconds ?? 300) * 1000;
  }

  /** Activity (a request, or in the browser input and a tab becoming visible). */
  note(nowMs: number): void {
    this.lastActivity = nowMs;
  }

  /** The server saw activity (renew, refresh, validate) at `nowMs`. */
  renewed(nowMs: number): void {
    this.lastRenewal = nowMs;
  }

  /** The user did something within the idle threshold. */
  active(nowMs: number): boolean {
    return nowMs - this.lastActivity < this.idleAfterMs;
  }

  /** Activity the server has not seen yet (at or after the last renewal), by an active user. */
  pending(nowMs: number): boolean {
    return this.lastActivity >= this.lastRenewal && this.active(nowMs);
  }

  due(nowMs: number): boolean {
    return this.pending(nowMs) && nowMs - this.lastRenewal >= this.intervalMs;
  }

  /** When `due` may next become true; never, until new activity, when nothing is pending. */
  nextCheck(nowMs: number): number {
    return this.pending(nowMs) ? this.lastRenewal + this.intervalMs : Number.POSITIVE_INFINITY;
  }
}

export interface BrowserHooks {
  /** Input, or the tab becoming visible. */
  activity(): void;
  /** Focus, visibility, or the network coming back: compare deadlines and validate. */
  wake(): void;
}

const INPUT_EVENTS = [
  'pointerdown',
  'pointermove',
  'keydown',
  'wheel',
  'touchstart',
  'scroll',
] as const;

interface EventTargetLike {
  addEventListener(
    type: string,
    listener: () => void,
    options?: { passive?: boolean; capture?: boolean },
  ): void;
  removeEventListener(type: string, listener: () => void, capture?: boolean): void;
}

/** Listens to the browser's input, focus, visibility and network events; no-op elsewhere. */
export function watchBrowser(hooks: BrowserHooks): () => void {
  const g = globalThis as {
    document?: EventTargetLike & { visibilityState?: string };
    addEventListener?: EventTargetLike['addEventListener'];
    removeEventListener?: EventTargetLike['removeEventListener'];
  };
  const doc = g.document;
  if (!doc || !g.addEventListener || !g.removeEventListener) return () => undefined;
  const win = g as EventTargetLike;
  let lastInput = 0;
  const onInput = () => {
    const now = Date.now();
    if (now - lastInput < 1000) return; // input events come in bursts
    lastInput = now;
    hooks.activity();
  };
  const onVisibility = () => {
    if (doc.visibilityState !== 'visible') return;
    hooks.activity();
    hooks.wake();
  };
  const onWake = () => hooks.wake();
  const passive = { passive: true, capture: true };
  for (const type of INPUT_EVENTS) win.addEventListener(type, onInput, passive);
  doc.addEventListener('visibilitychange', onVisibility);
  win.addEventListener('focus', onWake);
  win.addEventListener('online', onWake);
  return () => {
    for (const type of INPUT_EVENTS) win.removeEventListener(type, onInput, true);
    doc.removeEventListener('visibilitychange', onVisibility);
    win.removeEventListener('focus', onWake);
    win.removeEventListener('online', onWake);
  };
}
