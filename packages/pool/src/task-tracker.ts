import type { Logger } from 'pino';

/** The pool's work in the background (logins, probes, saves, destroys), so closing can wait for it. */
export class TaskTracker {
  readonly #tasks = new Set<Promise<void>>();
  readonly #logger: Logger;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Follows `work` until it settles; a rejection is logged, never left unhandled. */
  track(work: Promise<unknown>): void {
    const tracked = work.then(
      () => {},
      (err: unknown) => this.#logger.error({ err }, 'pool background work failed'),
    );
    this.#tasks.add(tracked);
    void tracked.then(() => this.#tasks.delete(tracked));
  }

  /** Resolves once no tracked work is left, including work started while it waits. */
  async settle(): Promise<void> {
    while (this.#tasks.size > 0) await Promise.all([...this.#tasks]);
  }
}
